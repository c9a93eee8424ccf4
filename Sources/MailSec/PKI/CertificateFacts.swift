#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `inspect`, `genkey` and `verify` report about a certificate, in the
/// shape their JSON output takes (snake_case keys, stable).
public struct CertificateFacts: Encodable, Sendable, Equatable {
    /// The certificate's public key (its JSON form is `key_type`, `key_bits`, `key_curve`, `key_problem`).
    public var key: KeyDescription
    /// The subject, as `CN=mail.example.com, O=Example`.
    public var subject: String
    /// The issuer, in the subject's form.
    public var issuer: String
    /// The subjectAltName entries: `DNS:mail.example.com`, `IP:192.0.2.25`.
    public var sans: [String]
    /// The serial number in uppercase hex.
    public var serial: String
    /// The start of validity, `2026-12-07T22:46:45Z`.
    public var notBefore: String
    /// The end of validity (inclusive), in the same form.
    public var notAfter: String
    /// Whole days from the time given to `init` until notAfter; negative once expired.
    public var daysLeft: Int
    /// `RSA`, `EC`, `Ed25519`, `Ed448`, or the algorithm's name.
    public var keyType: String
    /// The key's size in bits.
    public var keyBits: Int
    /// The named curve of an EC key (`P-256`).
    public var keyCurve: String?
    /// Set when OpenSSL cannot decode the public key; no client can use it.
    public var keyProblem: String?
    /// `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `ED25519`, ...
    public var signatureAlgorithm: String
    /// The keyUsage bits by name; nil when the extension is absent.
    public var keyUsage: [String]?
    /// The extendedKeyUsage purposes (`serverAuth`, ...); nil when absent.
    public var extendedKeyUsage: [String]?
    /// basicConstraints CA:TRUE or FALSE; nil when the extension is absent.
    public var isCA: Bool?
    /// basicConstraints' path length, when the certificate sets one.
    public var pathLength: Int?
    /// True when the certificate is signed by its own key.
    public var selfSigned: Bool
    /// SHA-256 of the DER certificate, colon-separated uppercase hex.
    public var sha256: String
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex.
    public var spkiSHA256: String
    /// The TLSA record data for `3 1 1`.
    public var tlsa: String

    enum CodingKeys: String, CodingKey {
        case subject, issuer, sans, serial
        case notBefore = "not_before", notAfter = "not_after", daysLeft = "days_left"
        case keyType = "key_type", keyBits = "key_bits", keyCurve = "key_curve", keyProblem = "key_problem"
        case signatureAlgorithm = "signature_algorithm", keyUsage = "key_usage", extendedKeyUsage = "extended_key_usage"
        case isCA = "ca", pathLength = "path_length", selfSigned = "self_signed"
        case sha256, spkiSHA256 = "spki_sha256", tlsa
    }

    /// The facts of `certificate`, with `daysLeft` counted from `now`.
    public init(_ certificate: Certificate, now: Date = Date()) throws {
        key = certificate.publicKeyDescription
        let spki = Hex.encode(try certificate.spkiSHA256())
        let constraints = certificate.basicConstraints
        subject = certificate.subject.description
        issuer = certificate.issuer.description
        sans = certificate.subjectAlternativeNames.map(\.description)
        serial = certificate.serialNumber
        notBefore = UTCTime.iso8601(certificate.notBefore)
        notAfter = UTCTime.iso8601(certificate.notAfter)
        daysLeft = UTCTime.daysLeft(until: certificate.notAfter, from: now)
        keyType = key.type.description
        keyBits = key.bits
        keyCurve = key.curve
        keyProblem = key.undecodableReason
        signatureAlgorithm = certificate.signatureAlgorithm
        keyUsage = certificate.keyUsage?.names
        extendedKeyUsage = certificate.extendedKeyUsage
        isCA = constraints?.isCA
        pathLength = constraints?.pathLength
        selfSigned = certificate.isSelfSigned
        sha256 = Hex.fingerprint(try certificate.sha256Fingerprint())
        spkiSHA256 = spki
        tlsa = "3 1 1 \(spki)"
    }
}

