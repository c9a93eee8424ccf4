/// One IMAP server response (RFC 9051 7): untagged (`*`), a continuation
/// request (`+`), or the tagged completion of a command.
package struct IMAPResponse: Sendable, Equatable {
    /// `*`, `+`, or the command's tag.
    package var tag: String
    /// `OK`, `NO`, `BAD`, `BYE`, `PREAUTH` when the response is a status; nil otherwise.
    package var status: String?
    /// The response code in brackets (`CAPABILITY IMAP4rev1 ...`, `AUTHENTICATIONFAILED`), without them.
    package var code: String?
    /// Everything after the tag (and the status, and the code).
    package var text: String

    static let statuses: Set<String> = ["OK", "NO", "BAD", "BYE", "PREAUTH"]

    /// Parses one response whose literals have already been read into it.
    package init(parsing line: String) throws {
        guard let space = line.firstIndex(of: " ") ?? (line == "+" ? line.endIndex : nil) else {
            throw MailSecError(.protocolViolation, "not an IMAP response: \(TextSanitizer.quoted(line.prefix(80)))")
        }
        tag = String(line[..<space])
        guard !tag.isEmpty else { throw MailSecError(.protocolViolation, "not an IMAP response: \(TextSanitizer.quoted(line.prefix(80)))") }
        var rest = line[space...].drop { $0 == " " }
        if tag == "+" {
            text = String(rest)
            return
        }
        let word = rest.prefix { $0 != " " }
        if Self.statuses.contains(word.uppercased()) {
            status = word.uppercased()
            rest = rest.dropFirst(word.count).drop { $0 == " " }
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                code = String(rest[rest.index(after: rest.startIndex)..<close])
                rest = rest[rest.index(after: close)...].drop { $0 == " " }
            }
        }
        text = String(rest)
    }

    /// The capabilities a `* CAPABILITY ...` response or a `[CAPABILITY ...]` code lists, uppercased.
    package var capabilities: [String]? {
        if let code, code.uppercased().hasPrefix("CAPABILITY ") {
            return code.dropFirst(11).split(separator: " ").map { $0.uppercased() }
        }
        if tag == "*", status == nil, text.uppercased().hasPrefix("CAPABILITY ") {
            return text.dropFirst(11).split(separator: " ").map { $0.uppercased() }
        }
        return nil
    }

    /// The length announced by a literal at the end of a line, `{42}` or `{42+}` (LITERAL+).
    static func literalLength(atEndOf line: String) -> Int? {
        guard line.hasSuffix("}"), let open = line.lastIndex(of: "{") else { return nil }
        var digits = line[line.index(after: open)..<line.index(before: line.endIndex)]
        if digits.hasSuffix("+") { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }
}

extension ClientConnection {
    /// The most a probe reads of a literal or of one response: a CAPABILITY or
    /// login answer is a few hundred bytes; a megabyte literal is an attack.
    static let imapMaximumLiteral = 65_536
    static let imapMaximumResponse = 262_144

    /// Reads one response, literals included (their bytes inlined as text), bounded in size.
    func readIMAPResponse() throws -> IMAPResponse {
        let until = deadline
        var line = try readLine(deadline: until)
        var size = line.utf8.count
        while let count = IMAPResponse.literalLength(atEndOf: line) {
            guard count <= Self.imapMaximumLiteral, size + count <= Self.imapMaximumResponse else {
                throw MailSecError(.protocolViolation, "the server announced a literal of \(count) bytes; a probe reads at most \(Self.imapMaximumLiteral) (a response this large is not a CAPABILITY or login answer)")
            }
            let literal = try readBytes(count, deadline: until)
            let more = try readLine(deadline: until)
            line += String(decoding: literal, as: UTF8.self) + more
            size += count + more.utf8.count
        }
        return try IMAPResponse(parsing: line)
    }
}
