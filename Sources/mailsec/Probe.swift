import ArgumentParser
import MailSec

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Check mail services live (SMTP, IMAP, POP3, ManageSieve), logging in like a real client.",
        discussion: """
        TARGET is a scheme and host: smtps://HOST[:465] and submissions:// (TLS from the first byte), \
        submission://HOST[:587] (STARTTLS required), smtp://HOST[:25] (STARTTLS if offered), \
        imaps://HOST[:993], imap://HOST[:143] (STARTTLS required), pop3s://HOST[:995], \
        pop3://HOST[:110] (STLS required), sieve://HOST[:4190] (STARTTLS required); or HOST:PORT, \
        where 465, 993, 143, 995, 110 and 4190 pick their protocol and any other port is SMTP with \
        STARTTLS. --mx DOMAIN probes the domain's MX hosts on port 25 as a sending server does. \
        Check ids: connect, tls-handshake, certificate-hostname, certificate-chain, \
        certificate-expiry, with --dane dane-mx, dane-tlsa, dane-match and dane-rollover, banner, auth-before-tls, starttls-after-tls, auth-offered, auth; SMTP adds \
        ehlo and relay-denied, the others capabilities. The password comes from stdin, \
        --password-file or a prompt, and is never sent in clear text or over a session whose \
        certificate did not verify (unless --insecure-auth).

        Examples:
          mailsec probe smtps://mail.example.com imaps://mail.example.com pop3s://mail.example.com
          mailsec probe --auth-user alice --check-relay smtps://mail.example.com submission://mail.example.com < pw
          mailsec probe --source 192.0.2.10 imap://mail.example.com sieve://mail.example.com
          mailsec probe --nagios --warn-days 21 mail.example.com:993
          mailsec probe --dane --mx example.com
          mailsec probe --dane --resolver 127.0.0.1@5353 --trust-anchor example.com.ds smtp://mail.example.com
        """
    )

    @Argument(help: "Targets to probe.")
    var targets: [String] = []

    @Option(help: ArgumentHelp("Probe the MX hosts of this mail domain (repeatable), on --port.", valueName: "domain"))
    var mx: [String] = []

    @Option(help: ArgumentHelp("The port of the MX hosts found with --mx.", valueName: "port"))
    var port: UInt16 = 25

    @Flag(help: "Check the TLSA records of each target with DNSSEC validation, and match them with OpenSSL's DANE verifier, as Postfix does (RFC 7672).")
    var dane = false

    @OptionGroup var dns: DNSOptions

    @Option(help: ArgumentHelp("implicit, starttls or plain, for every target (default: from the scheme or port).", valueName: "mode"))
    var mode: String?

    @Option(help: ArgumentHelp("SNI name to send (default: the target host).", valueName: "name"))
    var servername: String?

    @Option(name: .customLong("verify-host"), help: ArgumentHelp("The name the certificate must cover (default: the target host).", valueName: "name"))
    var verifyHost: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("Trust these CA certificates instead of the system store.", valueName: "file"))
    var caFile: String?

    @Option(help: ArgumentHelp("The name to send in EHLO (SMTP).", valueName: "name"))
    var ehlo = "mailsec.invalid"

    @Option(name: .customLong("auth-user"), help: ArgumentHelp("Log in as this user (password from stdin, --password-file or a prompt).", valueName: "user"))
    var authUser: String?

    @Option(help: ArgumentHelp("SASL mechanism for --auth-user, or auto (the strongest both sides have).", valueName: "mechanism"))
    var mech = "auto"

    @OptionGroup var secret: SecretInput

    @Flag(name: .customLong("check-relay"), help: "SMTP: without AUTH, try MAIL FROM and RCPT TO a foreign domain: it must be refused.")
    var checkRelay = false

    @Option(help: ArgumentHelp("Seconds allowed for each network step.", valueName: "seconds"))
    var timeout: Double = 10

    @Option(name: .customLong("overall-timeout"), help: ArgumentHelp("Seconds allowed for the whole probe of one target (default: 3 x --timeout).", valueName: "seconds"))
    var overallTimeout: Double?

    @Option(help: ArgumentHelp("Connect from this local address (as swaks --local-interface).", valueName: "address"))
    var source: String?

    @Flag(name: .customLong("insecure-auth"), help: "Log in even when the certificate does not verify (the password may reach whoever is in the middle).")
    var insecureAuth = false

    @Option(name: .customLong("warn-days"), help: "Warn when the certificate expires within this many days.")
    var warnDays = 30

    @Flag(help: "Print the dialogue (C:/S: lines and TLS events), passwords masked.")
    var transcript = false

    @Option(help: ArgumentHelp("Targets probed at once.", valueName: "n"))
    var concurrency = 16

    @Flag(help: "Print a JSON array, one object per target.")
    var json = false

    @Flag(help: "Print one Nagios/Icinga line per target and exit 0/1/2/3.")
    var nagios = false

    @OptionGroup var metrics: PrometheusOutputOptions

    func validate() throws {
        if targets.isEmpty && mx.isEmpty { throw ValidationError("give a target to probe, or --mx DOMAIN") }
        guard port > 0 else { throw ValidationError("--port must be between 1 and 65535") }
        for domain in mx {
            do { _ = try Hostname.normalize(domain.hasSuffix(".") ? String(domain.dropLast()) : domain, field: "--mx") }
            catch let error as MailSecError { throw ValidationError(error.message) }
        }
        if json && nagios { throw ValidationError("give --json or --nagios, not both") }
        try metrics.validate(against: [("--json", json), ("--nagios", nagios), ("--transcript", transcript)])
        if let mode, ProbeTarget.Mode(rawValue: mode) == nil { throw ValidationError("--mode must be implicit, starttls or plain") }
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be between 0 and 600 seconds") }
        if let overallTimeout, !(overallTimeout > 0 && overallTimeout <= 3600) { throw ValidationError("--overall-timeout must be between 0 and 3600 seconds") }
        if let source, IPAddress.normalize(source) == nil { throw ValidationError("--source \(TextSanitizer.quoted(source)) is not an IP address") }
        do { try ProbeOptions.validateEHLO(ehlo) } catch let error as MailSecError { throw ValidationError(error.message) }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 1024") }
        for target in targets {
            do { _ = try ProbeTarget(parsing: target) } catch let error as MailSecError { throw ValidationError(error.message) }
        }
    }

    func run() throws {
        var options = ProbeOptions()
        var parsed: [ProbeTarget] = []
        try metrics.onCouldNotRun { try runReportingErrors {
            parsed = try targets.map { try ProbeTarget(parsing: $0, mode: mode.flatMap(ProbeTarget.Mode.init(rawValue:))) }
            options.serverName = servername
            options.verifyHost = verifyHost
            if let caFile { options.trust = .file(caFile); _ = try TrustStore(.file(caFile)) }
            options.ehloName = ehlo
            options.mechanism = mech
            options.checkRelay = checkRelay
            options.timeout = .seconds(timeout)
            options.overallTimeout = overallTimeout.map { .seconds($0) }
            options.source = source
            options.allowUnverifiedAuth = insecureAuth
            options.warnDays = warnDays
            options.dane = dane
            if dane || !mx.isEmpty || dns.resolver != nil {
                let (resolverOptions, resolver) = try dns.makeResolver()
                options.dns = resolverOptions
                options.resolver = resolver
                for domain in mx {
                    parsed += try MXDiscovery.lookUp(domain, resolver: resolver, deadline: .after(.seconds(timeout))).targets(port: port)
                }
            }
            if let authUser {
                options.authUser = authUser
                options.password = try secret.read(argument: nil, for: authUser)
            }
        } }
        let finalOptions = options
        let timed = BoundedPool.map(parsed, concurrency: concurrency) { target in
            let started = ContinuousClock.now
            let result = MailProbe.run(target, options: finalOptions)
            return (result, ContinuousClock.now - started)
        }
        let results = timed.map(\.0)

        if metrics.wanted {
            // One file for several targets: the target label tells them apart.
            var text = PrometheusText()
            for (result, duration) in timed {
                MailSecMetrics.probe(result, duration: duration, labels: [("target", result.target.description)], into: &text)
            }
            try metrics.emit(text)
            if metrics.prometheus {
                if results.contains(where: { !$0.report.ok }) { throw ExitStatus.failed }
                return
            }
        }

        if nagios {
            for result in results {
                var line = NagiosLine.make(report: result.report, facts: result.certificate, warnDays: warnDays, label: result.target.description)
                if let tls = result.tls { line += (result.certificate == nil ? "|" : " ") + "handshake_ms=\(Int(tls.handshakeMilliseconds))" }
                print(line)
            }
            throw ExitCode(results.map(\.report.nagiosState.rawValue).max() ?? 0)
        }
        if json {
            try JSONOutput.print(results.map { ProbeJSON($0, transcript: transcript) })
        } else {
            let renderer = HumanRenderer(showIDs: true)
            for (index, result) in results.enumerated() {
                if index > 0 { print() }
                print(renderer.heading(result.target.description))
                print(renderer.render(result.report))
                if transcript {
                    print(renderer.style.dim("transcript:"))
                    for line in result.transcript { print("  \(renderer.plain(line))") }
                }
            }
        }
        if results.contains(where: { !$0.report.ok }) { throw ExitStatus.failed }
    }
}

struct ProbeJSON: Encodable {
    struct TLS: Encodable {
        let version: String
        let cipher: String
        let handshakeMs: Int
        enum CodingKeys: String, CodingKey { case version, cipher, handshakeMs = "handshake_ms" }
    }
    let target: String
    let `protocol`: String
    let ok: Bool
    let checks: [Finding]
    let certificate: CertificateFacts?
    let tls: TLS?
    let transcript: [String]?

    init(_ result: ProbeResult, transcript: Bool) {
        target = result.target.description
        `protocol` = result.target.mailProtocol.rawValue
        ok = result.report.ok
        checks = result.report.findings
        certificate = result.certificate
        tls = result.tls.map { TLS(version: $0.version, cipher: $0.cipher, handshakeMs: Int($0.handshakeMilliseconds)) }
        self.transcript = transcript ? result.transcript : nil
    }
}
