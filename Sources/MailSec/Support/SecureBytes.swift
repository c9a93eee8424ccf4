internal import COpenSSL

/// Storage for secrets (passwords, passphrases, private key PEM) that is
/// wiped when released, including every buffer it outgrows.
///
/// A value type over a copy-on-write buffer, as swift-nio-ssl's secure bytes
/// are: copies share one buffer until one of them changes, and the last one
/// to let go wipes it. Swift arrays and strings copy freely and are never
/// zeroed, so secrets stay in here until the moment C or the wire needs them.
/// A NUL always follows the bytes, in the buffer's spare byte, so C gets a
/// string without an unwiped copy.
public struct SecureBytes: Sendable {
    private var storage: Storage
    /// The number of bytes held.
    public private(set) var count: Int

    /// Empty, with room for `capacity` bytes before the buffer grows.
    public init(capacity: Int = 64) {
        storage = Storage(capacity: capacity)
        count = 0
    }

    /// A copy of `bytes`.
    public init<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        self.init(capacity: bytes.count)
        append(contentsOf: bytes)
    }

    /// Copies a pointer range, e.g. what OpenSSL wrote into a memory BIO.
    public init(copying buffer: UnsafeRawBufferPointer) {
        self.init(buffer)
    }

    /// True when no bytes are held.
    public var isEmpty: Bool { count == 0 }

    /// Appends one byte.
    public mutating func append(_ byte: UInt8) {
        append(contentsOf: CollectionOfOne(byte))
    }

    /// Appends `bytes`.
    public mutating func append<Bytes: Collection>(contentsOf bytes: Bytes) where Bytes.Element == UInt8 {
        let needed = count + bytes.count
        if !isKnownUniquelyReferenced(&storage) || needed >= storage.capacity {
            storage = storage.copy(count: count, capacity: needed)
        }
        var index = count
        for byte in bytes {
            storage.memory[index] = byte
            index += 1
        }
        storage.memory[index] = 0
        count = needed
    }

    /// Drops trailing bytes, wiping them.
    public mutating func removeLast(_ n: Int = 1) {
        precondition(n <= count)
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy(count: count, capacity: count) }
        let start = count - n
        SecureMemory.wipe(UnsafeMutableRawBufferPointer(rebasing: storage.memory[start..<count]))
        count = start
    }

    /// The bytes, for the duration of `body`.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage.memory[0..<count]))
    }

    /// The bytes followed by a NUL, for C APIs that want a C string.
    public func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try body(storage.memory.baseAddress!.assumingMemoryBound(to: CChar.self))
    }

    /// True when the bytes contain `byte` (e.g. a NUL that C would cut at).
    public func contains(_ byte: UInt8) -> Bool {
        withUnsafeBytes { $0.contains(byte) }
    }

    /// Constant-time comparison.
    public func isEqual(to other: SecureBytes) -> Bool {
        guard count == other.count else { return false }
        if storage === other.storage { return true }
        return withUnsafeBytes { mine in
            other.withUnsafeBytes { theirs in
                CRYPTO_memcmp(mine.baseAddress, theirs.baseAddress, count) == 0
            }
        }
    }

    /// One buffer, wiped and freed with the last value that holds it.
    private final class Storage: Sendable {
        /// The one property the compiler cannot check: a pointer is never
        /// Sendable. It is safe to share because nothing writes through it
        /// while it is shared: a value writes only when it holds the storage
        /// alone (`isKnownUniquelyReferenced`), and copies first otherwise.
        nonisolated(unsafe) let memory: UnsafeMutableRawBufferPointer
        /// Room for the bytes and the NUL after them.
        var capacity: Int { memory.count }

        init(capacity: Int) {
            memory = .allocate(byteCount: max(capacity + 1, 16), alignment: 1)
            memory.initializeMemory(as: UInt8.self, repeating: 0)
        }

        /// A private copy of the first `count` bytes with room for `needed`, growing by doubling.
        func copy(count: Int, capacity needed: Int) -> Storage {
            let larger = Storage(capacity: needed >= capacity ? max(needed, capacity * 2) : capacity - 1)
            larger.memory.copyMemory(from: UnsafeRawBufferPointer(rebasing: memory[0..<count]))
            return larger
        }

        deinit {
            SecureMemory.wipe(memory)
            memory.deallocate()
        }
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
