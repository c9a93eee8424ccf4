
/// How to probe.
public struct ProbeOptions: Sendable {
    /// SNI to send (default: the target host).
    public var serverName: String?
    /// The name the certificate must cover (default: the target host).
    public var verifyHost: String?
    public var trust: TrustAnchors = .system
    public var ehloName = "mailsec.invalid"
    public var authUser: String?
    public var password: SecureBytes?
    /// A mechanism, or "auto": the strongest the server offers that we have.
    public var mechanism = "auto"
    public var checkRelay = false
    /// Allowed for each network step.
    public var timeout: Duration = .seconds(10)
    /// Allowed for the whole probe of one target (default: three steps' worth),
    /// so a server that answers each step just in time cannot hold it for long.
    public var overallTimeout: Duration?
    public var warnDays = 30
    /// The local address to connect from (as swaks' --local-interface).
    public var source: String?
    /// Log in even when the certificate did not verify (the password may go to whoever is in the middle).
    public var allowUnverifiedAuth = false

    public init() {}

    var effectiveOverallTimeout: Duration { overallTimeout ?? timeout * 3 }

    /// An EHLO argument must be a domain or an address literal: anything else,
    /// a CR or LF above all, would let the caller inject SMTP commands.
    public static func validateEHLO(_ name: String) throws {
        if name.hasPrefix("["), name.hasSuffix("]") {
            let inner = String(name.dropFirst().dropLast())
            let address = inner.lowercased().hasPrefix("ipv6:") ? String(inner.dropFirst(5)) : inner
            guard IPAddress.normalize(address) != nil else {
                throw MailSecError(.invalidInput, "--ehlo \(TextSanitizer.quoted(name)): an address literal must hold an IPv4 or IPv6:-prefixed IPv6 address")
            }
            return
        }
        do {
            _ = try Hostname.normalize(name, field: "EHLO name")
        } catch let error as MailSecError {
            throw MailSecError(.invalidInput, error.message, remedy: "give a domain (mail.example.com) or an address literal ([192.0.2.1])")
        }
    }
}

/// The findings for one target, and the facts behind them.
public struct ProbeResult: Sendable {
    public var target: ProbeTarget
    public var report: Report
    public var certificate: CertificateFacts?
    public var tls: TLSDetails?
    public var transcript: [String]
}

/// A live check of an SMTP service that logs in like a real client.
public enum SMTPProbe {
    public static func run(_ target: ProbeTarget, options: ProbeOptions) -> ProbeResult {
        var probe = Run(target: target, options: options)
        probe.execute()
        return ProbeResult(target: target, report: probe.report, certificate: probe.certificate, tls: probe.tls, transcript: probe.transcript.lines)
    }

    /// The ids in report order; checks not reached are reported as skipped.
    static let order = ["connect", "tls-handshake", "certificate-hostname", "certificate-expiry", "certificate-chain",
                        "banner", "ehlo", "auth-before-tls", "starttls-after-tls", "auth-offered", "relay-denied", "auth"]

    /// Ends the dialogue early after a check has already recorded why.
    private struct Stop: Error {}

    private struct Run {
        let target: ProbeTarget
        let options: ProbeOptions
        var report = Report()
        var certificate: CertificateFacts?
        var tls: TLSDetails?
        let transcript = Transcript()
        var connection: ClientConnection?
        /// The check in progress, which an interrupted dialogue fails.
        var step = "connect"
        /// Why the certificate cannot be trusted, when it cannot: no password is sent then.
        var unverified: String?
        let overallDeadline: Deadline

        init(target: ProbeTarget, options: ProbeOptions) {
            self.target = target
            self.options = options
            overallDeadline = .after(options.effectiveOverallTimeout)
        }

        mutating func execute() {
            defer {
                fillSkipped()
                connection?.close()
            }
            let started = ContinuousClock.now
            do {
                connection = try ClientConnection(host: target.host, port: target.port, source: options.source, timeout: options.timeout,
                                                  overallDeadline: overallDeadline, maximumLineLength: SMTPReplyParser.maximumLineLength,
                                                  transcript: transcript, peerName: "the server")
                transcript.event("connected to \(target.host):\(target.port)")
                report.add(.pass("connect", "connected to \(target.host):\(target.port) in \(Int((ContinuousClock.now - started).milliseconds)) ms"))
            } catch let error as MailSecError {
                report.add(Self.connectFailure(error, port: target.port))
                return
            } catch {
                report.add(.fail("connect", "\(error)"))
                return
            }
            guard let connection else { return }
            do {
                try dialogue(connection)
            } catch is Stop {
                return
            } catch let error as MailSecError {
                recordInterruption(error, connection: connection)
            } catch {
                recordInterruption(MailSecError(.io, "\(error)"), connection: connection)
            }
        }

