/// What a protocol says in the remedies of the steps every probe shares.
struct ServerAdvice {
    /// Nothing listens on the port.
    var notListening: String
    /// The TLS handshake failed.
    var handshakeFailed: String
    /// TLS 1.0 or 1.1 was negotiated.
    var oldProtocol: String
    /// A clear-text greeting came on an implicit-TLS port.
    var clearTextOnImplicitPort: String
    /// The certificate settings to look at, for messages.
    var certificateSettings: String
}

/// One step of a SASL exchange as the server framed it.
enum SASLStep {
    /// A challenge (already decoded from base64).
    case challenge([UInt8])
    case success(String)
    /// A refusal; `temporary` when the server says to try again later.
    case failure(String, temporary: Bool)
}

/// How one protocol carries a SASL exchange: the AUTH command with its
/// optional initial response, the challenges, the answers, the verdict.
protocol SASLFraming {
    /// Sends the command that starts `mechanism`, with the initial response when there is one.
    func begin(_ mechanism: String, initial: SecureBytes?) throws
    /// Reads what the server answered.
    func next() throws -> SASLStep
    /// Sends the answer to a challenge.
    func answer(_ response: SecureBytes) throws
    /// Gives up on the exchange (the challenge could not be read).
    func cancel() throws
}

/// The part of a probe each protocol writes: its dialogue once connected.
/// `execute` is the frame every protocol shares around it: connect, run
/// the dialogue, turn an interruption into the failed check in progress,
/// give every check not reached its skip, close.
protocol ProbeDialogue {
    var session: ProbeSession { get set }
    /// The check ids in report order.
    static var order: [Finding.ID] { get }
    static var maximumLineLength: Int { get }
    /// The implicit-TLS scheme to suggest when a STARTTLS port answers TLS.
    static var implicitScheme: String? { get }
    /// Why each check not reached was skipped.
    var skipReasons: [Finding.ID: String] { get }
    mutating func dialogue(_ connection: ClientConnection) throws
}

/// Ends a dialogue early after a check has already recorded why.
struct ProbeStop: Error {}

extension ProbeDialogue {
    var target: ProbeTarget { session.target }
    var options: ProbeOptions { session.options }
    var skipReasons: [Finding.ID: String] { session.commonSkipReasons() }

    mutating func execute() {
        defer {
            session.finish(order: Self.order, reasons: skipReasons)
            session.connection?.close()
        }
        guard let connection = session.connect(maximumLineLength: Self.maximumLineLength) else { return }
        do {
            try dialogue(connection)
        } catch is ProbeStop {
            return
        } catch let error as MailSecError {
            session.interrupted(error, greetingStep: "banner", implicitScheme: Self.implicitScheme)
        } catch {
            session.interrupted(MailSecError(.io, "\(error)"), greetingStep: "banner", implicitScheme: Self.implicitScheme)
        }
    }
}

/// The state and the steps every protocol's probe shares: connecting,
/// TLS and the certificate checks on what the server sent, logging in
/// through SASL, and turning an interrupted dialogue into a failed check.
/// A protocol's probe owns one and writes only its own dialogue.
struct ProbeSession {
    let target: ProbeTarget
    let options: ProbeOptions
    let advice: ServerAdvice
    var report = Report()
    var certificate: CertificateFacts?
    var tls: TLSDetails?
    let transcript = Transcript()
    var connection: ClientConnection?
    /// The check in progress, which an interrupted dialogue fails.
    var step: Finding.ID = "connect"
    /// Why the certificate cannot be trusted, when it cannot: no password is sent then.
    var unverified: String?
    /// The address connected to (the target's host, or what the resolver gave for it).
    var address: String
    /// The TLSA RRset, when DANE was asked for and the lookup answered.
    var dane: DANELookup?
    /// What OpenSSL matches the handshake against; nil without usable records.
    var daneExpectation: DANEExpectation?
    let overallDeadline: Deadline

    init(target: ProbeTarget, options: ProbeOptions, advice: ServerAdvice) {
        self.target = target
        self.options = options
        self.advice = advice
        address = target.host
        overallDeadline = .after(options.effectiveOverallTimeout)
    }

    var result: ProbeResult {
        ProbeResult(target: target, report: report, certificate: certificate, tls: tls, transcript: transcript.lines)
    }

    // MARK: Connecting

