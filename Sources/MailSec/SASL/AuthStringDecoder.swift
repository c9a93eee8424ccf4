/// One field of a decoded AUTH string. A secret field's value is only
/// revealed on request.
public struct DecodedField: Sendable {
    /// What the field is: `authzid`, `user`, `password`, `digest`, `auth (bearer token)`, ...
    public var name: String
    /// Its bytes, wiped when the last copy goes.
    public var value: SecureBytes
    /// True for a password or token: shown only when asked.
    public var isSecret: Bool

    /// The value as text, or `<N bytes>` for a secret unless `reveal`.
    public func display(reveal: Bool) -> String {
        if isSecret && !reveal { return "<\(value.count) bytes>" }
        return value.withUnsafeBytes { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            // Show control characters and invalid UTF-8 escaped, never raw.
            guard text.utf8.elementsEqual(bytes), !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
                return bytes.map { $0 >= 0x20 && $0 < 0x7f ? String(UnicodeScalar($0)) : "\\x" + Hex.encode([$0]) }.joined()
            }
            return text
        }
    }
}

/// An AUTH string taken apart.
public struct DecodedAuthString: Sendable {
    /// `PLAIN`, `XOAUTH2`, `LOGIN user name`, `LOGIN password`, `LOGIN challenge`,
    /// `CRAM-MD5 challenge`, `CRAM-MD5 response`, or `text`.
    public var kind: String
    /// The fields found, in order.
    public var fields: [DecodedField]
    /// 1-based line in a log, when decoded from one.
    public var line: Int?
}

/// Reads AUTH strings and SMTP/Dovecot logs.
public enum AuthStringDecoder {
    /// Decodes one base64 AUTH string and recognises its shape. A string that
    /// is not base64 is not echoed in the error: it may be a credential.
    public static func decode(_ text: String, hint: String? = nil) throws -> DecodedAuthString {
        let trimmed = text.trimmingWhitespace()
        if trimmed == "=" { return DecodedAuthString(kind: "empty initial response (RFC 4954 '=')", fields: []) }
        let bytes: SecureBytes
        do {
            bytes = try Base64.decodeSecure(Array(trimmed.utf8))
        } catch {
            throw MailSecError(.invalidInput, "a string of \(trimmed.utf8.count) characters is not base64: \(error)")
        }
        return recognise(bytes, hint: hint)
    }

    /// What the decoded bytes look like, helped by the mechanism when known.
    /// Anything that may hold a secret is marked secret: a PLAIN string with
    /// the wrong number of NULs still carries a password, a bearer token is a password.
    static func recognise(_ bytes: SecureBytes, hint: String?) -> DecodedAuthString {
        let parts = bytes.withUnsafeBytes { raw in raw.split(separator: 0, omittingEmptySubsequences: false).map { SecureBytes($0) } }
        if hint == nil || hint == "PLAIN", parts.count == 3 {
            return DecodedAuthString(kind: "PLAIN", fields: [
                DecodedField(name: "authorization identity", value: parts[0], isSecret: false),
                DecodedField(name: "user", value: parts[1], isSecret: false),
                DecodedField(name: "password", value: parts[2], isSecret: true),
            ])
        }
        if parts.count > 1 || hint == "PLAIN" {
            return malformedPlain(parts)
        }
        let text = bytes.withUnsafeBytes { Array($0) }
        if let bearer = bearerToken(text) { return bearer }
        switch hint {
        case "LOGIN user name":
            return DecodedAuthString(kind: "LOGIN user name", fields: [DecodedField(name: "user", value: bytes, isSecret: false)])
        case "LOGIN password":
            return DecodedAuthString(kind: "LOGIN password", fields: [DecodedField(name: "password", value: bytes, isSecret: true)])
        case "CRAM-MD5 response":
            if let space = text.lastIndex(of: 0x20) {
                return DecodedAuthString(kind: "CRAM-MD5 response", fields: [
                    DecodedField(name: "user", value: SecureBytes(text[..<space]), isSecret: false),
                    DecodedField(name: "digest", value: SecureBytes(text[(space + 1)...]), isSecret: false),
                ])
            }
        default:
            break
        }
        let asText = String(decoding: text, as: UTF8.self)
        if asText == "Username:" || asText == "Password:" || asText == "User Name\0" {
            return DecodedAuthString(kind: "LOGIN challenge", fields: [DecodedField(name: "prompt", value: bytes, isSecret: false)])
        }
        if asText.hasPrefix("<"), asText.hasSuffix(">"), asText.contains("@") {
            return DecodedAuthString(kind: "CRAM-MD5 challenge", fields: [DecodedField(name: "challenge", value: bytes, isSecret: false)])
        }
        if let space = asText.lastIndex(of: " "), asText[asText.index(after: space)...].count == 32,
           asText[asText.index(after: space)...].allSatisfy(\.isHexDigit) {
            return recognise(bytes, hint: "CRAM-MD5 response")
        }
        return DecodedAuthString(kind: "text", fields: [DecodedField(name: "text", value: bytes, isSecret: false)])
    }

