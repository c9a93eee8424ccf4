internal import COpenSSL
import Glibc
import Synchronization

/// Where trust anchors come from.
public enum TrustAnchors: Sendable, Hashable {
    /// The system store OpenSSL was built with (Debian: /etc/ssl/certs/ca-certificates.crt).
    case system
    /// A PEM file of trusted certificates.
    case file(String)
    /// A hashed directory (`c_rehash` / `openssl rehash`).
    case directory(String)
}

/// An OpenSSL X509_STORE of trust anchors, owned.
public final class TrustStore: @unchecked Sendable {
    private let pointer: OpaquePointer

    /// The X509_STORE, for the duration of `body`: the rest of MailSec borrows it
    /// for an OpenSSL call and never keeps it, so it cannot outlive this owner.
    func withUnsafePointer<Result>(_ body: (OpaquePointer) throws -> Result) rethrows -> Result {
        try body(pointer)
    }
    /// Where the anchors came from.
    public let anchors: TrustAnchors

    /// Loads the anchors: the system store, a PEM file (read by MailSec, so a FIFO cannot block it), or a hashed directory.
    public init(_ anchors: TrustAnchors) throws {
        OpenSSLErrorQueue.clear()
        guard let store = X509_STORE_new() else { throw MailSecError.openSSL("cannot allocate a certificate store") }
        pointer = store
        self.anchors = anchors
        switch anchors {
        case .system:
            guard X509_STORE_set_default_paths(store) == 1 else { throw MailSecError.openSSL("cannot load the system trust store") }
        case .file(let path):
            // Read here, not by OpenSSL: our reader refuses a FIFO or device that would block forever.
            if FileStatus(path: path)?.isDirectory == true {
                throw MailSecError(.invalidInput, "\(path) is a directory", remedy: "use \(Vocabulary.name(.trustedCADirectory)) for a directory of hashed certificates")
            }
            let bytes = try SecureFileSystem.read(path, limit: 16 << 20, kind: "a CA file (\(Vocabulary.name(.trustedCAFile)))").withUnsafeBytes { Array($0) }
            let certificates = try Certificate.all(in: bytes, source: path)
            guard !certificates.isEmpty else { throw MailSecError(.invalidInput, "\(path) holds no CA certificates (\(Vocabulary.name(.trustedCAFile)))") }
            for certificate in certificates { try add(certificate, from: path) }
        case .directory(let path):
            guard FileStatus(path: path)?.isDirectory == true else {
                throw MailSecError(.fileNotFound, "\(path): no such directory (\(Vocabulary.name(.trustedCADirectory)))")
            }
            // Every certificate file in the directory, read by us for the same reason;
            // OpenSSL's lazy hashed lookup would open whatever a hash name points at.
            var added = 0
            for name in try SecureFileSystem.entries(of: path) where !name.hasPrefix(".") {
                let file = path + "/" + name
                guard FileStatus(path: file)?.isDirectory != true else { continue }
                let bytes = try SecureFileSystem.read(file, limit: 16 << 20, kind: "a CA certificate (\(Vocabulary.name(.trustedCADirectory)))").withUnsafeBytes { Array($0) }
                guard let certificates = try? Certificate.all(in: bytes, source: file) else { continue }
                for certificate in certificates {
                    try add(certificate, from: file)
                    added += 1
                }
            }
            guard added > 0 else { throw MailSecError(.invalidInput, "\(path) holds no CA certificates (\(Vocabulary.name(.trustedCADirectory)))") }
        }
        OpenSSLErrorQueue.clear()
    }

    deinit {
        X509_STORE_free(pointer)
    }

    /// The store for `anchors`, loaded once and shared while its file is
    /// unchanged. An exporter probing every minute, or a probe of 200 targets,
    /// would otherwise parse the same CA file (the system store: some 150
    /// certificates) for every connection. A store is never changed after it
    /// is loaded, and OpenSSL locks its lookups, so threads share it safely.
    /// A CA file that is replaced or edited has another identity and is read anew.
    public static func shared(_ anchors: TrustAnchors) throws -> TrustStore {
        let key = CacheKey(anchors: anchors, identity: identity(of: anchors))
        if let cached = cache.withLock({ $0[key] }) { return cached }
        let store = try TrustStore(anchors)
        cache.withLock { entries in
            if entries.count >= 32 { entries.removeAll() }
            entries[key] = store
        }
        return store
    }

    private struct CacheKey: Hashable {
        let anchors: TrustAnchors
        let identity: [Int]
    }

    private static let cache = Mutex<[CacheKey: TrustStore]>([:])

    /// Device, inode, size and change times of what the anchors are read from.
    private static func identity(of anchors: TrustAnchors) -> [Int] {
        let paths: [String]
        switch anchors {
        case .system:
            paths = [String(cString: X509_get_default_cert_file()), String(cString: X509_get_default_cert_dir())]
        case .file(let path), .directory(let path):
            paths = [path]
        }
        return paths.flatMap { path -> [Int] in
            var info = stat()
            guard stat(path, &info) == 0 else { return [-1] }
            return [Int(info.st_dev), Int(info.st_ino), Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec,
                    info.st_ctim.tv_sec, info.st_ctim.tv_nsec]
        }
    }

    private func add(_ certificate: Certificate, from path: String) throws {
        // The same certificate twice (a hash link and its file) is fine.
        guard certificate.withUnsafePointer({ X509_STORE_add_cert(pointer, $0) }) == 1 || OpenSSLErrorQueue.drainEntries().allSatisfy({ $0.reasonCode == X509_R_CERT_ALREADY_IN_HASH_TABLE }) else {
            throw MailSecError.openSSL("\(path): cannot use the certificate as a trust anchor")
        }
    }

    /// How to name these anchors in messages.
    public var description: String {
        switch anchors {
        case .system: "the system trust store"
        case .file(let path): path
        case .directory(let path): path
        }
    }
}
