/// A live check of an IMAP service (RFC 9051/3501) that logs in like a mail client:
/// greeting, CAPABILITY, STARTTLS, AUTHENTICATE (with SASL-IR when offered), LOGOUT.
package enum IMAPProbe {
    package static func run(_ target: ProbeTarget, options: ProbeOptions) -> ProbeResult {
        var probe = Run(session: ProbeSession(target: target, options: options, advice: DovecotAdvice.server(target)))
        probe.execute()
        return probe.session.result
    }

    static let order = Finding.ID.mailProbeOrder

    static let maximumLineLength = 16_384

    private struct Run: ProbeDialogue {
        var session: ProbeSession
        var tags = IMAPTags()
        static let order = IMAPProbe.order
        static let maximumLineLength = IMAPProbe.maximumLineLength
        static let implicitScheme: String? = "imaps"

        mutating func dialogue(_ connection: ClientConnection) throws {
            if target.mode == .implicit {
                session.step = "tls-handshake"
                guard try session.startTLS(connection, greeting: { $0.hasPrefix("* OK") || $0.hasPrefix("* PREAUTH") }) else { return }
            }
            session.step = "banner"
            let greeting = try connection.readIMAPResponse()
            guard greeting.tag == "*", let status = greeting.status else {
                throw MailSecError(.protocolViolation, "the greeting is not an IMAP greeting: \(TextSanitizer.quoted(greeting.tag + " " + greeting.text))")
            }
            switch status {
            case "OK":
                session.report.add(.pass("banner", "* OK \(greeting.text)"))
            case "PREAUTH":
                session.report.add(.warn("banner", "* PREAUTH: the session is logged in before any authentication (\(greeting.text))",
                                         remedy: "IMAP served to the network must require a login; check that this is not a pre-authenticated (rimap/ssh) service"))
            default:
                session.report.add(.fail("banner", "the server refused the connection: * \(status) \(greeting.text)",
                                         remedy: "see Dovecot's log (doveadm log errors): a connection limit (mail_max_userip_connections, process_limit) or a login_trusted_networks rule"))
                return
            }
            session.step = "capabilities"
            var capabilities = try greeting.capabilities ?? capabilityCommand(connection)
            session.report.add(.pass("capabilities", capabilities.joined(separator: " ")))

            if target.mode == .starttls {
                session.step = "auth-before-tls"
                var revealing: [String] = []
                if !capabilities.contains("LOGINDISABLED") { revealing.append("the LOGIN command (no LOGINDISABLED)") }
                revealing += capabilities.filter { $0 == "AUTH=PLAIN" || $0 == "AUTH=LOGIN" }
                session.report.add(DovecotAdvice.clearTextFinding(revealing))
                if capabilities.contains("STARTTLS") {
                    session.step = "tls-handshake"
                    let tag = tags.next()
                    try connection.send("\(tag) STARTTLS")
                    let done = try completion(of: tag, connection)
                    guard done.status == "OK" else {
                        session.report.add(.fail("tls-handshake", "STARTTLS was answered with \(done.status ?? "?") \(done.text)", remedy: session.advice.handshakeFailed))
                        return
                    }
                    guard try session.startTLS(connection) else { return }
                    // Capabilities learnt before TLS must be forgotten (RFC 9051 6.2.1).
                    session.step = "capabilities"
                    capabilities = try capabilityCommand(connection)
                    session.report.findings.removeAll { $0.id == "capabilities" }
                    session.report.add(.pass("capabilities", capabilities.joined(separator: " ")))
                } else if target.requireTLS {
                    session.report.add(.fail("tls-handshake", "STARTTLS is not offered, so nothing on this port is encrypted", remedy: DovecotAdvice.tlsNotOffered))
                    return
                }
            }
            session.reportUpgradeInsideTLS(advertised: capabilities.contains("STARTTLS"))
            let mechanisms = capabilities.filter { $0.hasPrefix("AUTH=") }.map { String($0.dropFirst(5)) }
            session.reportMechanisms(mechanisms, command: "AUTHENTICATE", noneOffered: "no SASL mechanism (AUTH=) offered", remedy: DovecotAdvice.noMechanism)
            if let user = options.authUser, let password = options.password, !mechanisms.isEmpty {
                session.step = "auth"
                let framing = IMAPFraming(connection: connection, tag: tags.next(), initialResponse: capabilities.contains("SASL-IR"))
                try session.authenticate(framing, user: user, password: password, offered: mechanisms, advice: DovecotAdvice.login(user: user))
            }
            let tag = tags.next()
            try? connection.send("\(tag) LOGOUT")
            _ = try? completion(of: tag, connection)
        }

        /// `CAPABILITY`: the untagged list, up to the tagged OK.
        mutating func capabilityCommand(_ connection: ClientConnection) throws -> [String] {
            let tag = tags.next()
            try connection.send("\(tag) CAPABILITY")
            var found: [String]?
            let done = try completion(of: tag, connection) { response in
                if let listed = response.capabilities { found = listed }
            }
            guard done.status == "OK", let found else {
                throw MailSecError(.protocolViolation, "CAPABILITY was answered with \(done.status ?? "?") \(done.text) and no capability list")
            }
            return found
        }

        /// Reads responses up to the one tagged `tag`, handing the untagged ones to `untagged`.
        func completion(of tag: String, _ connection: ClientConnection, untagged: (IMAPResponse) -> Void = { _ in }) throws -> IMAPResponse {
            for _ in 0..<1_000 {
                let response = try connection.readIMAPResponse()
                if response.tag == tag { return response }
                if response.tag == "*", response.status == "BYE" {
                    throw MailSecError(.connectionClosed, "the server ended the session: * BYE \(response.text)")
                }
                untagged(response)
            }
            throw MailSecError(.protocolViolation, "more than 1000 responses without the completion of \(tag)")
        }
    }
}