    /// A PLAIN string with other than two NULs. Which part is the password is
    /// uncertain, so only what comes before it by position is shown: with one
    /// NUL, the first part; with more, the first two; the rest is secret.
    private static func malformedPlain(_ parts: [SecureBytes]) -> DecodedAuthString {
        let separators = parts.count - 1
        let shown = parts.count == 1 ? 0 : min(2, parts.count - 1)
        var fields: [DecodedField] = []
        let names = ["authorization identity or user", "user"]
        for index in 0..<shown { fields.append(DecodedField(name: names[index], value: parts[index], isSecret: false)) }
        var rest = SecureBytes()
        for (offset, part) in parts[shown...].enumerated() {
            if offset > 0 { rest.append(0) }
            part.withUnsafeBytes { rest.append(contentsOf: $0) }
        }
        fields.append(DecodedField(name: "password (presumed)", value: rest, isSecret: true))
        return DecodedAuthString(kind: "PLAIN (malformed: \(separators) NUL separator\(separators == 1 ? "" : "s") where RFC 4616 has 2)", fields: fields)
    }

    /// XOAUTH2 (`user=...\x01auth=Bearer ...\x01\x01`) and OAUTHBEARER
    /// (RFC 7628: `n,a=user,\x01host=...\x01auth=Bearer ...\x01\x01`): the token is a secret.
    private static func bearerToken(_ text: [UInt8]) -> DecodedAuthString? {
        guard text.contains(1) else { return nil }
        let items = text.split(separator: 1).map { Array($0) }
        guard items.contains(where: { $0.starts(with: Array("auth=".utf8)) }) else { return nil }
        var fields: [DecodedField] = []
        var kind = "XOAUTH2"
        for item in items {
            if item.starts(with: Array("user=".utf8)) {
                fields.append(DecodedField(name: "user", value: SecureBytes(item.dropFirst(5)), isSecret: false))
            } else if item.starts(with: Array("auth=".utf8)) {
                fields.append(DecodedField(name: "auth (bearer token)", value: SecureBytes(item.dropFirst(5)), isSecret: true))
            } else if item.first == UInt8(ascii: "n") || item.first == UInt8(ascii: "y") || item.starts(with: Array("p=".utf8)) {
                // The GS2 header: n,a=authzid, (OAUTHBEARER).
                kind = "OAUTHBEARER"
                let header = String(decoding: item, as: UTF8.self)
                if let authzid = header.split(separator: ",").first(where: { $0.hasPrefix("a=") }) {
                    fields.append(DecodedField(name: "user", value: SecureBytes(Array(authzid.dropFirst(2).utf8)), isSecret: false))
                }
            } else if item.starts(with: Array("host=".utf8)) || item.starts(with: Array("port=".utf8)) {
                let equals = item.firstIndex(of: UInt8(ascii: "="))!
                fields.append(DecodedField(name: String(decoding: item[..<equals], as: UTF8.self), value: SecureBytes(item[(equals + 1)...]), isSecret: false))
            }
        }
        return DecodedAuthString(kind: kind, fields: fields)
    }

    /// Every AUTH exchange in the lines of a transcript or log (see `AuthTranscriptDecoder`).
    public static func decodeLog(_ lines: some Sequence<String>) -> [Result<DecodedAuthString, MailSecError>] {
        var decoder = AuthTranscriptDecoder()
        var results: [Result<DecodedAuthString, MailSecError>] = []
        for line in lines { results += decoder.feed(Substring(line)) }
        return results
    }
}

/// Finds AUTH exchanges in an SMTP transcript (swaks, `openssl s_client`,
/// `C:`/`S:` lines) or a Postfix/Dovecot debug log, one line at a time, so a
/// log of any size streams through in constant memory. Follows the LOGIN and
/// CRAM-MD5 challenges (SMTP's 334 and Dovecot's CONT) so the next client line
/// is read as what it is. A line that does not decode is reported, not fatal.
public struct AuthTranscriptDecoder: Sendable {
    private var lineNumber = 0
    /// What the next base64 line from the client is.
    private var expecting: String?
    /// The mechanism of the exchange in progress.
    private var mechanism: String?
    /// Lines longer than this are no transcript line; they are skipped.
    public static let maximumLineLength = 65_536

    /// A decoder at the start of a transcript.
    public init() {}

    /// Takes the next line (a CR at its end is ignored); returns what it decoded.
    public mutating func feed(_ raw: Substring) -> [Result<DecodedAuthString, MailSecError>] {
        lineNumber += 1
        var line = raw
        if line.unicodeScalars.last == "\r" { line = Substring(line.unicodeScalars.dropLast()) }
        guard line.utf8.count <= Self.maximumLineLength else { return [] }
        var results: [Result<DecodedAuthString, MailSecError>] = []
        let lineNumber = self.lineNumber
        func add(_ text: String, _ hint: String?) {
            do {
                var decoded = try AuthStringDecoder.decode(text, hint: hint)
                decoded.line = lineNumber
                results.append(.success(decoded))
            } catch let error as MailSecError {
                results.append(.failure(MailSecError(.invalidInput, "line \(lineNumber): \(error.message)")))
            } catch {}
        }
        let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)

