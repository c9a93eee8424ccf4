internal import COpenSSL

/// A PKCS#10 certificate signing request, owning its OpenSSL X509_REQ.
public final class CertificateSigningRequest: @unchecked Sendable {
    private let pointer: OpaquePointer

    /// The X509_REQ, for the duration of `body`: the rest of MailSec borrows it
    /// for an OpenSSL call and never keeps it, so it cannot outlive this owner.
    func withUnsafePointer<Result>(_ body: (OpaquePointer) throws -> Result) rethrows -> Result {
        try body(pointer)
    }

    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        X509_REQ_free(pointer)
    }

    /// Decodes one DER CSR.
    public convenience init(der: [UInt8], source: String = "CSR") throws {
        OpenSSLErrorQueue.clear()
        var consumed = 0
        let decoded: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            let result = d2i_X509_REQ(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return result
        }
        guard let decoded else { throw MailSecError.openSSL("\(source) is not a DER certificate signing request") }
        self.init(taking: decoded)
        if consumed < der.count {
            throw MailSecError(.invalidInput, "\(source): \(der.count - consumed) bytes follow the DER certificate signing request; the file is damaged or two files were joined")
        }
    }

    /// A signed request for `profile`'s subject and names, for `key`.
    public convenience init(profile: CertificateProfile, key: PrivateKey) throws {
        OpenSSLErrorQueue.clear()
        guard let request = X509_REQ_new() else { throw MailSecError.openSSL("cannot allocate a CSR") }
        self.init(taking: request)
        let name = try profile.subject.makeOpenSSLName()
        defer { X509_NAME_free(name) }
        guard X509_REQ_set_version(request, Int(X509_REQ_VERSION_1)) == 1,
              X509_REQ_set_subject_name(request, name) == 1,
              key.withUnsafePointer({ X509_REQ_set_pubkey(request, $0) }) == 1 else {
            throw MailSecError.openSSL("cannot fill in the CSR")
        }
        guard let list = mailsec_sk_X509_EXTENSION_new_null() else { throw MailSecError.openSSL("cannot allocate an extension list") }
        defer { mailsec_sk_X509_EXTENSION_free_all(list) }
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, nil, nil, request, nil, 0)
        mailsec_X509V3_set_ctx_nodb(&context)
        for (nid, value) in profile.requestedExtensions(keyType: key.keyDescription.type) {
            guard let extensionValue = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw MailSecError.openSSL("cannot build the extension \(value)")
            }
            guard mailsec_sk_X509_EXTENSION_push(list, extensionValue) > 0 else {
                X509_EXTENSION_free(extensionValue)
                throw MailSecError.openSSL("cannot build the extension request")
            }
        }
        guard X509_REQ_add_extensions(request, list) == 1 else { throw MailSecError.openSSL("cannot add the extension request") }
        guard key.withUnsafePointer({ X509_REQ_sign(request, $0, key.signingDigest) }) > 0 else {
            throw MailSecError.openSSL("cannot sign the CSR")
        }
    }

    /// The subject the request asks for.
    public var subject: DistinguishedName { DistinguishedName(openSSL: X509_REQ_get_subject_name(pointer)) }

    /// The subjectAltName entries of the extension request.
    public var requestedSubjectAlternativeNames: [SubjectAlternativeName] {
        guard let extensions = X509_REQ_get_extensions(pointer) else { return [] }
        defer { mailsec_sk_X509_EXTENSION_free_all(extensions) }
        for index in 0..<mailsec_sk_X509_EXTENSION_num(extensions) {
            let candidate = mailsec_sk_X509_EXTENSION_value(extensions, index)
            guard OBJ_obj2nid(X509_EXTENSION_get_object(candidate)) == NID_subject_alt_name,
                  let decoded = X509V3_EXT_d2i(candidate) else { continue }
            let names = OpaquePointer(decoded)
            defer { GENERAL_NAMES_free(names) }
            return SubjectAlternativeName.list(from: names)
        }
        return []
    }

    /// The requested key's algorithm and size, or why OpenSSL cannot decode it.
    public var publicKeyDescription: KeyDescription {
        KeyDescription(decoded: X509_REQ_get0_pubkey(pointer), info: X509_REQ_get_X509_PUBKEY(pointer))
    }

    /// DER SubjectPublicKeyInfo, as stored in the request.
    public func subjectPublicKeyInfo() throws -> [UInt8] {
        try DER.encode("the CSR's public key") { i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(pointer), &$0) }
    }

    /// The algorithm the request is signed with.
    public var signatureAlgorithm: String {
        OBJ_nid2ln(X509_REQ_get_signature_nid(pointer)).map { String(cString: $0) } ?? "unknown"
    }

    /// True when the request is signed by the key it carries.
    public var hasValidSignature: Bool {
        guard let key = X509_REQ_get0_pubkey(pointer) else {
            OpenSSLErrorQueue.clear()
            return false
        }
        let valid = X509_REQ_verify(pointer, key) == 1
        OpenSSLErrorQueue.clear()
        return valid
    }

    /// The request in PEM, as CAs take it.
    public func pem() throws -> [UInt8] {
        let bio = try MemoryBIO()
        guard bio.withUnsafePointer({ PEM_write_bio_X509_REQ($0, pointer) }) == 1 else { throw MailSecError.openSSL("cannot encode the CSR") }
        return bio.bytes()
    }
}