/// What `inspect` reports about a CSR.
public struct SigningRequestFacts: Encodable, Sendable, Equatable {
    /// The requested key (its JSON form is `key_type`, `key_bits`, `key_curve`, `key_problem`).
    public var key: KeyDescription
    /// The subject the request asks for.
    public var subject: String
    /// The subjectAltName entries it asks for.
    public var sans: [String]
    /// `RSA`, `EC`, `Ed25519`, `Ed448`, or the algorithm's name.
    public var keyType: String
    /// The key's size in bits.
    public var keyBits: Int
    /// The named curve of an EC key (`P-256`).
    public var keyCurve: String?
    /// Set when OpenSSL cannot decode the public key; no client can use it.
    public var keyProblem: String?
    /// The algorithm the request is signed with.
    public var signatureAlgorithm: String
    /// True when the request is signed by the key it carries.
    public var signatureValid: Bool
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex.
    public var spkiSHA256: String
    /// The TLSA record data for `3 1 1`.
    public var tlsa: String

    enum CodingKeys: String, CodingKey {
        case subject, sans, keyType = "key_type", keyBits = "key_bits", keyCurve = "key_curve", keyProblem = "key_problem"
        case signatureAlgorithm = "signature_algorithm", signatureValid = "signature_valid"
        case spkiSHA256 = "spki_sha256", tlsa
    }

    /// The facts of `request`.
    public init(_ request: CertificateSigningRequest) throws {
        key = request.publicKeyDescription
        let spki = Hex.encode(Digest.sha256(try request.subjectPublicKeyInfo()))
        subject = request.subject.description
        sans = request.requestedSubjectAlternativeNames.map(\.description)
        keyType = key.type.description
        keyBits = key.bits
        keyCurve = key.curve
        keyProblem = key.undecodableReason
        signatureAlgorithm = request.signatureAlgorithm
        signatureValid = request.hasValidSignature
        spkiSHA256 = spki
        tlsa = "3 1 1 \(spki)"
    }
}

/// What `inspect` reports about a private key: never any key material.
public struct PrivateKeyFacts: Encodable, Sendable, Equatable {
    /// The key, when it could be read (its JSON form is `key_type`, `key_bits`, `key_curve`).
    public var key: KeyDescription?
    /// `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, or `DER`.
    public var format: String
    /// True when the key is protected by a passphrase (Postfix and Dovecot cannot load it).
    public var encrypted: Bool
    /// Unknown (nil) for an encrypted key: reading it needs the passphrase.
    public var keyType: String?
    /// The key's size in bits, unknown for an encrypted key.
    public var keyBits: Int?
    /// The named curve of an EC key (`P-256`).
    public var keyCurve: String?
    /// Set when OpenSSL cannot decode the public key; no client can use it.
    public var keyProblem: String?
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex; unknown for an encrypted key.
    public var spkiSHA256: String?
    /// The TLSA record data for `3 1 1`; unknown for an encrypted key.
    public var tlsa: String?

    enum CodingKeys: String, CodingKey {
        case format, encrypted, keyType = "key_type", keyBits = "key_bits", keyCurve = "key_curve", keyProblem = "key_problem"
        case spkiSHA256 = "spki_sha256", tlsa
    }

    /// The facts of a key file: its PEM label or `DER`, whether it is encrypted, and the key when it could be read.
    public init(format: String, encrypted: Bool, key: PrivateKey?) throws {
        self.format = format
        self.encrypted = encrypted
        if let key {
            let description = key.keyDescription
            let spki = Hex.encode(try key.spkiSHA256())
            self.key = description
            keyType = description.type.description
            keyBits = description.bits
            keyCurve = description.curve
            spkiSHA256 = spki
            tlsa = "3 1 1 \(spki)"
        }
    }
}
