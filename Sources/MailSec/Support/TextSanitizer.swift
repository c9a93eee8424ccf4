/// Untrusted text (a server's banner, a certificate's names, Dovecot's
/// `reason=`) made safe to show on a terminal. Control characters would
/// otherwise move the cursor, clear the screen or forge lines of output
/// ("✓ ALL CHECKS PASSED"); they are shown as visible escapes instead. JSON
/// needs none of this: its encoder escapes them already.
package enum TextSanitizer {
    /// `text` with C0 and C1 controls, DEL and the bidirectional overrides escaped (`\r`, `\n`, `\t`, `\x1b`, `\u{202e}`).
    package static func escaped<Text: StringProtocol>(_ text: Text) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return String(text) }
        var result = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                let hex = String(scalar.value, radix: 16)
                result += scalar.value < 0x100 ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{\(hex)}"
            }
        }
        return result
    }

    /// `"text"` with the escapes of `escaped`, for quoting a value in a message.
    package static func quoted<Text: StringProtocol>(_ text: Text) -> String {
        "\"" + escaped(text) + "\""
    }

    /// Escapes every control character except the line breaks a multi-line
    /// message or remedy is made of.
    package static func escapedKeepingNewlines<Text: StringProtocol>(_ text: Text) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { escaped($0) }.joined(separator: "\n")
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1f, 0x7f...0x9f: return true
        case 0x200e, 0x200f, 0x202a...0x202e, 0x2066...0x2069: return true   // bidirectional marks and overrides
        default: return false
        }
    }
}
