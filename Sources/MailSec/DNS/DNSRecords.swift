/// MX RDATA (RFC 1035 section 3.3.9). libunbound hands RDATA over with
/// names uncompressed, so a name is a plain sequence of labels; anything
/// else is refused, never guessed.
public struct MXRecord: Sendable, Equatable {
    /// Lower is tried first.
    public var preference: UInt16
    /// The exchange, lowercased, without the final dot; empty for the null MX `.` (RFC 7505).
    public var exchange: String

    /// A record by its fields.
    public init(preference: UInt16, exchange: String) {
        self.preference = preference
        self.exchange = exchange
    }

    /// Nil when the RDATA is malformed: a truncated name, a compression
    /// pointer, a label over 63 or a name over 255 bytes, bytes left over.
    public init?(rdata: [UInt8]) {
        guard rdata.count >= 3 else { return nil }
        var index = 2
        guard let name = DNSName.decode(rdata, at: &index), index == rdata.count else { return nil }
        self.init(preference: UInt16(rdata[0]) << 8 | UInt16(rdata[1]), exchange: name)
    }

    /// RFC 7505: a domain that accepts no mail says so with `0 .`.
    public var isNullMX: Bool { exchange.isEmpty }
}

enum DNSName {
    /// Decodes an uncompressed wire-form name starting at `index`, moving it past the name.
    static func decode(_ bytes: [UInt8], at index: inout Int) -> String? {
        var labels: [String] = []
        var total = 1
        while true {
            guard index < bytes.count else { return nil }
            let length = Int(bytes[index])
            index += 1
            if length == 0 { break }
            // 0xC0 marks a compression pointer, 0x40 and 0x80 obsolete label types.
            guard length <= 63, index + length <= bytes.count else { return nil }
            total += length + 1
            guard total <= 255 else { return nil }
            let label = bytes[index..<index + length]
            // A host name (RFC 1123): letters, digits, hyphens; underscores appear in service names.
            guard label.allSatisfy({ $0 == 0x2d || $0 == 0x5f || (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) }) else {
                return nil
            }
            labels.append(String(decoding: label, as: UTF8.self).lowercased())
            index += length
        }
        return labels.joined(separator: ".")
    }
}
