#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
internal import COpenSSL

/// What a new certificate or CSR says: subject, names, lifetime and role.
public struct CertificateProfile: Sendable {
    /// What the certificate is for.
    public enum Role: Sendable, Equatable {
        /// A TLS server certificate for a mail host.
        case server
        /// A local certificate authority that signs server certificates only.
        case authority
    }

    /// The subject (`CN=mail.example.com`).
    public var subject: DistinguishedName
    /// The names clients may connect with (a server's; a CA has none).
    public var subjectAlternativeNames: [SubjectAlternativeName]
    /// Days of validity from now.
    public var days: Int
    /// A server certificate or a local CA.
    public var role: Role

    /// Lifetimes we accept. A year is usual; beyond 100 years is a typo.
    public static let dayRange = 1...36_500

    /// A profile; a server certificate unless `role` says otherwise.
    public init(subject: DistinguishedName, subjectAlternativeNames: [SubjectAlternativeName] = [], days: Int, role: Role = .server) {
        self.subject = subject
        self.subjectAlternativeNames = subjectAlternativeNames
        self.days = days
        self.role = role
    }

    /// The extensions of the certificate, as OpenSSL configuration values.
    /// keyEncipherment only for RSA: ECDSA and EdDSA keys cannot encipher.
    func certificateExtensions(keyType: KeyAlgorithm) -> [(Int32, String)] {
        var list: [(Int32, String)]
        switch role {
        case .server:
            list = [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, keyType == .rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"),
                (NID_ext_key_usage, "serverAuth"),
            ]
            if !subjectAlternativeNames.isEmpty {
                list.append((NID_subject_alt_name, subjectAlternativeNames.map(\.description).joined(separator: ",")))
            }
        case .authority:
            list = [
                (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
            ]
        }
        list.append((NID_subject_key_identifier, "hash"))
        list.append((NID_authority_key_identifier, "keyid:always"))
        return list
    }

    /// The extensions a CSR asks for; the CA adds key identifiers itself.
    func requestedExtensions(keyType: KeyAlgorithm) -> [(Int32, String)] {
        certificateExtensions(keyType: keyType).filter {
            $0.0 != NID_subject_key_identifier && $0.0 != NID_authority_key_identifier
        }
    }
}

extension PrivateKey {
    /// SHA-256 for RSA and ECDSA; nil for EdDSA, which hashes internally.
    var signingDigest: OpaquePointer? {
        switch keyDescription.type {
        case .ed25519, .ed448: nil
        default: EVP_sha256()
        }
    }
}

extension Certificate {
    /// Issues a certificate for `subjectKey`'s public half: self-signed when
    /// `issuer` is nil, else signed by the CA certificate and its key.
    public convenience init(profile: CertificateProfile, subjectKey: PrivateKey,
                            issuer: (certificate: Certificate, key: PrivateKey)? = nil) throws {
        guard CertificateProfile.dayRange.contains(profile.days) else {
            throw MailSecError(.invalidInput, "a validity of \(profile.days) days is out of range",
                               remedy: "use \(Vocabulary.name(.days)) between 1 and \(CertificateProfile.dayRange.upperBound)")
        }
        if let issuer, !issuer.key.matches(issuer.certificate) {
            throw MailSecError(.invalidInput, "the CA key does not belong to the CA certificate")
        }
        OpenSSLErrorQueue.clear()
        guard let certificate = X509_new() else { throw MailSecError.openSSL("cannot allocate a certificate") }
        self.init(taking: certificate)

        let subject = try profile.subject.makeOpenSSLName()
        defer { X509_NAME_free(subject) }
        let serial = try Self.randomSerial()
        defer { ASN1_INTEGER_free(serial) }
        guard X509_set_version(certificate, Int(X509_VERSION_3)) == 1,
              X509_set_serialNumber(certificate, serial) == 1,
              X509_set_subject_name(certificate, subject) == 1,
              (issuer?.certificate.withUnsafePointer { X509_set_issuer_name(certificate, X509_get_subject_name($0)) }
                ?? X509_set_issuer_name(certificate, subject)) == 1,
              subjectKey.withUnsafePointer({ X509_set_pubkey(certificate, $0) }) == 1,
              X509_gmtime_adj(X509_getm_notBefore(certificate), 0) != nil,
              X509_time_adj_ex(X509_getm_notAfter(certificate), Int32(profile.days), 0, nil) != nil else {
            throw MailSecError.openSSL("cannot fill in the certificate")
        }

        let extensions = profile.certificateExtensions(keyType: subjectKey.keyDescription.type)
        // For a self-signed certificate the issuer is the certificate itself, so
        // authorityKeyIdentifier copies the subjectKeyIdentifier added before it.
        try (issuer?.certificate.withUnsafePointer { try Self.add(extensions, to: certificate, issuedBy: $0) }
             ?? Self.add(extensions, to: certificate, issuedBy: certificate))

        let signer = issuer?.key ?? subjectKey
        guard signer.withUnsafePointer({ X509_sign(certificate, $0, signer.signingDigest) }) > 0 else {
            throw MailSecError.openSSL("cannot sign the certificate")
        }
    }

    /// Adds the extensions, as OpenSSL's configuration values, that may refer to the issuer (key identifiers).
    private static func add(_ extensions: [(Int32, String)], to certificate: OpaquePointer, issuedBy issuer: OpaquePointer) throws {
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer, certificate, nil, nil, 0)
        mailsec_X509V3_set_ctx_nodb(&context)
        for (nid, value) in extensions {
            guard let extensionValue = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw MailSecError.openSSL("cannot build the extension \(value)")
            }
            defer { X509_EXTENSION_free(extensionValue) }
            guard X509_add_ext(certificate, extensionValue, -1) == 1 else {
                throw MailSecError.openSSL("cannot add the extension \(value)")
            }
        }
    }

    /// A positive serial of 16 random bytes (RFC 5280 allows up to 20 octets;
    /// CA/B Forum asks for at least 64 random bits).
    private static func randomSerial() throws -> UnsafeMutablePointer<ASN1_INTEGER> {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw MailSecError.openSSL("no randomness for the serial number") }
        bytes[0] = (bytes[0] & 0x7f) | 0x40   // positive, and always 16 octets long in DER
        guard let bignum = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw MailSecError.openSSL("cannot make the serial number") }
        defer { BN_free(bignum) }
        guard let serial = BN_to_ASN1_INTEGER(bignum, nil) else { throw MailSecError.openSSL("cannot make the serial number") }
        return serial
    }
}
