/// Dovecot's auth-client protocol lines: TAB-separated fields ending in LF,
/// with TAB, CR, LF and \001 escaped inside values as \001t, \001r, \001n, \0011.
package enum AuthProtocolLine {
    /// Dovecot's limit for one line.
    package static let maximumLength = 16_384

    package static func escape(_ value: String) -> String {
        var output = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\u{1}": output += "\u{1}1"
            case "\t": output += "\u{1}t"
            case "\r": output += "\u{1}r"
            case "\n": output += "\u{1}n"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    package static func unescape(_ value: Substring) -> String {
        guard value.contains("\u{1}") else { return String(value) }
        var output = ""
        var escaped = false
        for scalar in value.unicodeScalars {
            if escaped {
                switch scalar {
                case "t": output += "\t"
                case "r": output += "\r"
                case "n": output += "\n"
                case "1": output += "\u{1}"
                default: output.unicodeScalars.append(scalar)
                }
                escaped = false
            } else if scalar == "\u{1}" {
                escaped = true
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    /// The fields of a line, unescaped.
    package static func fields(_ line: [UInt8]) -> [String] {
        String(decoding: line, as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false).map(unescape)
    }

    /// `key=value` fields as a dictionary; bare flags map to "".
    package static func parameters(_ fields: ArraySlice<String>) -> [String: String] {
        var result: [String: String] = [:]
        for field in fields {
            if let equals = field.firstIndex(of: "=") {
                result[String(field[..<equals])] = String(field[field.index(after: equals)...])
            } else {
                result[field] = ""
            }
        }
        return result
    }

    /// A line for display in an error: printable, short, with `resp=` values hidden.
    package static func sanitized(_ line: [UInt8]) -> String {
        var text = String(decoding: line.prefix(200), as: UTF8.self)
        if let range = text.firstRange(of: "resp=") { text = String(text[..<range.upperBound]) + "<hidden>" }
        let printable = text.unicodeScalars.map { $0 == "\t" ? "<TAB>" : ($0.value < 0x20 || $0.value == 0x7f ? "?" : String($0)) }.joined()
        return line.count > 200 ? printable + "…" : printable
    }
}
