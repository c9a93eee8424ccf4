/// One POP3 status line (RFC 1939 3): `+OK text` or `-ERR text`; with
/// RESP-CODES (RFC 2449) a code in brackets may follow.
package struct POP3Status: Sendable, Equatable {
    package var ok: Bool
    package var code: String?
    package var text: String

    package init(parsing line: String) throws {
        let rest: Substring
        if line.hasPrefix("+OK") {
            ok = true
            rest = line.dropFirst(3)
        } else if line.hasPrefix("-ERR") {
            ok = false
            rest = line.dropFirst(4)
        } else {
            throw MailSecError(.protocolViolation, "not a POP3 status line: \(TextSanitizer.quoted(line.prefix(80)))")
        }
        var body = rest.drop { $0 == " " }
        if body.hasPrefix("["), let close = body.firstIndex(of: "]") {
            code = String(body[body.index(after: body.startIndex)..<close])
            body = body[body.index(after: close)...].drop { $0 == " " }
        }
        text = String(body)
    }

    package var shown: String { (ok ? "+OK" : "-ERR") + (code.map { " [\($0)]" } ?? "") + (text.isEmpty ? "" : " \(text)") }
}

/// The lines of a POP3 multi-line response after its status line, up to the
/// terminating `.`, with dot-stuffing undone; bounded.
struct POP3MultiLine {
    static let maximumLines = 1_000
    private(set) var lines: [String] = []

    /// Takes one line; true once the terminating `.` has come.
    mutating func add(_ line: String) throws -> Bool {
        if line == "." { return true }
        guard lines.count < Self.maximumLines else {
            throw MailSecError(.protocolViolation, "a multi-line response of more than \(Self.maximumLines) lines")
        }
        lines.append(line.hasPrefix(".") ? String(line.dropFirst()) : line)
        return false
    }
}

extension ClientConnection {
    func readPOP3Status() throws -> POP3Status {
        try POP3Status(parsing: readLine())
    }

    /// CAPA's list (after a `+OK`), uppercased.
    func readPOP3Lines() throws -> [String] {
        let until = deadline
        var body = POP3MultiLine()
        while try !body.add(readLine(deadline: until)) {}
        return body.lines
    }
}

/// A live check of a POP3 service (RFC 1939/2449/5034/2595) that logs in like a
/// mail client: greeting, CAPA, STLS, AUTH, QUIT.
package enum POP3Probe {
    package static func run(_ target: ProbeTarget, options: ProbeOptions) -> ProbeResult {
        var probe = Run(session: ProbeSession(target: target, options: options, advice: DovecotAdvice.server(target)))
        probe.execute()
        return probe.session.result
    }

    static let order = IMAPProbe.order

    private struct Run: ProbeDialogue {
        var session: ProbeSession
        static let order = POP3Probe.order
        static let maximumLineLength = 4096
        static let implicitScheme: String? = "pop3s"

        mutating func dialogue(_ connection: ClientConnection) throws {
            if target.mode == .implicit {
                session.step = "tls-handshake"
                guard try session.startTLS(connection, greeting: { $0.hasPrefix("+OK") }) else { return }
            }
            session.step = "banner"
            let greeting = try connection.readPOP3Status()
            guard greeting.ok else {
                session.report.add(.fail("banner", "the server refused the connection: \(greeting.shown)",
                                         remedy: "see Dovecot's log (doveadm log errors): a connection limit (mail_max_userip_connections, process_limit)"))
                return
            }
            session.report.add(.pass("banner", greeting.shown))
            session.step = "capabilities"
            var capabilities = try capa(connection)
            if target.mode == .starttls {
                var revealing: [String] = []
                if capabilities.contains("USER") { revealing.append("USER/PASS") }
                revealing += Self.mechanisms(capabilities).filter { $0 == "PLAIN" || $0 == "LOGIN" }.map { "SASL \($0)" }
                session.report.add(DovecotAdvice.clearTextFinding(revealing))
                if capabilities.contains("STLS") {
                    session.step = "tls-handshake"
                    try connection.send("STLS")
                    let reply = try connection.readPOP3Status()
                    guard reply.ok else {
                        session.report.add(.fail("tls-handshake", "STLS was answered with \(reply.shown)", remedy: session.advice.handshakeFailed))
                        return
                    }
                    guard try session.startTLS(connection) else { return }
                    session.step = "capabilities"
                    session.report.findings.removeAll { $0.id == "capabilities" }
                    capabilities = try capa(connection)
                } else if target.requireTLS {
                    session.report.add(.fail("tls-handshake", "STLS is not offered, so nothing on this port is encrypted", remedy: DovecotAdvice.tlsNotOffered))
                    return
                }
            }
            session.reportUpgradeInsideTLS(advertised: capabilities.contains("STLS"), command: "STLS")
            let mechanisms = Self.mechanisms(capabilities)
            session.reportMechanisms(mechanisms, command: "SASL", noneOffered: "no SASL mechanism offered", remedy: DovecotAdvice.noMechanism)
            if let user = options.authUser, let password = options.password, !mechanisms.isEmpty {
                session.step = "auth"
                try session.authenticate(POP3Framing(connection: connection), user: user, password: password, offered: mechanisms,
                                         advice: DovecotAdvice.login(user: user))
            }
            try? connection.send("QUIT")
            _ = try? connection.readPOP3Status()
        }

        /// CAPA (RFC 2449); a server without it has told us nothing, which is a warning.
        mutating func capa(_ connection: ClientConnection) throws -> [String] {
            try connection.send("CAPA")
            let reply = try connection.readPOP3Status()
            guard reply.ok else {
                session.report.add(.warn("capabilities", "CAPA is not supported (\(reply.shown)): clients cannot tell what the server offers",
                                         remedy: "use a POP3 server that implements RFC 2449 CAPA"))
                return []
            }
            let lines = try connection.readPOP3Lines().map { $0.uppercased() }
            session.report.add(.pass("capabilities", lines.joined(separator: ", ")))
            return lines
        }

        /// The mechanisms of the `SASL` capability line.
        static func mechanisms(_ capabilities: [String]) -> [String] {
            guard let line = capabilities.first(where: { $0 == "SASL" || $0.hasPrefix("SASL ") }) else { return [] }
            return line.dropFirst(4).split(separator: " ").map(String.init)
        }
    }
}

/// POP3 AUTH (RFC 5034): `AUTH MECH [initial]` (empty as `=`), `+ base64`
/// challenges answered by base64 lines, `*` to cancel, `+OK` or `-ERR`.
struct POP3Framing: Base64LineFraming {
    let connection: ClientConnection

    func begin(_ mechanism: String, initial: SecureBytes?) throws {
        try sendAUTH(mechanism, initial: initial)
    }

    func next() throws -> SASLStep {
        let line = try connection.readLine()
        if line == "+" || line.hasPrefix("+ ") {
            return try ProbeSession.decodeChallenge(String(line.dropFirst(2)), framing: self)
        }
        let status = try POP3Status(parsing: line)
        if status.ok { return .success(status.shown) }
        return .failure(status.shown, temporary: ["SYS/TEMP", "IN-USE", "LOGIN-DELAY"].contains(status.code?.uppercased() ?? ""))
    }

    func cancel() throws {
        try connection.send("*")
        _ = try? connection.readPOP3Status()
    }
}