/// Command tags: a1, a2, ...
struct IMAPTags {
    private var counter = 0
    mutating func next() -> String {
        counter += 1
        return "a\(counter)"
    }
}

/// IMAP AUTHENTICATE (RFC 9051 6.2.2, SASL-IR RFC 4959): the initial response
/// on the command line when the server allows it, else after an empty `+`;
/// `+ base64` challenges answered by base64 lines; `*` cancels; the tagged
/// OK or NO ends it.
final class IMAPFraming: Base64LineFraming {
    let connection: ClientConnection
    let tag: String
    let initialResponse: Bool
    private var pendingInitial: SecureBytes?

    init(connection: ClientConnection, tag: String, initialResponse: Bool) {
        self.connection = connection
        self.tag = tag
        self.initialResponse = initialResponse
    }

    func begin(_ mechanism: String, initial: SecureBytes?) throws {
        if let initial, initialResponse {
            try connection.sendSecret(initialResponseWireForm(initial), prefix: "\(tag) AUTHENTICATE \(mechanism) ")
        } else {
            pendingInitial = initial
            try connection.send("\(tag) AUTHENTICATE \(mechanism)")
        }
    }

    func next() throws -> SASLStep {
        for _ in 0..<1_000 {
            let response = try connection.readIMAPResponse()
            if response.tag == "+" {
                if let initial = pendingInitial {
                    pendingInitial = nil
                    try answer(initial)
                    continue
                }
                return try ProbeSession.decodeChallenge(response.text, framing: self)
            }
            guard response.tag == tag else { continue }
            let shown = "\(response.status ?? "?")\(response.code.map { " [\($0)]" } ?? "") \(response.text)"
            if response.status == "OK" { return .success(shown) }
            let temporary = ["UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE"].contains(response.code?.uppercased() ?? "")
            return .failure(shown, temporary: temporary)
        }
        throw MailSecError(.protocolViolation, "more than 1000 responses during AUTHENTICATE")
    }

    func cancel() throws {
        try connection.send("*")
        _ = try? next()
    }
}