        static func connectFailure(_ error: MailSecError, port: UInt16) -> Finding {
            switch error.code {
            case .connectionRefused:
                return .fail("connect", error.message, remedy: "is Postfix running and listening on port \(port)? Look with: postconf -M | grep \(port); ss -ltnp | grep :\(port)")
            case .timeout:
                return .fail("connect", error.message, remedy: "no answer: a firewall dropping packets? Open the port, e.g. firewall-cmd --permanent --add-port=\(port)/tcp && firewall-cmd --reload")
            default:
                return .fail("connect", error.message, remedy: error.remedy)
            }
        }

        mutating func dialogue(_ connection: ClientConnection) throws {
            if target.mode == .implicit {
                step = "tls-handshake"
                guard try handshake(connection, diagnoseClearText: true) else { return }
            }
            step = "banner"
            let banner = try connection.readSMTPReply()
            guard banner.code == 220 else {
                report.add(.fail("banner", "the server greeted with \(banner.firstLine) instead of 220",
                                 remedy: "a 554 greeting means the server refuses this client (postscreen, smtpd_client_restrictions); look at the mail log"))
                return
            }
            report.add(.pass("banner", "220 \(banner.lines.first ?? "")"))
            step = "ehlo"
            var extensions = try ehlo(connection)
            if target.mode == .starttls {
                let clearAuth = Self.authMechanisms(extensions).filter { ["PLAIN", "LOGIN"].contains($0) }
                if clearAuth.isEmpty {
                    report.add(.pass("auth-before-tls", "no password mechanism offered before TLS"))
                } else {
                    report.add(.fail("auth-before-tls", "AUTH \(clearAuth.joined(separator: " ")) is offered in clear text, before STARTTLS: passwords can be sent unencrypted",
                                     remedy: "set smtpd_tls_auth_only = yes (in main.cf, or -o smtpd_tls_auth_only=yes on this service in master.cf)"))
                }
                if extensions.contains(where: { $0.uppercased() == "STARTTLS" }) {
                    step = "tls-handshake"
                    try connection.send("STARTTLS")
                    let reply = try connection.readSMTPReply()
                    guard reply.code == 220 else {
                        report.add(.fail("tls-handshake", "STARTTLS was answered with \(reply.firstLine)", remedy: "check smtpd_tls_cert_file and smtpd_tls_key_file with mailsec verify; see the mail log"))
                        return
                    }
                    guard try handshake(connection) else { return }
                    step = "ehlo"
                    extensions = try ehlo(connection)
                } else if target.requireTLS {
                    report.add(.fail("tls-handshake", "STARTTLS is not offered, so nothing on this port is encrypted",
                                     remedy: "set smtpd_tls_security_level = may (or encrypt for submission) with smtpd_tls_cert_file and smtpd_tls_key_file"))
                    return
                } else {
                    report.add(.warn("tls-handshake", "STARTTLS is not offered: mail to this server travels unencrypted",
                                     remedy: "set smtpd_tls_security_level = may with smtpd_tls_cert_file and smtpd_tls_key_file"))
                }
            }
            if tls != nil {
                if extensions.contains(where: { $0.uppercased() == "STARTTLS" }) {
                    report.add(.fail("starttls-after-tls", "STARTTLS is advertised although TLS is already up (RFC 3207 4.2 forbids it); clients may fail",
                                     remedy: target.mode == .implicit ? "this service needs -o smtpd_tls_wrappermode=yes, and Postfix then stops advertising STARTTLS by itself" : "upgrade or fix the server: it must not offer STARTTLS twice"))
                } else {
                    report.add(.pass("starttls-after-tls", "STARTTLS is not advertised again inside TLS"))
                }
            }
            let mechanisms = Self.authMechanisms(extensions)
            if mechanisms.isEmpty {
                let message = "no AUTH offered\(tls != nil ? " after TLS" : "")"
                let remedy = "set -o smtpd_sasl_auth_enable=yes on this service in master.cf, and smtpd_sasl_type/smtpd_sasl_path (e.g. dovecot, private/auth)"
                report.add(options.authUser == nil ? .warn("auth-offered", message, remedy: remedy) : .fail("auth-offered", message, remedy: remedy))
            } else {
                report.add(.pass("auth-offered", "AUTH \(mechanisms.joined(separator: " "))"))
            }
            if options.checkRelay {
                step = "relay-denied"
                try relayCheck(connection)
            }
            if let user = options.authUser, let password = options.password, !mechanisms.isEmpty {
                step = "auth"
                try authenticate(connection, user: user, password: password, offered: mechanisms)
            }
            try? connection.send("QUIT")
            _ = try? connection.readSMTPReply()
        }