    /// Connects; records `connect` (and, with DANE, the DNS checks made
    /// before it: `dane-mx`, `dane-tlsa`). Nil when it failed.
    mutating func connect(maximumLineLength: Int) -> ClientConnection? {
        if let origin = target.mxOrigin { report.add(origin.finding(host: target.host)) }
        var hosts = [target.host]
        if options.dane || options.resolvesThroughForwarder {
            do {
                hosts = try lookUp() ?? hosts
            } catch let error as MailSecError {
                report.add(.fail("connect", error.message, remedy: error.remedy))
                return nil
            } catch {
                return nil
            }
        }
        let started = ContinuousClock.now
        var failure: MailSecError?
        for host in hosts {
            do {
                let made = try ClientConnection(host: host, port: target.port, source: options.source, timeout: options.timeout,
                                                overallDeadline: overallDeadline, maximumLineLength: maximumLineLength,
                                                transcript: transcript, peerName: "the server")
                connection = made
                address = host
                let shown = host == target.host ? "\(host):\(target.port)" : "\(target.host) (\(host)):\(target.port)"
                transcript.event("connected to \(shown)")
                report.add(.pass("connect", "connected to \(shown) in \(Int((ContinuousClock.now - started).milliseconds)) ms"))
                return made
            } catch let error as MailSecError {
                failure = error
            } catch {
                failure = MailSecError(.io, "\(error)")
            }
        }
        guard let error = failure else { return nil }
        let port = target.port
        switch error.code {
        case .connectionRefused:
            report.add(.fail("connect", error.message, remedy: advice.notListening))
        case .timeout:
            report.add(.fail("connect", error.message, remedy: "no answer: a firewall dropping packets? Open the port, e.g. firewall-cmd --permanent --add-port=\(port)/tcp && firewall-cmd --reload"))
        default:
            report.add(.fail("connect", error.message, remedy: error.remedy))
        }
        return nil
    }

    /// The DNS lookups made before connecting, all at once: the TLSA RRset
    /// (`dane-tlsa`; OpenSSL needs the records before the handshake, as a
    /// sender does) and, through a forwarder, the target's addresses, which
    /// it returns. Throws when the addresses cannot be had.
    private mutating func lookUp() throws -> [String]? {
        let resolver: DNSResolver
        do {
            resolver = try options.resolver ?? DNSResolver(options.dns)
        } catch let error as MailSecError {
            if options.dane { report.add(.fail(DANECheckID.tlsa, error.message, remedy: error.remedy)) }
            if options.resolvesThroughForwarder { throw error }
            return nil
        }
        let owner = TLSARecord.ownerName(host: target.host, port: target.port)
        let addresses = options.resolvesThroughForwarder && IPAddress.normalize(target.host) == nil
        var questions: [DNSResolver.Question] = []
        if options.dane { questions.append(.init(owner, type: DNSType.tlsa)) }
        if addresses { questions += [.init(target.host, type: DNSType.a), .init(target.host, type: DNSType.aaaa)] }
        let answers = try resolver.queries(questions, deadline: Deadline.after(options.timeout).capped(by: overallDeadline))
        if options.dane, let tlsa = answers.first {
            switch tlsa {
            case .success(let answer):
                let lookup = DANELookup(owner: owner, answer: answer)
                report.add(lookup.finding)
                dane = lookup
                var names = [target.host]
                if let verifyHost = options.verifyHost { names.append(verifyHost) }
                if let domain = target.mxOrigin?.domain { names.append(domain) }
                daneExpectation = lookup.expectation(referenceNames: names)
            case .failure(let error):
                report.add(.fail(DANECheckID.tlsa, "cannot look up \(owner): \(error.message)",
                                 remedy: "check that the resolver answers and validates (\(options.dns.forwarder ?? "/etc/resolv.conf"))"))
            }
        }
        guard addresses else { return nil }
        // A and AAAA are the last two questions asked.
        let (a, aaaa) = (answers[answers.endIndex - 2], answers[answers.endIndex - 1])
        return try DNSResolver.addresses(of: target.host, a: a.get(), aaaa: aaaa.get())
    }

    // MARK: TLS and the certificate

