internal import COpenSSL

/// Where trust anchors come from.
public enum TrustAnchors: Sendable, Equatable {
    /// The system store OpenSSL was built with (Debian: /etc/ssl/certs/ca-certificates.crt).
    case system
    /// A PEM file of trusted certificates.
    case file(String)
    /// A hashed directory (`c_rehash` / `openssl rehash`).
    case directory(String)
}

/// An OpenSSL X509_STORE of trust anchors, owned.
public final class TrustStore: @unchecked Sendable {
    let pointer: OpaquePointer
    public let anchors: TrustAnchors

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
                throw MailSecError(.invalidInput, "\(path) is a directory", remedy: "use --ca-path for a directory of hashed certificates")
            }
            let bytes = try SecureFileSystem.read(path, limit: 16 << 20, kind: "a CA file (--ca-file)").withUnsafeBytes { Array($0) }
            let certificates = try Certificate.all(in: bytes, source: path)
            guard !certificates.isEmpty else { throw MailSecError(.invalidInput, "\(path) holds no CA certificates (--ca-file)") }
            for certificate in certificates { try add(certificate, from: path) }
        case .directory(let path):
            guard FileStatus(path: path)?.isDirectory == true else {
                throw MailSecError(.fileNotFound, "\(path): no such directory (--ca-path)")
            }
            // Every certificate file in the directory, read by us for the same reason;
            // OpenSSL's lazy hashed lookup would open whatever a hash name points at.
            var added = 0
            for name in try SecureFileSystem.entries(of: path) where !name.hasPrefix(".") {
                let file = path + "/" + name
                guard FileStatus(path: file)?.isDirectory != true else { continue }
                let bytes = try SecureFileSystem.read(file, limit: 16 << 20, kind: "a CA certificate (--ca-path)").withUnsafeBytes { Array($0) }
                guard let certificates = try? Certificate.all(in: bytes, source: file) else { continue }
                for certificate in certificates {
                    try add(certificate, from: file)
                    added += 1
                }
            }
            guard added > 0 else { throw MailSecError(.invalidInput, "\(path) holds no CA certificates (--ca-path)") }
        }
        OpenSSLErrorQueue.clear()
    }

    deinit {
        X509_STORE_free(pointer)
    }

    private func add(_ certificate: Certificate, from path: String) throws {
        // The same certificate twice (a hash link and its file) is fine.
        guard X509_STORE_add_cert(pointer, certificate.pointer) == 1 || OpenSSLErrorQueue.drainEntries().allSatisfy({ $0.reasonCode == X509_R_CERT_ALREADY_IN_HASH_TABLE }) else {
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

/// The outcome of building and verifying a chain to a trust anchor.
public struct ChainVerdict: Sendable {
    /// OpenSSL's X509_V_* code; 0 when the chain verified.
    public var code: Int32
    /// OpenSSL's text for `code`.
    public var reason: String
    /// Depth in the chain where verification stopped (0 = leaf).
    public var depth: Int
    /// Subject of the certificate at `depth`.
    public var subject: String
    /// Issuer of the certificate at `depth`.
    public var issuer: String
    /// Subjects of the chain OpenSSL built, leaf first.
    public var chain: [String]

    public var verified: Bool { code == X509_V_OK }
    public var isSelfSignedLeaf: Bool { code == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT }
    public var isIssuerMissing: Bool {
        code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
    }
    public var isUntrustedRoot: Bool { code == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN }
}

extension Certificate {
    /// Builds a chain from this leaf through `intermediates` to an anchor in
    /// `store`. Times are not checked here: validity is its own finding, and an
    /// expired certificate should not hide a missing intermediate.
    public func verifyChain(intermediates: [Certificate], store: TrustStore) throws -> ChainVerdict {
        OpenSSLErrorQueue.clear()
        guard let untrusted = mailsec_sk_X509_new_null() else { throw MailSecError.openSSL("cannot allocate a certificate list") }
        defer { mailsec_sk_X509_free(untrusted) }
        for certificate in intermediates { _ = mailsec_sk_X509_push(untrusted, certificate.pointer) }
        guard let context = X509_STORE_CTX_new() else { throw MailSecError.openSSL("cannot allocate a verification context") }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store.pointer, pointer, untrusted) == 1 else {
            throw MailSecError.openSSL("cannot set up chain verification")
        }
        X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(context), UInt(X509_V_FLAG_NO_CHECK_TIME))
        let verified = X509_verify_cert(context) == 1
        let code = verified ? X509_V_OK : X509_STORE_CTX_get_error(context)
        let current = X509_STORE_CTX_get_current_cert(context)
        var chain: [String] = []
        if let built = X509_STORE_CTX_get0_chain(context) {
            for index in 0..<mailsec_sk_X509_num(built) {
                chain.append(DistinguishedName(openSSL: X509_get_subject_name(mailsec_sk_X509_value(built, index))).description)
            }
        }
        OpenSSLErrorQueue.clear()
        return ChainVerdict(
            code: code,
            reason: String(cString: X509_verify_cert_error_string(Int(code))),
            depth: Int(X509_STORE_CTX_get_error_depth(context)),
            subject: current.map { DistinguishedName(openSSL: X509_get_subject_name($0)).description } ?? subject.description,
            issuer: current.map { DistinguishedName(openSSL: X509_get_issuer_name($0)).description } ?? issuer.description,
            chain: chain
        )
    }
}
