internal import COpenSSL

/// An OpenSSL memory BIO, owned. OpenSSL's PEM and DER writers and readers
/// work on BIOs; this is the bridge to Swift bytes.
final class MemoryBIO {
    private let pointer: OpaquePointer

    /// The BIO, for the duration of `body`: the rest of MailSec borrows it
    /// for an OpenSSL call and never keeps it, so it cannot outlive this owner.
    func withUnsafePointer<Result>(_ body: (OpaquePointer) throws -> Result) rethrows -> Result {
        try body(pointer)
    }

    /// An empty BIO to write into. `secure` uses OpenSSL's secure-memory BIO,
    /// whose buffer is cleansed when freed: for private key material.
    init(secure: Bool = false) throws {
        guard let bio = BIO_new(secure ? BIO_s_secmem() : BIO_s_mem()) else {
            throw MailSecError.openSSL("cannot allocate a memory BIO")
        }
        pointer = bio
    }

    /// A read-only BIO over `bytes`, which must outlive it (no copy is made,
    /// so secrets are not duplicated).
    init(readingFrom bytes: UnsafeRawBufferPointer) throws {
        guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else {
            throw MailSecError.openSSL("cannot allocate a memory BIO")
        }
        pointer = bio
    }

    deinit {
        BIO_free(pointer)
    }

    /// A copy of what was written, for public data.
    func bytes() -> [UInt8] {
        var data: UnsafeMutablePointer<CChar>?
        let length = mailsec_BIO_get_mem_data(pointer, &data)
        guard let data, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: length))
    }

    /// A copy of what was written into zeroing storage, for secrets.
    func secureBytes() -> SecureBytes {
        var data: UnsafeMutablePointer<CChar>?
        let length = mailsec_BIO_get_mem_data(pointer, &data)
        guard let data, length > 0 else { return SecureBytes() }
        return SecureBytes(copying: UnsafeRawBufferPointer(start: data, count: length))
    }
}
