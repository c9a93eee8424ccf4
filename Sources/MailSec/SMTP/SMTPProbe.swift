#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
    public var timeout: Double = 10
    public var warnDays = 30

    public init() {}
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

    private struct Run {
        let target: ProbeTarget
        let options: ProbeOptions
        var report = Report()
        var certificate: CertificateFacts?
        var tls: TLSDetails?
        let transcript = Transcript()
        var connection: SMTPConnection?
        /// The check in progress, which an interrupted dialogue fails.
        var step = "connect"

        init(target: ProbeTarget, options: ProbeOptions) {
            self.target = target
            self.options = options
        }

        mutating func execute() {
            defer {
                fillSkipped()
                connection?.close()
            }
            // connect
            let started = Monotonic.milliseconds()
            do {
                let socket = try LineSocket(connectingTo: .inet(host: target.host, port: target.port), timeout: options.timeout,
                                            maximumLineLength: SMTPConnection.maximumLineLength, peerName: "\(target.host):\(target.port)")
                connection = SMTPConnection(socket: socket, timeout: options.timeout, transcript: transcript)
                transcript.event("connected to \(target.host):\(target.port)")
                report.add(.pass("connect", "connected to \(target.host):\(target.port) in \(Int(Monotonic.milliseconds() - started)) ms"))
            } catch let error as MailSecError {
                let refused = error.message.contains("refused")
                report.add(.fail("connect", error.message, remedy: refused
                    ? "is Postfix running and listening on port \(target.port)? Look with: postconf -M | grep \(target.port); ss -ltnp | grep :\(target.port)"
                    : "no answer: a firewall dropping packets? Open the port, e.g. firewall-cmd --permanent --add-port=\(target.port)/tcp && firewall-cmd --reload"))
                return
            } catch {
                report.add(.fail("connect", "\(error)"))
                return
            }
            guard let connection else { return }
            do {
                if target.mode == .implicit {
                    step = "tls-handshake"
                    guard try implicitTLS(connection) else { return }
                }
                step = "banner"
                let banner = try connection.readReply()
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
                        let reply = try connection.readReply()
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
                _ = try? connection.readReply()
            } catch let error as MailSecError {
                recordInterruption(error.message)
            } catch {
                recordInterruption("\(error)")
            }
        }

        /// Implicit TLS: start the handshake at once. Only if it fails is a
        /// second, plain connection opened, to see whether this is clear-text
        /// SMTP on a TLS port (so healthy servers pay nothing for the diagnosis).
        mutating func implicitTLS(_ connection: SMTPConnection) throws -> Bool {
            try handshake(connection, diagnoseClearText: true)
        }

        /// The first line a fresh plain connection to the target sends within a short wait, if any.
        func clearTextGreeting() -> String? {
            guard let socket = try? LineSocket(connectingTo: .inet(host: target.host, port: target.port), timeout: min(options.timeout, 3),
                                               maximumLineLength: SMTPConnection.maximumLineLength, peerName: "the server") else { return nil }
            guard let line = try? socket.readLine(deadline: Date().addingTimeInterval(min(options.timeout, 3))) else { return nil }
            let text = String(decoding: line, as: UTF8.self)
            guard text.count >= 3, text.prefix(3).allSatisfy(\.isNumber) else { return nil }
            return text
        }

        mutating func handshake(_ connection: SMTPConnection, diagnoseClearText: Bool = false) throws -> Bool {
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
                return true
            }
            certificate = try? CertificateFacts(leaf)
            let store: TrustStore
            do {
                store = try TrustStore(options.trust)
            } catch let error as MailSecError {
                report.add(.fail("certificate-chain", error.message))
                return true
            }
            let host = options.verifyHost ?? target.host
            let checks = CertificateVerifier.certificateFindings(leaf: leaf, intermediates: Array(chain.dropFirst()), hosts: [host],
                                                                 store: store, warnDays: options.warnDays)
            for finding in Self.certificateChecks(checks) { report.add(finding) }
            return true
        }

        mutating func ehlo(_ connection: SMTPConnection) throws -> [String] {
            try connection.send("EHLO \(options.ehloName)")
            let reply = try connection.readReply()
            guard reply.code == 250 else {
                report.findings.removeAll { $0.id == "ehlo" }
                report.add(.fail("ehlo", "EHLO was answered with \(reply.firstLine)", remedy: "see the mail log for why the server refuses EHLO \(options.ehloName)"))
                throw MailSecError(.invalidInput, "stopped after EHLO")
            }
            let extensions = Array(reply.lines.dropFirst())
            report.findings.removeAll { $0.id == "ehlo" }
            report.add(.pass("ehlo", "\(reply.lines.first ?? ""): \(extensions.joined(separator: ", "))"))
            return extensions
        }

        /// Without AUTH, a message for a foreign domain must be refused.
        mutating func relayCheck(_ connection: SMTPConnection) throws {
            try connection.send("MAIL FROM:<mailsec-probe@example.net>")
            let from = try connection.readReply()
            defer { try? connection.send("RSET"); _ = try? connection.readReply() }
            guard from.isPositive else {
                report.add(.pass("relay-denied", "refused without AUTH already at MAIL FROM: \(from.firstLine)"))
                return
            }
            try connection.send("RCPT TO:<relay-test@example.org>")
            let rcpt = try connection.readReply()
            if rcpt.isPositive {
                report.add(.fail("relay-denied", "OPEN RELAY: mail for a foreign domain (example.org) was accepted without AUTH: \(rcpt.firstLine)",
                                 remedy: "set smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination (and on this service -o smtpd_client_restrictions=permit_sasl_authenticated,reject); check mynetworks does not include the world"))
            } else {
                report.add(.pass("relay-denied", "relaying without AUTH refused: \(rcpt.firstLine)"))
            }
        }

        mutating func authenticate(_ connection: SMTPConnection, user: String, password: SecureBytes, offered: [String]) throws {
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
            var request = AuthRequest()
            request.mechanism = mechanism
            let exchange = try request.makeExchange(user: user, password: password)
            let started = Monotonic.milliseconds()
            if let initial = try exchange.start() {
                let encoded = initial.isEmpty ? SecureBytes(Array("=".utf8)) : initial.withUnsafeBytes { Base64.encodeSecure($0) }
                try connection.sendSecret(encoded, prefix: "AUTH \(mechanism) ")
            } else {
                try connection.send("AUTH \(mechanism)")
            }
            var reply = try connection.readReply()
            while reply.code == 334 {
                guard let challenge = try? Base64.decode(Array((reply.lines.first ?? "").utf8)) else {
                    try connection.send("*")
                    report.add(.fail("auth", "the server's 334 challenge is not base64: \(reply.firstLine)"))
                    _ = try? connection.readReply()
                    return
                }
                let answer = try exchange.respond(to: challenge)
                try connection.sendSecret(answer.withUnsafeBytes { Base64.encodeSecure($0) })
                reply = try connection.readReply()
            }
            let time = Int(Monotonic.milliseconds() - started)
            switch reply.code {
            case 235:
                report.add(.pass("auth", "\(user) logged in with \(mechanism) in \(time) ms"))
            case 454, 432:
                report.add(.fail("auth", "temporary failure: \(reply.firstLine) (after \(time) ms)",
                                 remedy: "Postfix could not reach its SASL backend in time: check it with mailsec auth test --socket /var/spool/postfix/private/auth \(user)"))
            default:
                report.add(.fail("auth", "\(mechanism) login as \(user) refused: \(reply.firstLine)",
                                 remedy: "check the credentials on Postfix's SASL socket: mailsec auth test \(user)"))
            }
        }

        /// A step that broke off the dialogue: the check in progress fails with why.
        mutating func recordInterruption(_ message: String) {
            if message == "stopped after EHLO" { return }
            report.findings.removeAll { $0.id == step }
            let timedOut = message.hasPrefix("timed out")
            if step == "banner", timedOut, target.mode != .implicit {
                report.add(.fail("banner", "no greeting within \(Int(options.timeout)) s: a server on an implicit-TLS port (smtps, wrapper mode) waits for the client's TLS handshake",
                                 remedy: "if this port is SMTPS, probe it as smtps://\(target.host):\(target.port); otherwise look at why the server does not greet (postscreen, DNS lookups, the mail log)"))
                return
            }
            report.add(.fail(step, timedOut ? "\(message) (no answer within \(Int(options.timeout)) s)" : message))
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
