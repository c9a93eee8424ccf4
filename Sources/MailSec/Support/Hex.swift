/// Hexadecimal forms of digests and serial numbers.
package enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex without separators, as in TLSA records.
    package static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var output: [UInt8] = []
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Uppercase pairs joined by colons, as `openssl x509 -fingerprint` prints them.
    package static func fingerprint<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.map { encode([$0]).uppercased() }.joined(separator: ":")
    }
}

extension String {
    /// The text in a C buffer up to its first NUL.
    init(nulTerminated buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self.init(decoding: bytes, as: UTF8.self)
    }
}
