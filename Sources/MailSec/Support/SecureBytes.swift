internal import COpenSSL

/// Storage for secrets (passwords, passphrases, private key PEM) that is
/// wiped when released, including every buffer it outgrows.
///
/// Swift arrays and strings copy freely and are never zeroed; this class keeps
/// the bytes in one manually managed buffer and cleanses it in `deinit`.
public final class SecureBytes: @unchecked Sendable {
    private var storage: UnsafeMutableRawBufferPointer
    public private(set) var count: Int

    public init(capacity: Int = 64) {
        storage = .allocate(byteCount: max(capacity, 16), alignment: 1)
        count = 0
    }

    public convenience init<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        self.init(capacity: bytes.count + 1)
        append(contentsOf: bytes)
    }

    /// Copies a pointer range, e.g. what OpenSSL wrote into a memory BIO.
    public convenience init(copying buffer: UnsafeRawBufferPointer) {
        self.init(capacity: buffer.count + 1)
        append(contentsOf: buffer)
    }

    deinit {
        wipe(storage)
        storage.deallocate()
    }

    public var isEmpty: Bool { count == 0 }

    public func append(_ byte: UInt8) {
        reserve(count + 1)
        storage[count] = byte
        count += 1
    }

    public func append<Bytes: Collection>(contentsOf bytes: Bytes) where Bytes.Element == UInt8 {
        reserve(count + bytes.count)
        for byte in bytes {
            storage[count] = byte
            count += 1
        }
    }

    /// Drops trailing bytes, wiping them.
    public func removeLast(_ n: Int = 1) {
        precondition(n <= count)
        let start = count - n
        for index in start..<count { storage[index] = 0 }
        count = start
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// The bytes followed by a NUL, for C APIs that want a C string. The
    /// terminator lives in spare capacity, so no unwiped copy is made.
    public func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        reserve(count + 1)
        storage[count] = 0
        return try body(storage.baseAddress!.assumingMemoryBound(to: CChar.self))
    }

    /// True when the bytes contain `byte` (e.g. a NUL that C would cut at).
    public func contains(_ byte: UInt8) -> Bool {
        withUnsafeBytes { $0.contains(byte) }
    }

    /// Constant-time comparison.
    public func isEqual(to other: SecureBytes) -> Bool {
        guard count == other.count else { return false }
        return withUnsafeBytes { mine in
            other.withUnsafeBytes { theirs in
                CRYPTO_memcmp(mine.baseAddress, theirs.baseAddress, count) == 0
            }
        }
    }

    private func reserve(_ needed: Int) {
        guard needed > storage.count else { return }
        let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(needed, storage.count * 2), alignment: 1)
        larger.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<count]))
        wipe(storage)
        storage.deallocate()
        storage = larger
    }

    private func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        SecureMemory.wipe(buffer)
    }
}

/// Zeroing of buffers that held a secret, with OPENSSL_cleanse: a call the
/// optimiser may not drop as a dead store, and a memset's speed.
enum SecureMemory {
    static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        if let base = buffer.baseAddress, buffer.count > 0 { OPENSSL_cleanse(base, buffer.count) }
    }

    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }

    static func wipe(_ bytes: inout [UInt8], _ range: Range<Int>) {
        bytes.withUnsafeMutableBytes { wipe(UnsafeMutableRawBufferPointer(rebasing: $0[range])) }
    }
}
