/// One item of a ManageSieve line (RFC 5804 4): an atom, a string (quoted
/// or a literal), or a parenthesis around a response code.
package enum SieveToken: Sendable, Equatable {
    case atom(String)
    case string(String)
    case open
    case close
}

/// Splits ManageSieve lines into tokens, bounded; a literal `{n}` / `{n+}`
/// at the end of a line is read by the caller and handed back as a string.
package enum SieveTokenizer {
    /// Tokens of one physical line, and the length of a literal that ends it, if any.
    package static func tokens(_ line: String) throws -> (tokens: [SieveToken], literal: Int?) {
        var tokens: [SieveToken] = []
        let scalars = Array(line.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case " ", "\t":
                index += 1
            case "(":
                tokens.append(.open)
                index += 1
            case ")":
                tokens.append(.close)
                index += 1
            case "\"":
                var value = String.UnicodeScalarView()
                index += 1
                var closed = false
                while index < scalars.count {
                    let next = scalars[index]
                    if next == "\\", index + 1 < scalars.count {
                        value.append(scalars[index + 1])
                        index += 2
                    } else if next == "\"" {
                        index += 1
                        closed = true
                        break
                    } else {
                        value.append(next)
                        index += 1
                    }
                }
                guard closed else { throw MailSecError(.protocolViolation, "an unterminated quoted string in \(TextSanitizer.quoted(line.prefix(80)))") }
                tokens.append(.string(String(value)))
            case "{":
                // Only legal at the end of the line: the literal's bytes follow it.
                var end = index + 1
                while end < scalars.count, scalars[end] != "}" { end += 1 }
                guard end == scalars.count - 1 else {
                    throw MailSecError(.protocolViolation, "a literal that does not end the line in \(TextSanitizer.quoted(line.prefix(80)))")
                }
                var digits = String(String.UnicodeScalarView(scalars[(index + 1)..<end]))
                if digits.hasSuffix("+") { digits.removeLast() }
                guard digits.count <= 10, let count = Int(digits), count >= 0 else {
                    throw MailSecError(.protocolViolation, "a malformed literal length in \(TextSanitizer.quoted(line.prefix(80)))")
                }
                return (tokens, count)
            default:
                var end = index
                while end < scalars.count, !" \t()\"{".unicodeScalars.contains(scalars[end]) { end += 1 }
                tokens.append(.atom(String(String.UnicodeScalarView(scalars[index..<end]))))
                index = end
            }
        }
        return (tokens, nil)
    }
}

/// A complete ManageSieve response: the data lines before the status line
/// (capabilities, or a SASL challenge), and `OK` / `NO` / `BYE` with its code and text.
package struct SieveResponse: Sendable {
    package var data: [[SieveToken]]
    package var status: String
    package var code: String?
    package var text: String?

    package var shown: String { status + (code.map { " (\($0))" } ?? "") + (text.map { " \(TextSanitizer.quoted($0))" } ?? "") }

    /// `"NAME" "VALUE"` lines as name (uppercased) and value.
    package var capabilities: [(name: String, value: String?)] {
        data.compactMap { line in
            guard case .string(let name) = line.first else { return nil }
            if line.count > 1, case .string(let value) = line[1] { return (name.uppercased(), value) }
            return (name.uppercased(), nil)
        }
    }

    /// Interprets a status line's tokens; nil when the line is data.
    static func status(_ tokens: [SieveToken]) -> (status: String, code: String?, text: String?)? {
        guard case .atom(let word) = tokens.first, ["OK", "NO", "BYE"].contains(word.uppercased()) else { return nil }
        var rest = tokens.dropFirst()
        var code: String?
        if rest.first == .open, let close = rest.firstIndex(of: .close) {
            code = rest[(rest.startIndex + 1)..<close].map { token -> String in
                switch token {
                case .atom(let value): value
                case .string(let value): "\"\(value)\""
                case .open: "("
                case .close: ")"
                }
            }.joined(separator: " ")
            rest = rest[(close + 1)...]
        }
        var text: String?
        if case .string(let value) = rest.first { text = value }
        return (word.uppercased(), code, text)
    }
}