    /// Starts TLS (implicit, or after STARTTLS was accepted) and checks the
    /// certificate the server sent as `verify` would. On an implicit-TLS port
    /// whose handshake fails, `greeting` tells a clear-text greeting on a
    /// second connection: then the port speaks clear text (paid only on failure).
    mutating func startTLS(_ connection: ClientConnection, greeting: ((String) -> Bool)? = nil) throws -> Bool {
        let details: TLSDetails
        let chain: [Certificate]
        let daneOutcome: DANEOutcome?
        do {
            (details, chain, daneOutcome) = try connection.startTLS(serverName: options.serverName ?? target.host, dane: daneExpectation)
        } catch let error as MailSecError {
            if let greeting, let clearText = clearTextLine(), greeting(clearText) {
                report.add(.fail("tls-handshake", "the server speaks clear text on this implicit-TLS port: \(TextSanitizer.quoted(clearText))",
                                 remedy: advice.clearTextOnImplicitPort))
            } else {
                report.add(.fail("tls-handshake", "TLS handshake failed: \(error.message)", remedy: advice.handshakeFailed))
            }
            return false
        }
        tls = details
        let old = ["TLSv1", "TLSv1.1", "SSLv3"].contains(details.version)
        let message = "\(details.version), \(details.cipher), in \(Int(details.handshakeMilliseconds)) ms"
        report.add(old ? .warn("tls-handshake", "\(message): below TLS 1.2", remedy: advice.oldProtocol) : .pass("tls-handshake", message))
        checkCertificate(chain)
        if let dane, let daneOutcome {
            report.add(dane.matchFinding(daneOutcome, chain: chain, host: target.host, port: target.port))
            report.add(dane.rolloverFinding(chain: chain, matched: daneOutcome.matched != nil))
        }
        return true
    }

    private mutating func checkCertificate(_ chain: [Certificate]) {
        guard let leaf = chain.first else {
            report.add(.fail("certificate-chain", "the server sent no certificate", remedy: "set \(advice.certificateSettings)"))
            unverified = "the server sent no certificate"
            return
        }
        certificate = try? CertificateFacts(leaf)
        let store: TrustStore
        do {
            store = try TrustStore.shared(options.trust)
        } catch let error as MailSecError {
            report.add(.fail("certificate-chain", error.message))
            unverified = "the trust store could not be read"
            return
        } catch {
            return
        }
        let host = options.verifyHost ?? target.host
        let checks = CertificateVerifier.certificateFindings(leaf: leaf, intermediates: Array(chain.dropFirst()), hosts: [host],
                                                             store: store, warnDays: options.warnDays)
        // Clients build the path whatever the order; the server's file should still be leaf first, then each issuer.
        let order = CertificateVerifier.chainOrder(sent: chain.map { ($0, "the chain the server sent") }, leaf: leaf)
        for var finding in Self.certificateChecks(checks) {
            if finding.id == "certificate-chain", finding.status == .pass, order.status != .pass {
                finding = .warn("certificate-chain", "\(finding.message); but the server sends its certificates out of order (\(order.message)): clients build the path anyway, some old ones fail",
                                remedy: "write \(advice.certificateSettings) as leaf first, then each issuer:\n" + (order.remedy ?? ""))
            }
            report.add(finding)
            // A client verifies the chain and the name; a warning there (self-signed, a CN-only
            // match) is a session it would refuse. Expiring soon is still a verified session.
            let refused = finding.status == .fail || (finding.id != "certificate-expiry" && finding.status != .pass)
            if refused, unverified == nil { unverified = "\(finding.id): \(finding.status.rawValue)" }
        }
    }

    /// The verify checks a probe reports, renamed `certificate-*`: hostname,
    /// expiry and chain. Time is one check here: a certificate that is
    /// expired or not yet valid fails certificate-expiry.
    static func certificateChecks(_ checks: [Finding]) -> [Finding] {
        let invalid = checks.first { $0.id == "validity" && $0.status == .fail }
        return checks.compactMap { check in
            switch check.id {
            case "hostname", "chain":
                return Finding(id: Finding.ID(rawValue: "certificate-" + check.id.rawValue), status: check.status, message: check.message, remedy: check.remedy)
            case "expiry":
                let source = invalid ?? check
                return Finding(id: "certificate-expiry", status: source.status, message: source.message, remedy: source.remedy)
            default:
                return nil
            }
        }
    }

    /// The first line a fresh plain connection to the target sends within a short wait.
    func clearTextLine() -> String? {
        let wait = min(options.timeout, .seconds(3))
        guard let socket = try? Socket.connect(to: .inet(host: address, port: target.port), source: options.source,
                                               deadline: .after(wait), peerName: "the server") else { return nil }
        let reader = LineReader(stream: socket, maximumLineLength: 4096)
        guard let line = try? reader.readLine(deadline: .after(wait)) else { return nil }
        return String(decoding: line, as: UTF8.self)
    }

    /// Whether a TLS handshake succeeds on a fresh connection: how a port
    /// that stays silent in clear text shows that it waits for TLS.
    func answersTLS() -> Bool {
        let wait = min(options.timeout, .seconds(3))
        guard let socket = try? Socket.connect(to: .inet(host: address, port: target.port), source: options.source,
                                               deadline: .after(wait), peerName: "the server"),
              let session = try? TLSStream(over: socket, serverName: options.serverName ?? target.host) else { return false }
        defer { session.shutdown() }
        return (try? session.handshake(deadline: .after(wait))) != nil
    }

