/// A TLSA record (RFC 6698) as DANE for SMTP uses it (RFC 7672): which
/// certificate it pins (usage), what part of it (selector) and how (matching type).
public struct TLSARecord: Sendable, Equatable, CustomStringConvertible {
    /// RFC 7672 section 3.1: senders use only DANE-TA(2) and DANE-EE(3); the
    /// PKIX usages 0 and 1 are not for SMTP.
    public enum Usage: UInt8, Sendable, CaseIterable {
        /// PKIX-TA (0): a CA that must also pass PKIX validation; not for SMTP.
        case pkixTA = 0
        /// PKIX-EE (1): the server's certificate, PKIX-validated; not for SMTP.
        case pkixEE = 1
        /// DANE-TA (2): a CA in the chain the server sends.
        case daneTA = 2
        /// DANE-EE (3): the server's own certificate or key, names and dates ignored.
        case daneEE = 3
    }

    /// Which part of the certificate the data stands for.
    public enum Selector: UInt8, Sendable, CaseIterable {
        /// The whole certificate: changes at every renewal.
        case certificate = 0
        /// The SubjectPublicKeyInfo: survives renewals that keep the key.
        case publicKey = 1
    }

    /// How the data is derived from that part.
    public enum MatchingType: UInt8, Sendable, CaseIterable {
        /// The selected data itself (0).
        case full = 0
        /// Its SHA-256 (1): the usual choice.
        case sha256 = 1
        /// Its SHA-512 (2).
        case sha512 = 2
    }

    /// What the record pins: a CA (DANE-TA) or the server's own certificate (DANE-EE).
    public var usage: Usage
    /// The whole certificate or its public key.
    public var selector: Selector
    /// The data itself (0), or its SHA-256 (1) or SHA-512 (2).
    public var matchingType: MatchingType
    /// The association data.
    public var data: [UInt8]

    /// A record with the given fields.
    public init(usage: Usage, selector: Selector, matchingType: MatchingType, data: [UInt8]) {
        self.usage = usage
        self.selector = selector
        self.matchingType = matchingType
        self.data = data
    }

    /// The record for `certificate` (its DER for selector 0, its SPKI for 1).
    public init(usage: Usage, selector: Selector, matchingType: MatchingType, certificate: Certificate) throws {
        let selected = selector == .certificate ? try certificate.derBytes() : try certificate.subjectPublicKeyInfo()
        self.init(usage: usage, selector: selector, matchingType: matchingType, data: Self.match(selected, matchingType))
    }

    /// The selector-1 record for a key that may not have a certificate yet:
    /// what a rollover publishes before the key is used.
    public init(usage: Usage, matchingType: MatchingType, key: PrivateKey) throws {
        self.init(usage: usage, selector: .publicKey, matchingType: matchingType, data: Self.match(try key.subjectPublicKeyInfo(), matchingType))
    }

    /// A record from its wire RDATA (usage, selector, matching type, data), or
    /// nil when it is unusable (RFC 7671 section 4: unknown parameters, or a
    /// digest of the wrong length); senders skip such records, and so do we.
    public init?(rdata: [UInt8]) {
        guard rdata.count > 3, let usage = Usage(rawValue: rdata[0]), let selector = Selector(rawValue: rdata[1]),
              let matchingType = MatchingType(rawValue: rdata[2]) else { return nil }
        let data = Array(rdata[3...])
        switch matchingType {
        case .sha256: guard data.count == 32 else { return nil }
        case .sha512: guard data.count == 64 else { return nil }
        case .full: guard data.count <= 65_535 else { return nil }
        }
        self.init(usage: usage, selector: selector, matchingType: matchingType, data: data)
    }

    /// Whether this record pins `certificate`, computed by the record's own selector and matching type.
    public func pins(_ certificate: Certificate) -> Bool {
        (try? TLSARecord(usage: usage, selector: selector, matchingType: matchingType, certificate: certificate)) == self
    }

    /// Whether a sender could accept `chain` (leaf first) by this record:
    /// DANE-EE pins the leaf, DANE-TA a CA certificate the server sends.
    /// Names and dates aside (OpenSSL's verifier adds those on a live session).
    public func matches(chain: [Certificate]) -> Bool {
        switch usage {
        case .daneEE: chain.first.map(pins) ?? false
        case .daneTA: chain.dropFirst().contains(where: pins)
        case .pkixTA, .pkixEE: false
        }
    }

    static func match(_ bytes: [UInt8], _ type: MatchingType) -> [UInt8] {
        switch type {
        case .full: bytes
        case .sha256: Digest.sha256(bytes)
        case .sha512: Digest.sha512(bytes)
        }
    }

    /// The record data as zone files and `dig` write it: `3 1 1 0a1b...`.
    public var description: String {
        "\(usage.rawValue) \(selector.rawValue) \(matchingType.rawValue) \(Hex.encode(data))"
    }

    /// The owner name of a service's TLSA RRset: `_25._tcp.mail.example.com.`.
    public static func ownerName(host: String, port: UInt16) -> String {
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        return "_\(port)._tcp.\(name.lowercased())."
    }

    /// One zone-file line: `_25._tcp.mail.example.com. IN TLSA 3 1 1 0a1b...`.
    public func zoneLine(host: String, port: UInt16) -> String {
        "\(Self.ownerName(host: host, port: port)) IN TLSA \(description)"
    }
}