        /// A fresh plain connection to the target: the first line it sends
        /// within a short wait, if it is an SMTP greeting.
        func clearTextGreeting() -> String? {
            let wait = min(options.timeout, .seconds(3))
            guard let socket = try? Socket.connect(to: .inet(host: target.host, port: target.port), source: options.source,
                                                   deadline: .after(wait), peerName: "the server") else { return nil }
            let reader = LineReader(stream: socket, maximumLineLength: SMTPReplyParser.maximumLineLength)
            guard let line = try? reader.readLine(deadline: .after(wait)) else { return nil }
            let text = String(decoding: line, as: UTF8.self)
            guard text.count >= 3, text.prefix(3).allSatisfy(\.isNumber) else { return nil }
            return text
        }

        /// Whether a TLS handshake succeeds on a fresh connection: how a port
        /// that stays silent in clear text shows that it waits for TLS.
        func answersTLS() -> Bool {
            let wait = min(options.timeout, .seconds(3))
            guard let socket = try? Socket.connect(to: .inet(host: target.host, port: target.port), source: options.source,
                                                   deadline: .after(wait), peerName: "the server"),
                  let session = try? TLSStream(over: socket, serverName: options.serverName ?? target.host) else { return false }
            defer { session.shutdown() }
            return (try? session.handshake(deadline: .after(wait))) != nil
        }

        /// Implicit TLS, or TLS after STARTTLS. Only if an implicit handshake
        /// fails is a second, plain connection opened, to see whether this is
        /// clear-text SMTP on a TLS port (healthy servers pay nothing for it).
        mutating func handshake(_ connection: ClientConnection, diagnoseClearText: Bool = false) throws -> Bool {
            let serverName = options.serverName ?? target.host
            let details: TLSDetails
            let chain: [Certificate]
            do {
                (details, chain) = try connection.startTLS(serverName: serverName)
            } catch let error as MailSecError {
                if diagnoseClearText, let greeting = clearTextGreeting() {
                    report.add(.fail("tls-handshake", "the server speaks clear text on this implicit-TLS port: \"\(greeting)\"",
                                     remedy: "add -o smtpd_tls_wrappermode=yes to this service in master.cf (not in main.cf: that breaks port 25), then postfix reload"))
                } else {
                    report.add(.fail("tls-handshake", "TLS handshake failed: \(error.message)",
                                     remedy: "check the server's certificate and key with mailsec verify, and its TLS settings (smtpd_tls_protocols, smtpd_tls_mandatory_ciphers)"))
                }
                return false
            }
            tls = details
            let old = ["TLSv1", "TLSv1.1", "SSLv3"].contains(details.version)
            let message = "\(details.version), \(details.cipher), in \(Int(details.handshakeMilliseconds)) ms"
            report.add(old ? .warn("tls-handshake", "\(message): below TLS 1.2", remedy: "set smtpd_tls_protocols = >=TLSv1.2 and smtpd_tls_mandatory_protocols = >=TLSv1.2")
                           : .pass("tls-handshake", message))
            guard let leaf = chain.first else {
                report.add(.fail("certificate-chain", "the server sent no certificate"))
                unverified = "the server sent no certificate"
                return true
            }
            certificate = try? CertificateFacts(leaf)
            let store: TrustStore
            do {
                store = try TrustStore(options.trust)
            } catch let error as MailSecError {
                report.add(.fail("certificate-chain", error.message))
                unverified = "the trust store could not be read"
                return true
            }
            let host = options.verifyHost ?? target.host
            let checks = CertificateVerifier.certificateFindings(leaf: leaf, intermediates: Array(chain.dropFirst()), hosts: [host],
                                                                 store: store, warnDays: options.warnDays)
            for finding in Self.certificateChecks(checks) {
                report.add(finding)
                // A client verifies the chain and the name; a warning there (self-signed, a CN-only
                // match) is a session it would refuse. Expiring soon is still a verified session.
                let refused = finding.status == .fail || (finding.id != "certificate-expiry" && finding.status != .pass)
                if refused, unverified == nil { unverified = "\(finding.id): \(finding.status.rawValue)" }
            }
            return true
        }

