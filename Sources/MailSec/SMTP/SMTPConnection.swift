/// One SMTP reply: a code and its lines (multi-line replies joined by '-').
package struct SMTPReply: Sendable {
    package var code: Int
    package var lines: [String]

    /// The reply as the server sent its first line, for messages.
    package var firstLine: String { "\(code) \(lines.first ?? "")" }
    package var isPositive: Bool { (200..<400).contains(code) }
}

/// Assembles SMTP replies from lines (RFC 5321 4.2): `NNN-text` continues,
/// `NNN text` (or a bare `NNN`) ends, and every line of a reply has the same code.
package struct SMTPReplyParser: Sendable {
    /// RFC 5321 allows 512 octets per reply line; we accept more before calling it endless.
    package static let maximumLineLength = 4096
    /// More lines than any EHLO answer has: a reply that never ends is refused.
    package static let maximumLines = 1000

    private var code = 0
    private var lines: [String] = []

    package init() {}

    /// Takes one line; returns the reply once its last line has arrived.
    package mutating func add(_ line: String) throws -> SMTPReply? {
        let bytes = Array(line.utf8.prefix(4))
        guard bytes.count >= 3, bytes[0...2].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes[0] >= 0x32 && bytes[0] <= 0x35 else {
            throw MailSecError(.protocolViolation, "not an SMTP reply: \"\(line.prefix(80))\"")
        }
        let number = Int(String(decoding: bytes[0...2], as: UTF8.self))!
        let separator = bytes.count > 3 ? bytes[3] : 0x20
        guard separator == 0x20 || separator == 0x2d else {
            throw MailSecError(.protocolViolation, "not an SMTP reply (no space or '-' after the code): \"\(line.prefix(80))\"")
        }
        if code == 0 { code = number }
        guard number == code else {
            throw MailSecError(.protocolViolation, "a multi-line reply changed its code from \(code) to \(number): \"\(line.prefix(80))\"")
        }
        lines.append(String(line.dropFirst(4)))
        if separator == 0x2d {
            guard lines.count < Self.maximumLines else {
                throw MailSecError(.protocolViolation, "a reply of more than \(Self.maximumLines) lines")
            }
            return nil
        }
        let reply = SMTPReply(code: code, lines: lines)
        self = SMTPReplyParser()
        return reply
    }
}

extension ClientConnection {
    /// Reads one complete reply, all its lines before one deadline.
    func readSMTPReply() throws -> SMTPReply {
        let until = deadline
        var parser = SMTPReplyParser()
        while true {
            if let reply = try parser.add(readLine(deadline: until)) { return reply }
        }
    }
}