        // Dovecot's auth protocol in its debug log: "client in: AUTH<TAB>1<TAB>PLAIN<TAB>...[<TAB>resp=BASE64]",
        // "client out: CONT<TAB>1<TAB>CHALLENGE", "client in: CONT<TAB>1<TAB>BASE64".
        if let verb = tokens.firstIndex(where: { $0 == "AUTH" || $0 == "CONT" }), verb + 1 < tokens.count, UInt32(tokens[verb + 1]) != nil {
            let outgoing = tokens[..<verb].contains("out:")
            if tokens[verb] == "AUTH", verb + 2 < tokens.count {
                mechanism = tokens[verb + 2].uppercased()
                expecting = Self.firstClientMessage(mechanism!)
                if let resp = tokens[(verb + 3)...].first(where: { $0.hasPrefix("resp=") }) {
                    let value = String(resp.dropFirst(5))
                    if value != "<hidden>" { add(value, expecting ?? mechanism) }
                    expecting = expecting == "LOGIN user name" ? "LOGIN password" : nil
                }
            } else if tokens[verb] == "CONT" {
                let data = verb + 2 < tokens.count ? tokens[verb + 2] : ""
                if outgoing {
                    noteChallenge(data) { add($0, $1) }
                } else if !data.isEmpty, data != "<hidden>" {
                    add(data, expecting ?? mechanism)
                    expecting = expecting == "LOGIN user name" ? "LOGIN password" : nil
                }
            }
            return results
        }
        // Server replies: a 334 challenge tells what the client sends next; 235/535 end the exchange.
        if let reply = tokens.first(where: Self.isReplyCode) {
            let code = reply.prefix(3)
            if code == "334" {
                let next = tokens.firstIndex(of: reply).map { $0 + 1 } ?? tokens.count
                let challenge = reply.count > 4 ? String(reply.dropFirst(4)) : (next < tokens.count ? tokens[next] : "")
                noteChallenge(challenge) { add($0, $1) }
            } else if code != "250" {
                expecting = nil
                mechanism = nil
            }
            return results
        }
        // Client commands: AUTH MECH [initial-response].
        if let authIndex = tokens.lastIndex(where: { $0.uppercased() == "AUTH" }), authIndex + 1 < tokens.count {
            let name = tokens[authIndex + 1].uppercased()
            mechanism = name
            expecting = Self.firstClientMessage(name)
            if authIndex + 2 < tokens.count {
                add(tokens[authIndex + 2], expecting ?? name)
                expecting = name == "LOGIN" ? "LOGIN password" : nil
            }
            return results
        }
        // A client line that is only base64 (after any transcript or log prefix), answering a challenge.
        if let expected = expecting, let last = tokens.last, Self.isBase64Token(last) {
            add(last, expected)
            expecting = expected == "LOGIN user name" ? "LOGIN password" : nil
        }
        return results
    }

    /// A server challenge: the LOGIN prompt says which answer comes next; CRAM-MD5's is shown.
    private mutating func noteChallenge(_ challenge: String, add: (String, String?) -> Void) {
        let prompt = (try? Base64.decode(Array(challenge.utf8))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if prompt.lowercased().hasPrefix("username") || prompt.lowercased().hasPrefix("user name") {
            expecting = "LOGIN user name"
        } else if prompt.lowercased().hasPrefix("password") {
            expecting = "LOGIN password"
        } else if mechanism == "CRAM-MD5", !challenge.isEmpty {
            add(challenge, nil)
            expecting = "CRAM-MD5 response"
        } else if mechanism == "PLAIN" {
            expecting = "PLAIN"
        } else if let mechanism {
            expecting = mechanism
        }
    }

    /// The hint for a mechanism's first client message.
    private static func firstClientMessage(_ mechanism: String) -> String? {
        switch mechanism {
        case "PLAIN": "PLAIN"
        case "LOGIN": "LOGIN user name"
        case "XOAUTH2", "OAUTHBEARER": mechanism
        default: nil
        }
    }

    private static func isBase64Token(_ token: String) -> Bool {
        token.utf8.count >= 4 && token.utf8.count % 4 == 0
            && token.utf8.allSatisfy { Base64.alphabet.contains($0) || $0 == UInt8(ascii: "=") }
    }

    /// `250`, `334`, `535-`...: an SMTP reply code as the first token of a reply.
    private static func isReplyCode(_ token: String) -> Bool {
        let digits = token.prefix(3)
        guard digits.count == 3, digits.allSatisfy(\.isNumber), digits.first! >= "2", digits.first! <= "5" else { return false }
        return token.count == 3 || token.dropFirst(3).first == "-" || token.dropFirst(3).first == " "
    }
}