        mutating func ehlo(_ connection: ClientConnection) throws -> [String] {
            report.findings.removeAll { $0.id == "ehlo" }
            do {
                try ProbeOptions.validateEHLO(options.ehloName)
            } catch let error as MailSecError {
                report.add(.fail("ehlo", "not sent: \(error.message)", remedy: error.remedy))
                throw Stop()
            }
            try connection.send("EHLO \(options.ehloName)")
            let reply = try connection.readSMTPReply()
            guard reply.code == 250 else {
                report.add(.fail("ehlo", "EHLO was answered with \(reply.firstLine)", remedy: "see the mail log for why the server refuses EHLO \(options.ehloName)"))
                throw Stop()
            }
            let extensions = Array(reply.lines.dropFirst())
            report.add(.pass("ehlo", "\(reply.lines.first ?? ""): \(extensions.joined(separator: ", "))"))
            return extensions
        }

        /// Without AUTH, a message for a foreign domain must be refused.
        mutating func relayCheck(_ connection: ClientConnection) throws {
            try connection.send("MAIL FROM:<mailsec-probe@example.net>")
            let from = try connection.readSMTPReply()
            defer { try? connection.send("RSET"); _ = try? connection.readSMTPReply() }
            guard from.isPositive else {
                report.add(.pass("relay-denied", "refused without AUTH already at MAIL FROM: \(from.firstLine)"))
                return
            }
            try connection.send("RCPT TO:<relay-test@example.org>")
            let rcpt = try connection.readSMTPReply()
            if rcpt.isPositive {
                report.add(.fail("relay-denied", "OPEN RELAY: mail for a foreign domain (example.org) was accepted without AUTH: \(rcpt.firstLine)",
                                 remedy: "set smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination (and on this service -o smtpd_client_restrictions=permit_sasl_authenticated,reject); check mynetworks does not include the world"))
            } else {
                report.add(.pass("relay-denied", "relaying without AUTH refused: \(rcpt.firstLine)"))
            }
        }

        mutating func authenticate(_ connection: ClientConnection, user: String, password: SecureBytes, offered: [String]) throws {
            var mechanism = options.mechanism.uppercased()
            if mechanism == "AUTO" {
                guard let best = AuthRequest.strongestMechanism(offered: offered) else {
                    report.add(.fail("auth", "no mechanism in common with the server (it offers \(offered.joined(separator: " ")))"))
                    return
                }
                mechanism = best
            } else if !offered.contains(mechanism) {
                report.add(.fail("auth", "the server does not offer \(mechanism) (it offers \(offered.joined(separator: " ")))"))
                return
            }
            if tls == nil, ["PLAIN", "LOGIN"].contains(mechanism) {
                report.add(.fail("auth", "refusing to send the password in clear text: there is no TLS on this connection",
                                 remedy: "probe the submission (587) or smtps (465) port, or enable STARTTLS here"))
                return
            }
            if let unverified, !options.allowUnverifiedAuth {
                report.add(.fail("auth", "not attempted: the server's certificate did not verify (\(unverified)), so the password could go to whoever is in the middle",
                                 remedy: "fix the certificate (see the certificate checks above), or trust its CA with --ca-file; --insecure-auth logs in anyway"))
                return
            }
            var request = AuthRequest()
            request.mechanism = mechanism
            let exchange = try request.makeExchange(user: user, password: password)
            let started = ContinuousClock.now
            if let initial = try exchange.start() {
                let encoded = initial.isEmpty ? SecureBytes(Array("=".utf8)) : initial.withUnsafeBytes { Base64.encodeSecure($0) }
                try connection.sendSecret(encoded, prefix: "AUTH \(mechanism) ")
            } else {
                try connection.send("AUTH \(mechanism)")
            }
            var reply = try connection.readSMTPReply()
            while reply.code == 334 {
                guard let challenge = try? Base64.decode(Array((reply.lines.first ?? "").utf8)) else {
                    try connection.send("*")
                    report.add(.fail("auth", "the server's 334 challenge is not base64: \(reply.firstLine)"))
                    _ = try? connection.readSMTPReply()
                    return
                }
                let answer = try exchange.respond(to: challenge)
                try connection.sendSecret(answer.withUnsafeBytes { Base64.encodeSecure($0) })
                reply = try connection.readSMTPReply()
            }
            let time = Int((ContinuousClock.now - started).milliseconds)
            switch reply.code {
            case 235:
                if let unverified {
                    report.add(.warn("auth", "\(user) logged in with \(mechanism) in \(time) ms, over a TLS session whose certificate did not verify (\(unverified); --insecure-auth)",
                                     remedy: "fix the certificate so that clients can verify it"))
                } else {
                    report.add(.pass("auth", "\(user) logged in with \(mechanism) in \(time) ms"))
                }
            case 454, 432:
                report.add(.fail("auth", "temporary failure: \(reply.firstLine) (after \(time) ms)",
                                 remedy: "Postfix could not reach its SASL backend in time: check it with mailsec auth test --socket /var/spool/postfix/private/auth \(ShellQuoting.quote(user))"))
            default:
                report.add(.fail("auth", "\(mechanism) login as \(user) refused: \(reply.firstLine)",
                                 remedy: "check the credentials on Postfix's SASL socket: mailsec auth test \(ShellQuoting.quote(user))"))
            }
        }

