/// One field of a decoded AUTH string. A secret field's value is only
/// revealed on request.
public struct DecodedField: Sendable {
    public var name: String
    public var value: SecureBytes
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
    public var fields: [DecodedField]
    /// 1-based line in a log, when decoded from one.
    public var line: Int?
}

/// Reads AUTH strings and SMTP/Dovecot logs.
public enum AuthStringDecoder {
    /// Decodes one base64 AUTH string and recognises its shape.
    public static func decode(_ text: String, hint: String? = nil) throws -> DecodedAuthString {
        let trimmed = text.trimmingWhitespace()
        if trimmed == "=" { return DecodedAuthString(kind: "empty initial response (RFC 4954 '=')", fields: []) }
        let bytes: SecureBytes
        do {
            bytes = try Base64.decodeSecure(Array(trimmed.utf8))
        } catch {
            throw MailSecError(.invalidInput, "'\(trimmed.count > 40 ? String(trimmed.prefix(40)) + "…" : trimmed)': \(error)")
        }
        return recognise(bytes, hint: hint)
    }

    /// What the decoded bytes look like, helped by the mechanism when known.
    static func recognise(_ bytes: SecureBytes, hint: String?) -> DecodedAuthString {
        let parts = bytes.withUnsafeBytes { raw in raw.split(separator: 0, omittingEmptySubsequences: false).map { SecureBytes($0) } }
        if hint == nil || hint == "PLAIN", parts.count == 3 {
            return DecodedAuthString(kind: "PLAIN", fields: [
                DecodedField(name: "authorization identity", value: parts[0], isSecret: false),
                DecodedField(name: "user", value: parts[1], isSecret: false),
                DecodedField(name: "password", value: parts[2], isSecret: true),
            ])
        }
        let text = bytes.withUnsafeBytes { Array($0) }
        if hint == nil || hint == "XOAUTH2", text.starts(with: Array("user=".utf8)), text.contains(1) {
            let items = text.split(separator: 1).map { Array($0) }
            var fields: [DecodedField] = []
            for item in items {
                if item.starts(with: Array("user=".utf8)) {
                    fields.append(DecodedField(name: "user", value: SecureBytes(item.dropFirst(5)), isSecret: false))
                } else if item.starts(with: Array("auth=".utf8)) {
                    fields.append(DecodedField(name: "auth (bearer token)", value: SecureBytes(item.dropFirst(5)), isSecret: true))
                }
            }
            return DecodedAuthString(kind: "XOAUTH2", fields: fields)
        }
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

    /// Every AUTH exchange in an SMTP transcript (swaks, `openssl s_client`,
    /// `C:`/`S:` lines) or a Postfix/Dovecot debug log, in order. Follows the
    /// LOGIN and CRAM-MD5 challenges so the next client line is read as what
    /// it is. A line that does not decode is reported, not fatal.
    public static func decodeLog(_ lines: some Sequence<String>) -> [Result<DecodedAuthString, MailSecError>] {
        var results: [Result<DecodedAuthString, MailSecError>] = []
        var expecting: String?    // what the next base64 line from the client is
        var mechanism: String?    // the mechanism of the exchange in progress
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 1
            func add(_ text: String, _ hint: String?) {
                do {
                    var decoded = try decode(text, hint: hint)
                    decoded.line = lineNumber
                    results.append(.success(decoded))
                } catch let error as MailSecError {
                    results.append(.failure(MailSecError(.invalidInput, "line \(lineNumber): \(error.message)")))
                } catch {}
            }
            let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)

            // Dovecot's auth debug log: "client in: AUTH<TAB>1<TAB>PLAIN<TAB>...<TAB>resp=BASE64", "CONT<TAB>1<TAB>BASE64".
            if let resp = tokens.first(where: { $0.hasPrefix("resp=") }), let authIndex = tokens.firstIndex(of: "AUTH"), authIndex + 2 < tokens.count {
                mechanism = tokens[authIndex + 2].uppercased()
                let value = String(resp.dropFirst(5))
                if value != "<hidden>" { add(value, mechanism) }
                continue
            }
            // Server replies: a 334 challenge tells what the client sends next; 235/535 end the exchange.
            if let reply = tokens.first(where: isReplyCode) {
                let code = reply.prefix(3)
                if code == "334" {
                    let next = tokens.firstIndex(of: reply).map { $0 + 1 } ?? tokens.count
                    let challenge = reply.count > 4 ? String(reply.dropFirst(4)) : (next < tokens.count ? tokens[next] : "")
                    let prompt = (try? Base64.decode(Array(challenge.utf8))).map { String(decoding: $0, as: UTF8.self) } ?? ""
                    if prompt.lowercased().hasPrefix("username") {
                        expecting = "LOGIN user name"
                    } else if prompt.lowercased().hasPrefix("password") {
                        expecting = "LOGIN password"
                    } else if mechanism == "CRAM-MD5", !challenge.isEmpty {
                        add(challenge, nil)
                        expecting = "CRAM-MD5 response"
                    } else if mechanism == "PLAIN" {
                        expecting = "PLAIN"
                    }
                } else if code != "250" {
                    expecting = nil
                    mechanism = nil
                }
                continue
            }
            // Client commands: AUTH MECH [initial-response].
            if let authIndex = tokens.lastIndex(where: { $0.uppercased() == "AUTH" }), authIndex + 1 < tokens.count {
                let name = tokens[authIndex + 1].uppercased()
                mechanism = name
                expecting = name == "PLAIN" ? "PLAIN" : (name == "LOGIN" ? "LOGIN user name" : nil)
                if authIndex + 2 < tokens.count {
                    add(tokens[authIndex + 2], name == "LOGIN" ? "LOGIN user name" : name)
                    expecting = name == "LOGIN" ? "LOGIN password" : nil
                }
                continue
            }
            // A client line that is only base64 (after any transcript or log prefix), answering a challenge.
            if let expected = expecting, let last = tokens.last, isBase64Token(last) {
                add(last, expected)
                expecting = expected == "LOGIN user name" ? "LOGIN password" : nil
            }
        }
        return results
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