extension ClientConnection {
    static let sieveMaximumLiteral = 65_536
    static let sieveMaximumLines = 1_000

    /// One logical line: physical lines joined across literals, bounded.
    func readSieveLine(deadline until: Deadline) throws -> [SieveToken] {
        var (tokens, literal) = try SieveTokenizer.tokens(readLine(deadline: until))
        var size = 0
        while let count = literal {
            size += count
            guard size <= Self.sieveMaximumLiteral else {
                throw MailSecError(.protocolViolation, "the server announced a literal of \(count) bytes; a probe reads at most \(Self.sieveMaximumLiteral)")
            }
            tokens.append(.string(String(decoding: try readBytes(count, deadline: until), as: UTF8.self)))
            let rest = try SieveTokenizer.tokens(readLine(deadline: until))
            tokens += rest.tokens
            literal = rest.literal
        }
        return tokens
    }

    /// Data lines up to and with the status line.
    func readSieveResponse() throws -> SieveResponse {
        let until = deadline
        var data: [[SieveToken]] = []
        while data.count < Self.sieveMaximumLines {
            let tokens = try readSieveLine(deadline: until)
            if let status = SieveResponse.status(tokens) {
                return SieveResponse(data: data, status: status.status, code: status.code, text: status.text)
            }
            data.append(tokens)
        }
        throw MailSecError(.protocolViolation, "more than \(Self.sieveMaximumLines) lines without OK, NO or BYE")
    }
}

/// A live check of a ManageSieve service (RFC 5804, port 4190) that logs in
/// like a Sieve client: the capability greeting, STARTTLS, AUTHENTICATE, LOGOUT.
package enum SieveProbe {
    package static func run(_ target: ProbeTarget, options: ProbeOptions) -> ProbeResult {
        var probe = Run(session: ProbeSession(target: target, options: options, advice: DovecotAdvice.server(target)))
        probe.execute()
        return probe.session.result
    }

    static let order = IMAPProbe.order

    private struct Run: ProbeDialogue {
        var session: ProbeSession
        static let order = SieveProbe.order
        static let maximumLineLength = 16_384
        /// ManageSieve has no implicit-TLS port to suggest.
        static let implicitScheme: String? = nil

        mutating func dialogue(_ connection: ClientConnection) throws {
            if target.mode == .implicit {
                session.step = "tls-handshake"
                guard try session.startTLS(connection, greeting: { $0.hasPrefix("\"IMPLEMENTATION\"") }) else { return }
            }
            session.step = "banner"
            var greeting = try connection.readSieveResponse()
            guard greeting.status == "OK" else {
                session.report.add(.fail("banner", "the server refused the connection: \(greeting.shown)",
                                         remedy: "see Dovecot's log (doveadm log errors): a connection limit or a login restriction"))
                return
            }
            session.report.add(.pass("banner", greeting.shown))
            session.step = "capabilities"
            var capabilities = try Self.listed(greeting)
            session.report.add(.pass("capabilities", Self.describe(capabilities)))
            if target.mode == .starttls {
                let clearAuth = Self.mechanisms(capabilities).filter { $0 == "PLAIN" || $0 == "LOGIN" }.map { "SASL \($0)" }
                session.report.add(DovecotAdvice.clearTextFinding(clearAuth))
                if capabilities.contains(where: { $0.name == "STARTTLS" }) {
                    session.step = "tls-handshake"
                    try connection.send("STARTTLS")
                    let reply = try connection.readSieveResponse()
                    guard reply.status == "OK" else {
                        session.report.add(.fail("tls-handshake", "STARTTLS was answered with \(reply.shown)", remedy: session.advice.handshakeFailed))
                        return
                    }
                    guard try session.startTLS(connection) else { return }
                    // The server sends its capabilities again after the handshake (RFC 5804 2.2).
                    session.step = "capabilities"
                    greeting = try connection.readSieveResponse()
                    capabilities = try Self.listed(greeting)
                    session.report.findings.removeAll { $0.id == "capabilities" }
                    session.report.add(.pass("capabilities", Self.describe(capabilities)))
                } else if target.requireTLS {
                    session.report.add(.fail("tls-handshake", "STARTTLS is not offered, so nothing on this port is encrypted", remedy: DovecotAdvice.tlsNotOffered))
                    return
                }
            }
            session.reportUpgradeInsideTLS(advertised: capabilities.contains(where: { $0.name == "STARTTLS" }))
            let mechanisms = Self.mechanisms(capabilities)
            session.reportMechanisms(mechanisms, command: "SASL", noneOffered: "no SASL mechanism offered", remedy: DovecotAdvice.noMechanism)
            if let user = options.authUser, let password = options.password, !mechanisms.isEmpty {
                session.step = "auth"
                try session.authenticate(SieveFraming(connection: connection), user: user, password: password, offered: mechanisms,
                                         advice: DovecotAdvice.login(user: user))
            }
            try? connection.send("LOGOUT")
            _ = try? connection.readSieveResponse()
        }

        static func listed(_ response: SieveResponse) throws -> [(name: String, value: String?)] {
            let capabilities = response.capabilities
            guard !capabilities.isEmpty else {
                throw MailSecError(.protocolViolation, "the server sent no capability list before \(response.shown)")
            }
            return capabilities
        }

        static func describe(_ capabilities: [(name: String, value: String?)]) -> String {
            capabilities.map { $0.name + ($0.value.map { "=\($0.count > 60 ? String($0.prefix(60)) + "…" : $0)" } ?? "") }.joined(separator: ", ")
        }

        static func mechanisms(_ capabilities: [(name: String, value: String?)]) -> [String] {
            (capabilities.first { $0.name == "SASL" }?.value ?? "").uppercased().split(separator: " ").map(String.init)
        }
    }
}

