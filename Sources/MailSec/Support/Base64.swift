/// Base64 (RFC 4648) with errors that point at the offending character, for
/// PEM bodies here and SMTP AUTH strings later.
package enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let decodeTable: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = Int8(index) }
        return table
    }()

    package static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let encoded = Array(bytes).withUnsafeBytes { encodeSecure($0) }
        return encoded.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Encodes into zeroing storage, for strings that carry a secret.
    package static func encodeSecure(_ bytes: UnsafeRawBufferPointer) -> SecureBytes {
        var output = SecureBytes(capacity: (bytes.count + 2) / 3 * 4 + 1)
        var index = 0
        while index < bytes.count {
            let first = bytes[index]
            let second: UInt8? = index + 1 < bytes.count ? bytes[index + 1] : nil
            let third: UInt8? = index + 2 < bytes.count ? bytes[index + 2] : nil
            output.append(alphabet[Int(first >> 2)])
            output.append(alphabet[Int((first & 0x03) << 4 | (second ?? 0) >> 4)])
            output.append(second.map { alphabet[Int(($0 & 0x0f) << 2 | (third ?? 0) >> 6)] } ?? UInt8(ascii: "="))
            output.append(third.map { alphabet[Int($0 & 0x3f)] } ?? UInt8(ascii: "="))
            index += 3
        }
        return output
    }

    /// Why a string is not base64, and where (0-based offset into the input).
    package struct DecodingError: Error, Sendable, CustomStringConvertible {
        package var offset: Int
        package var reason: String
        package var description: String { "invalid base64 at position \(offset + 1): \(reason)" }
    }

    /// Decodes strict base64: padding required, no characters outside the
    /// alphabet. With `ignoringWhitespace`, line breaks and blanks are skipped
    /// (as in PEM bodies) but still counted in offsets.
    package static func decode<Bytes: Collection>(_ text: Bytes, ignoringWhitespace: Bool = false) throws(DecodingError) -> [UInt8] where Bytes.Element == UInt8 {
        try decodeSecure(text, ignoringWhitespace: ignoringWhitespace).withUnsafeBytes { Array($0) }
    }

    /// Decodes into zeroing storage, for strings that carry a secret.
    package static func decodeSecure<Bytes: Collection>(_ text: Bytes, ignoringWhitespace: Bool = false) throws(DecodingError) -> SecureBytes where Bytes.Element == UInt8 {
        var output = SecureBytes(capacity: text.count / 4 * 3 + 1)
        var quantum: UInt32 = 0
        var filled = 0
        var padding = 0
        var lastOffset = 0
        for (offset, byte) in text.enumerated() {
            lastOffset = offset
            if ignoringWhitespace, byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d { continue }
            if byte == UInt8(ascii: "=") {
                guard filled >= 2 else {
                    throw DecodingError(offset: offset, reason: "'=' padding where data was expected")
                }
                padding += 1
                filled += 1
                guard padding <= 2 else { throw DecodingError(offset: offset, reason: "too much '=' padding") }
                if filled == 4 {
                    if padding == 1 {
                        output.append(UInt8(truncatingIfNeeded: quantum >> 10))
                        output.append(UInt8(truncatingIfNeeded: quantum >> 2))
                    } else {
                        output.append(UInt8(truncatingIfNeeded: quantum >> 4))
                    }
                    filled = 0
                    quantum = 0
                }
                continue
            }
            let value = decodeTable[Int(byte)]
            guard value >= 0 else {
                let shown = byte >= 0x21 && byte < 0x7f ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x" + Hex.encode([byte])
                throw DecodingError(offset: offset, reason: "\(shown) is not a base64 character")
            }
            guard padding == 0 else { throw DecodingError(offset: offset, reason: "data after '=' padding") }
            quantum = quantum << 6 | UInt32(value)
            filled += 1
            if filled == 4 {
                output.append(UInt8(truncatingIfNeeded: quantum >> 16))
                output.append(UInt8(truncatingIfNeeded: quantum >> 8))
                output.append(UInt8(truncatingIfNeeded: quantum))
                filled = 0
                quantum = 0
            }
        }
        guard filled == 0 else {
            throw DecodingError(offset: lastOffset + 1, reason: "the input ends in the middle of a 4-character group (truncated, or '=' padding missing)")
        }
        return output
    }
}