        /// A step that broke off the dialogue: the check in progress fails with why.
        mutating func recordInterruption(_ error: MailSecError, connection: ClientConnection) {
            report.findings.removeAll { $0.id == step }
            if error.code == .timeout, connection.overallDeadlinePassed {
                report.add(.fail(step, "the probe ran out of its overall time (\(options.effectiveOverallTimeout.shortDescription)) during this step: the server answers, but too slowly",
                                 remedy: "look at the server's load and its DNS lookups (smtpd_peername_lookup, postscreen); --overall-timeout allows more"))
                return
            }
            if step == "banner", error.code == .timeout, target.mode != .implicit {
                if connection.receivedAnything {
                    report.add(.fail("banner", "the greeting did not complete within \(options.timeout.shortDescription): the server sent part of it and stopped",
                                     remedy: "look at why the server stalls (its load, DNS lookups, the mail log)"))
                } else if answersTLS() {
                    report.add(.fail("banner", "no greeting within \(options.timeout.shortDescription), and a TLS handshake on a second connection succeeds: this port speaks implicit TLS (smtps, wrapper mode)",
                                     remedy: "probe it as smtps://\(target.host):\(target.port)"))
                } else {
                    report.add(.fail("banner", "no greeting within \(options.timeout.shortDescription)",
                                     remedy: "look at why the server does not greet: postscreen's pregreet wait, DNS lookups of the client, the mail log"))
                }
                return
            }
            report.add(.fail(step, error.message, remedy: error.remedy))
        }

        /// Every id gets a finding: what was not reached is skipped.
        mutating func fillSkipped() {
            let done = Set(report.findings.map(\.id))
            for id in SMTPProbe.order where !done.contains(id) {
                let reason: String
                switch id {
                case "auth-before-tls": reason = target.mode == .starttls ? "not reached" : "not applicable: TLS from the first byte"
                case "relay-denied": reason = options.checkRelay ? "not reached" : "not asked (--check-relay)"
                case "auth": reason = options.authUser == nil ? "not asked (--auth-user)" : "not reached"
                case "starttls-after-tls": reason = tls == nil ? "no TLS" : "not reached"
                default: reason = "not reached"
                }
                report.add(.skip(id, reason))
            }
            report.findings.sort { (SMTPProbe.order.firstIndex(of: $0.id) ?? 99) < (SMTPProbe.order.firstIndex(of: $1.id) ?? 99) }
        }

        /// The verify checks a probe reports, renamed `certificate-*`: hostname,
        /// expiry and chain. Time is one check here: a certificate that is
        /// expired or not yet valid fails certificate-expiry.
        static func certificateChecks(_ checks: [Finding]) -> [Finding] {
            let invalid = checks.first { $0.id == "validity" && $0.status == .fail }
            return checks.compactMap { check in
                switch check.id {
                case "hostname", "chain":
                    return Finding(id: "certificate-" + check.id, status: check.status, message: check.message, remedy: check.remedy)
                case "expiry":
                    let source = invalid ?? check
                    return Finding(id: "certificate-expiry", status: source.status, message: source.message, remedy: source.remedy)
                default:
                    return nil
                }
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
