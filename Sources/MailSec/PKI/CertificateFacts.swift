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
    public var subject: String
    public var issuer: String
    public var sans: [String]
    public var serial: String
    public var notBefore: String
    public var notAfter: String
    public var daysLeft: Int
    public var keyType: String
    public var keyBits: Int
    public var keyCurve: String?
    /// Set when OpenSSL cannot decode the public key; no client can use it.
    public var keyProblem: String?
    public var signatureAlgorithm: String
    public var keyUsage: [String]?
    public var extendedKeyUsage: [String]?
    public var isCA: Bool?
    public var pathLength: Int?
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
    public var subject: String
    public var sans: [String]
    public var keyType: String
    public var keyBits: Int
    public var keyCurve: String?
    /// Set when OpenSSL cannot decode the public key; no client can use it.
    public var keyProblem: String?
    public var signatureAlgorithm: String
    public var signatureValid: Bool
    public var spkiSHA256: String
    public var tlsa: String

    enum CodingKeys: String, CodingKey {
        case subject, sans, keyType = "key_type", keyBits = "key_bits", keyCurve = "key_curve", keyProblem = "key_problem"
        case signatureAlgorithm = "signature_algorithm", signatureValid = "signature_valid"
        case spkiSHA256 = "spki_sha256", tlsa
    }

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
    public var encrypted: Bool
    /// Unknown (nil) for an encrypted key: reading it needs the passphrase.
    public var keyType: String?
    public var keyBits: Int?
    public var keyCurve: String?
    /// Set when OpenSSL cannot decode the public key; no client can use it.
    public var keyProblem: String?
    public var spkiSHA256: String?
    public var tlsa: String?

    enum CodingKeys: String, CodingKey {
        case format, encrypted, keyType = "key_type", keyBits = "key_bits", keyCurve = "key_curve", keyProblem = "key_problem"
        case spkiSHA256 = "spki_sha256", tlsa
    }

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
