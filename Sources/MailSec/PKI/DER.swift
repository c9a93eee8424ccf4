internal import COpenSSL

/// DER encoding through OpenSSL's `i2d_*` functions, in one place: each asks
/// OpenSSL to allocate the output, which is copied out and freed here.
enum DER {
    /// `encode` is an `i2d_*` call given the output pointer to fill; `what` names
    /// the object in the error when OpenSSL cannot encode it.
    static func encode(_ what: String, _ encode: (inout UnsafeMutablePointer<UInt8>?) -> Int32) throws -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        let length = encode(&output)
        guard length > 0, let output else { throw MailSecError.openSSL("cannot encode \(what)") }
        defer { mailsec_OPENSSL_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(length)))
    }
}
