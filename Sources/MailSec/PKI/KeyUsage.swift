internal import COpenSSL

/// The bits of a certificate's keyUsage extension (RFC 5280 4.2.1.3).
public struct KeyUsage: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The bits as OpenSSL's `X509_get_key_usage` returns them (`KU_*`).
    public let rawValue: UInt32

    /// Usages from OpenSSL's bits.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// Signing, as TLS 1.3 and every ECDHE key exchange need.
    public static let digitalSignature = KeyUsage(rawValue: UInt32(KU_DIGITAL_SIGNATURE))
    /// Non-repudiation (contentCommitment).
    public static let nonRepudiation = KeyUsage(rawValue: UInt32(KU_NON_REPUDIATION))
    /// Enciphering keys: RSA key transport in TLS 1.2 and older.
    public static let keyEncipherment = KeyUsage(rawValue: UInt32(KU_KEY_ENCIPHERMENT))
    /// Enciphering data directly.
    public static let dataEncipherment = KeyUsage(rawValue: UInt32(KU_DATA_ENCIPHERMENT))
    /// Key agreement (static Diffie-Hellman).
    public static let keyAgreement = KeyUsage(rawValue: UInt32(KU_KEY_AGREEMENT))
    /// Signing certificates: a CA's.
    public static let keyCertSign = KeyUsage(rawValue: UInt32(KU_KEY_CERT_SIGN))
    /// Signing CRLs: a CA's.
    public static let cRLSign = KeyUsage(rawValue: UInt32(KU_CRL_SIGN))
    /// With keyAgreement: only enciphering.
    public static let encipherOnly = KeyUsage(rawValue: UInt32(KU_ENCIPHER_ONLY))
    /// With keyAgreement: only deciphering.
    public static let decipherOnly = KeyUsage(rawValue: UInt32(KU_DECIPHER_ONLY))

    private static let named: [(KeyUsage, String)] = [
        (.digitalSignature, "digitalSignature"), (.nonRepudiation, "nonRepudiation"), (.keyEncipherment, "keyEncipherment"),
        (.dataEncipherment, "dataEncipherment"), (.keyAgreement, "keyAgreement"), (.keyCertSign, "keyCertSign"),
        (.cRLSign, "cRLSign"), (.encipherOnly, "encipherOnly"), (.decipherOnly, "decipherOnly"),
    ]

    /// The names RFC 5280 gives the bits that are set, in its order: `digitalSignature`, `keyEncipherment`, ...
    public var names: [String] { Self.named.filter { contains($0.0) }.map(\.1) }

    /// `digitalSignature, keyEncipherment`
    public var description: String { names.joined(separator: ", ") }
}