/// ManageSieve AUTHENTICATE (RFC 5804 2.1): `AUTHENTICATE "MECH" "initial"`,
/// challenges as strings answered by quoted base64 strings, `"*"` to cancel,
/// `OK` or `NO` to end.
struct SieveFraming: SASLFraming {
    let connection: ClientConnection

    func begin(_ mechanism: String, initial: SecureBytes?) throws {
        if let initial {
            let encoded = initial.isEmpty ? SecureBytes() : initial.withUnsafeBytes { Base64.encodeSecure($0) }
            try connection.sendSecret(encoded, prefix: "AUTHENTICATE \"\(mechanism)\" \"", suffix: "\"")
        } else {
            try connection.send("AUTHENTICATE \"\(mechanism)\"")
        }
    }

    func next() throws -> SASLStep {
        let tokens = try connection.readSieveLine(deadline: connection.deadline)
        if let status = SieveResponse.status(tokens) {
            let shown = status.status + (status.code.map { " (\($0))" } ?? "") + (status.text.map { " \(TextSanitizer.quoted($0))" } ?? "")
            if status.status == "OK" { return .success(shown) }
            // BYE is the server giving up on the session, not a verdict on the credentials.
            return .failure(shown, temporary: status.status == "BYE" || status.code?.uppercased().hasPrefix("TRYLATER") == true)
        }
        guard case .string(let challenge) = tokens.first else {
            throw MailSecError(.protocolViolation, "neither a challenge nor OK/NO during AUTHENTICATE")
        }
        return try ProbeSession.decodeChallenge(challenge, framing: self)
    }

    func answer(_ response: SecureBytes) throws {
        try connection.sendSecret(response.withUnsafeBytes { Base64.encodeSecure($0) }, prefix: "\"", suffix: "\"")
    }

    func cancel() throws {
        try connection.send("\"*\"")
        _ = try? connection.readSieveResponse()
    }
}