    // MARK: Logging in

    /// What a protocol says when a login fails.
    struct AuthAdvice {
        var refused: String
        var temporary: String
    }

    /// Logs in as `user` through `framing` with the mechanism asked for (or
    /// the strongest both sides have), never sending a password in clear
    /// text or over a session whose certificate did not verify.
    mutating func authenticate(_ framing: SASLFraming, user: String, password: SecureBytes, offered: [String], advice: AuthAdvice) throws {
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
        if tls == nil, ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"].contains(mechanism) {
            report.add(.fail("auth", "refusing to send the password in clear text: there is no TLS on this connection",
                             remedy: "probe the implicit-TLS port, or enable STARTTLS here"))
            return
        }
        if let unverified, !options.allowUnverifiedAuth {
            report.add(.fail("auth", "not attempted: the server's certificate did not verify (\(unverified)), so the password could go to whoever is in the middle",
                             remedy: "fix the certificate (see the certificate checks above), or trust its CA with \(Vocabulary.name(.trustedCAFile)); \(Vocabulary.name(.allowUnverifiedAuth)) logs in anyway"))
            return
        }
        var request = AuthRequest()
        request.mechanism = mechanism
        let exchange = try request.makeExchange(user: user, password: password)
        let started = ContinuousClock.now
        try framing.begin(mechanism, initial: try exchange.start())
        var step = try framing.next()
        while case .challenge(let challenge) = step {
            try framing.answer(try exchange.respond(to: challenge))
            step = try framing.next()
        }
        let time = Int((ContinuousClock.now - started).milliseconds)
        switch step {
        case .success:
            if let unverified {
                report.add(.warn("auth", "\(user) logged in with \(mechanism) in \(time) ms, over a TLS session whose certificate did not verify (\(unverified); \(Vocabulary.name(.allowUnverifiedAuth)))",
                                 remedy: "fix the certificate so that clients can verify it"))
            } else {
                report.add(.pass("auth", "\(user) logged in with \(mechanism) in \(time) ms"))
            }
        case .failure(let reply, let temporary):
            if temporary {
                report.add(.fail("auth", "temporary failure: \(reply) (after \(time) ms)", remedy: advice.temporary))
            } else {
                report.add(.fail("auth", "\(mechanism) login as \(user) refused: \(reply)", remedy: advice.refused))
            }
        case .challenge:
            break
        }
    }

    /// The challenge's base64, decoded; a challenge that is not base64 cancels the exchange.
    static func decodeChallenge(_ text: String, framing: SASLFraming) throws -> SASLStep {
        guard let challenge = try? Base64.decode(Array(text.utf8)) else {
            try framing.cancel()
            throw MailSecError(.protocolViolation, "the server's challenge is not base64: \(TextSanitizer.quoted(text.prefix(80)))")
        }
        return .challenge(challenge)
    }

    // MARK: Interruptions and the report

    /// A step that broke off the dialogue: the check in progress fails with why.
    /// `implicitScheme` names the scheme to suggest when a STARTTLS port stays
    /// silent but answers TLS (smtps, imaps, pop3s).
    mutating func interrupted(_ error: MailSecError, greetingStep: Finding.ID, implicitScheme: String?) {
        report.findings.removeAll { $0.id == step }
        if error.code == .timeout, connection?.overallDeadlinePassed == true {
            report.add(.fail(step, "the probe ran out of its overall time (\(options.effectiveOverallTimeout.shortDescription)) during this step: the server answers, but too slowly",
                             remedy: "look at the server's load and its DNS lookups; \(Vocabulary.name(.overallTimeout)) allows more"))
            return
        }
        if step == greetingStep, error.code == .timeout, target.mode != .implicit {
            if connection?.receivedAnything == true {
                report.add(.fail(step, "the greeting did not complete within \(options.timeout.shortDescription): the server sent part of it and stopped",
                                 remedy: "look at why the server stalls (its load, DNS lookups, its log)"))
            } else if let implicitScheme, answersTLS() {
                report.add(.fail(step, "no greeting within \(options.timeout.shortDescription), and a TLS handshake on a second connection succeeds: this port speaks implicit TLS",
                                 remedy: "probe it as \(implicitScheme)://\(target.host):\(target.port)"))
            } else {
                report.add(.fail(step, "no greeting within \(options.timeout.shortDescription)",
                                 remedy: "look at why the server does not greet: its load, DNS lookups of the client, its log"))
            }
            return
        }
        report.add(.fail(step, error.message, remedy: error.remedy))
    }

    /// Every id gets a finding, in `order`: what was not reached is skipped,
    /// with the reason `reasons` gives or "not reached".
    mutating func finish(order protocolOrder: [Finding.ID], reasons: [Finding.ID: String]) {
        var order = protocolOrder
        // After the certificate checks: DANE is one more judgement of the chain the server sent.
        let dane = (target.mxOrigin != nil ? [DANECheckID.mx] : []) + (options.dane ? [DANECheckID.tlsa, DANECheckID.match, DANECheckID.rollover] : [])
        order.insert(contentsOf: dane, at: (order.firstIndex(of: "certificate-chain") ?? order.count - 1) + 1)
        if daneExpectation != nil, tls == nil, !report.findings.contains(where: { $0.id == DANECheckID.match }) {
            report.add(.fail(DANECheckID.match, "no TLS session to match the TLSA records against: a sender that applies DANE defers mail to this server",
                             remedy: "offer TLS (STARTTLS) with the certificate the records pin"))
        }
        let done = Set(report.findings.map(\.id))
        for id in order where !done.contains(id) {
            report.add(.skip(id, reasons[id] ?? "not reached"))
        }
        report.sort(by: order)
    }

    // MARK: Findings every protocol words the same way

    /// `starttls-after-tls`, once TLS is up: `command` (STARTTLS, STLS) must not be offered again.
    mutating func reportUpgradeInsideTLS(advertised: Bool, command: String = "STARTTLS",
                                         remedy: String? = nil, forbiddenBy rule: String? = nil) {
        guard tls != nil else { return }
        report.add(advertised
            ? .fail("starttls-after-tls", "\(command) is advertised although TLS is already up\(rule.map { " (\($0) forbids it)" } ?? ""); clients may fail",
                    remedy: remedy ?? "upgrade or fix the server: it must not offer \(command) inside TLS")
            : .pass("starttls-after-tls", "\(command) is not advertised again inside TLS"))
    }

    /// `auth-offered`: the mechanisms, listed as `command` does (AUTH, SASL,
    /// AUTHENTICATE); none is a warning, or a failure when a login was asked for.
    mutating func reportMechanisms(_ mechanisms: [String], command: String, noneOffered: String, remedy: String) {
        if mechanisms.isEmpty {
            let message = "\(noneOffered)\(tls != nil ? " after TLS" : "")"
            report.add(options.authUser == nil ? .warn("auth-offered", message, remedy: remedy) : .fail("auth-offered", message, remedy: remedy))
        } else {
            report.add(.pass("auth-offered", "\(command) \(mechanisms.joined(separator: " "))"))
        }
    }

    /// The skip reasons every protocol shares.
    func commonSkipReasons() -> [Finding.ID: String] {
        [
            "auth-before-tls": target.mode == .starttls ? "not reached" : "not applicable: TLS from the first byte",
            "auth": options.authUser == nil ? "not asked (\(Vocabulary.name(.authUser)))" : "not reached",
            "starttls-after-tls": tls == nil ? "no TLS" : "not reached",
            DANECheckID.match: daneSkipReason,
            DANECheckID.rollover: daneSkipReason,
        ]
    }

    private var daneSkipReason: String {
        guard let dane else { return options.dane ? "no TLSA records were looked up" : "not asked" }
        if dane.answer.records.isEmpty { return "DANE is not in use for this service" }
        return dane.usable.isEmpty ? "no usable TLSA record" : (tls == nil ? "no TLS" : "not reached")
    }
}

/// SASL over a line protocol that answers challenges with one base64 line:
/// SMTP (RFC 4954), POP3 (RFC 5034) and IMAP (RFC 9051).
protocol Base64LineFraming: SASLFraming {
    var connection: ClientConnection { get }
}

extension Base64LineFraming {
    func answer(_ response: SecureBytes) throws {
        try connection.sendSecret(response.withUnsafeBytes { Base64.encodeSecure($0) })
    }

    /// `AUTH MECH [initial]`, as SMTP and POP3 begin.
    func sendAUTH(_ mechanism: String, initial: SecureBytes?) throws {
        if let initial {
            try connection.sendSecret(initialResponseWireForm(initial), prefix: "AUTH \(mechanism) ")
        } else {
            try connection.send("AUTH \(mechanism)")
        }
    }
}

/// An initial response for the wire: base64, and an empty one as `=` (RFC 4954, 4959, 5034).
func initialResponseWireForm(_ message: SecureBytes) -> SecureBytes {
    message.isEmpty ? SecureBytes(Array("=".utf8)) : message.withUnsafeBytes { Base64.encodeSecure($0) }
}
