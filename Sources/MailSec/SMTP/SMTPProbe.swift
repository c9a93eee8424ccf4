/// A live check of an SMTP service that logs in like a real client.
package enum SMTPProbe {
    package static func run(_ target: ProbeTarget, options: ProbeOptions) -> ProbeResult {
        var probe = Run(session: ProbeSession(target: target, options: options, advice: advice(port: target.port)))
        probe.execute()
        return probe.session.result
    }

    /// The ids in report order; checks not reached are reported as skipped.
    static let order = Finding.ID.smtpProbeOrder

    static func advice(port: UInt16) -> ServerAdvice {
        ServerAdvice(
            notListening: "is Postfix running and listening on port \(port)? Look with: postconf -M | grep \(port); ss -ltnp | grep :\(port)",
            handshakeFailed: "check the server's certificate and key" + Vocabulary.with(.verify) { " with \($0)" } + ", and its TLS settings (smtpd_tls_protocols, smtpd_tls_mandatory_ciphers)",
            oldProtocol: "set smtpd_tls_protocols = >=TLSv1.2 and smtpd_tls_mandatory_protocols = >=TLSv1.2",
            clearTextOnImplicitPort: "add -o smtpd_tls_wrappermode=yes to this service in master.cf (not in main.cf: that breaks port 25), then postfix reload",
            certificateSettings: "smtpd_tls_cert_file and smtpd_tls_key_file (or smtpd_tls_chain_files)")
    }

    private struct Run: ProbeDialogue {
        var session: ProbeSession
        static let order = SMTPProbe.order
        static let maximumLineLength = SMTPReplyParser.maximumLineLength
        static let implicitScheme: String? = "smtps"

        var skipReasons: [Finding.ID: String] {
            var reasons = session.commonSkipReasons()
            reasons["relay-denied"] = options.checkRelay ? "not reached" : "not asked (\(Vocabulary.name(.checkRelay)))"
            return reasons
        }

        mutating func dialogue(_ connection: ClientConnection) throws {
            if target.mode == .implicit {
                session.step = "tls-handshake"
                let isGreeting = { (line: String) in line.count >= 3 && line.prefix(3).allSatisfy(\.isNumber) }
                guard try session.startTLS(connection, greeting: isGreeting) else { return }
            }
            session.step = "banner"
            let banner = try connection.readSMTPReply()
            guard banner.code == 220 else {
                session.report.add(.fail("banner", "the server greeted with \(banner.firstLine) instead of 220",
                                         remedy: "a 554 greeting means the server refuses this client (postscreen, smtpd_client_restrictions); look at the mail log"))
                return
            }
            session.report.add(.pass("banner", "220 \(banner.lines.first ?? "")"))
            session.step = "ehlo"
            var extensions = try ehlo(connection)
            if target.mode == .starttls {
                let clearAuth = Self.authMechanisms(extensions).filter { ["PLAIN", "LOGIN"].contains($0) }
                if clearAuth.isEmpty {
                    session.report.add(.pass("auth-before-tls", "no password mechanism offered before TLS"))
                } else {
                    session.report.add(.fail("auth-before-tls", "AUTH \(clearAuth.joined(separator: " ")) is offered in clear text, before STARTTLS: passwords can be sent unencrypted",
                                             remedy: "set smtpd_tls_auth_only = yes (in main.cf, or -o smtpd_tls_auth_only=yes on this service in master.cf)"))
                }
                if extensions.contains(where: { $0.uppercased() == "STARTTLS" }) {
                    session.step = "tls-handshake"
                    try connection.send("STARTTLS")
                    let reply = try connection.readSMTPReply()
                    guard reply.code == 220 else {
                        session.report.add(.fail("tls-handshake", "STARTTLS was answered with \(reply.firstLine)", remedy: "check smtpd_tls_cert_file and smtpd_tls_key_file" + Vocabulary.with(.verify) { " with \($0)" } + "; see the mail log"))
                        return
                    }
                    guard try session.startTLS(connection) else { return }
                    session.step = "ehlo"
                    extensions = try ehlo(connection)
                } else if target.requireTLS {
                    session.report.add(.fail("tls-handshake", "STARTTLS is not offered, so nothing on this port is encrypted",
                                             remedy: "set smtpd_tls_security_level = may (or encrypt for submission) with smtpd_tls_cert_file and smtpd_tls_key_file"))
                    return
                } else {
                    session.report.add(.warn("tls-handshake", "STARTTLS is not offered: mail to this server travels unencrypted",
                                             remedy: "set smtpd_tls_security_level = may with smtpd_tls_cert_file and smtpd_tls_key_file"))
                }
            }
            session.reportUpgradeInsideTLS(advertised: extensions.contains(where: { $0.uppercased() == "STARTTLS" }),
                                           remedy: target.mode == .implicit ? "this service needs -o smtpd_tls_wrappermode=yes, and Postfix then stops advertising STARTTLS by itself" : "upgrade or fix the server: it must not offer STARTTLS twice",
                                           forbiddenBy: "RFC 3207 4.2")
            let mechanisms = Self.authMechanisms(extensions)
            session.reportMechanisms(mechanisms, command: "AUTH", noneOffered: "no AUTH offered",
                                     remedy: "set -o smtpd_sasl_auth_enable=yes on this service in master.cf, and smtpd_sasl_type/smtpd_sasl_path (e.g. dovecot, private/auth)")
            if options.checkRelay {
                session.step = "relay-denied"
                try relayCheck(connection)
            }
            if let user = options.authUser, let password = options.password, !mechanisms.isEmpty {
                session.step = "auth"
                try session.authenticate(SMTPFraming(connection: connection), user: user, password: password, offered: mechanisms, advice: .init(
                    refused: "check the credentials on Postfix's SASL socket (private/auth)" + Vocabulary.with(.authTest(socket: nil, user: user)) { ": \($0)" },
                    temporary: "Postfix could not reach its SASL backend in time: check it"
                        + Vocabulary.with(.authTest(socket: "/var/spool/postfix/private/auth", user: user)) { " with \($0)" }))
            }
            // QUIT without waiting for its 221, as blackbox_exporter and most
            // monitors end: the reply says nothing and costs a round trip on
            // every probe. The server still sees a client that said goodbye.
            try? connection.send("QUIT")
        }

        mutating func ehlo(_ connection: ClientConnection) throws -> [String] {
            session.report.findings.removeAll { $0.id == "ehlo" }
            do {
                try ProbeOptions.validateEHLO(options.ehloName)
            } catch let error as MailSecError {
                session.report.add(.fail("ehlo", "not sent: \(error.message)", remedy: error.remedy))
                throw ProbeStop()
            }
            try connection.send("EHLO \(options.ehloName)")
            let reply = try connection.readSMTPReply()
            guard reply.code == 250 else {
                session.report.add(.fail("ehlo", "EHLO was answered with \(reply.firstLine)", remedy: "see the mail log for why the server refuses EHLO \(options.ehloName)"))
                throw ProbeStop()
            }
            let extensions = Array(reply.lines.dropFirst())
            session.report.add(.pass("ehlo", "\(reply.lines.first ?? ""): \(extensions.joined(separator: ", "))"))
            return extensions
        }

        /// Without AUTH, a message for a foreign domain must be refused.
        mutating func relayCheck(_ connection: ClientConnection) throws {
            try connection.send("MAIL FROM:<mailsec-probe@example.net>")
            let from = try connection.readSMTPReply()
            defer { try? connection.send("RSET"); _ = try? connection.readSMTPReply() }
            guard from.isPositive else {
                session.report.add(.pass("relay-denied", "refused without AUTH already at MAIL FROM: \(from.firstLine)"))
                return
            }
            try connection.send("RCPT TO:<relay-test@example.org>")
            let rcpt = try connection.readSMTPReply()
            if rcpt.isPositive {
                session.report.add(.fail("relay-denied", "OPEN RELAY: mail for a foreign domain (example.org) was accepted without AUTH: \(rcpt.firstLine)",
                                         remedy: "set smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination (and on this service -o smtpd_client_restrictions=permit_sasl_authenticated,reject); check mynetworks does not include the world"))
            } else {
                session.report.add(.pass("relay-denied", "relaying without AUTH refused: \(rcpt.firstLine)"))
            }
        }

        /// AUTH mechanisms from EHLO extension lines (`AUTH PLAIN LOGIN`, and the old `AUTH=PLAIN`).
        static func authMechanisms(_ extensions: [String]) -> [String] {
            var names: [String] = []
            for line in extensions {
                let upper = line.uppercased()
                guard upper.hasPrefix("AUTH ") || upper.hasPrefix("AUTH=") else { continue }
                for name in upper.dropFirst(5).split(separator: " ") where !names.contains(String(name)) { names.append(String(name)) }
            }
            return names
        }
    }
}

/// SMTP AUTH (RFC 4954): `AUTH MECH [initial]`, `334 challenge` lines answered
/// with one base64 line each, `*` to cancel, 235 for success.
struct SMTPFraming: Base64LineFraming {
    let connection: ClientConnection

    func begin(_ mechanism: String, initial: SecureBytes?) throws {
        try sendAUTH(mechanism, initial: initial)
    }

    func next() throws -> SASLStep {
        let reply = try connection.readSMTPReply()
        switch reply.code {
        case 334: return try ProbeSession.decodeChallenge(reply.lines.first ?? "", framing: self)
        case 235: return .success(reply.firstLine)
        case 454, 432: return .failure(reply.firstLine, temporary: true)
        default: return .failure(reply.firstLine, temporary: false)
        }
    }

    func cancel() throws {
        try connection.send("*")
        _ = try? connection.readSMTPReply()
    }
}
