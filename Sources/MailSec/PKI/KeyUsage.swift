internal import COpenSSL

/// The bits of a certificate's keyUsage extension (RFC 5280 4.2.1.3).
public struct KeyUsage: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The bits as OpenSSL's `X509_get_key_usage` returns them (`KU_*`).
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public static let digitalSignature = KeyUsage(rawValue: UInt32(KU_DIGITAL_SIGNATURE))
    public static let nonRepudiation = KeyUsage(rawValue: UInt32(KU_NON_REPUDIATION))
    public static let keyEncipherment = KeyUsage(rawValue: UInt32(KU_KEY_ENCIPHERMENT))
    public static let dataEncipherment = KeyUsage(rawValue: UInt32(KU_DATA_ENCIPHERMENT))
    public static let keyAgreement = KeyUsage(rawValue: UInt32(KU_KEY_AGREEMENT))
    public static let keyCertSign = KeyUsage(rawValue: UInt32(KU_KEY_CERT_SIGN))
    public static let cRLSign = KeyUsage(rawValue: UInt32(KU_CRL_SIGN))
    public static let encipherOnly = KeyUsage(rawValue: UInt32(KU_ENCIPHER_ONLY))
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
