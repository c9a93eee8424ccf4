import ArgumentParser
import MailSec

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check every TLS listener of Postfix and Dovecot, from the files their configuration names to what they serve.",
        discussion: """
        Reads main.cf and master.cf (every smtpd inet service with TLS, and tls_server_sni_maps) and \\
        Dovecot's configuration (doveconf -n, or MailSec's own reader for a copied tree or a 2.4 file; \\
        local_name blocks are SNI endpoints), then checks each endpoint: tls-files, \\
        served-matches-file, certificate-hostname, certificate-chain, certificate-expiry; and across \\
        endpoints: same-certificate, placeholder-certificate. Exit 0 nothing failed, 1 a check failed, \\
        2 could not run (an unreadable or malformed configuration names the file and line).

        Examples:
          mailsec audit
          mailsec audit --host mail.example.com --nagios
          mailsec audit --root /srv/copy-of-mx1 --no-probe
        """
    )

    @Option(help: ArgumentHelp("Read every file under DIR (a copy of a server's tree).", valueName: "dir"))
    var root: String?

    @Option(name: .customLong("postfix-dir"), help: ArgumentHelp("Postfix's configuration directory (default /etc/postfix, when it exists).", valueName: "dir"))
    var postfixDir: String?

    @Option(name: .customLong("dovecot-config"), help: ArgumentHelp("Dovecot's configuration file (default /etc/dovecot/dovecot.conf, when it exists).", valueName: "file"))
    var dovecotConfig: String?

    @Option(help: ArgumentHelp("A name clients use (repeatable; default Postfix's myhostname).", valueName: "name"))
    var host: [String] = []

    @Flag(name: .customLong("no-probe"), help: "Do not connect: check the configuration and its files only.")
    var noProbe = false

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("Trust these CA certificates instead of the system store.", valueName: "file"))
    var caFile: String?

    @Option(help: ArgumentHelp("Connect from this local address.", valueName: "address"))
    var source: String?

    @Option(name: .customLong("warn-days"), help: "Warn when a certificate expires within this many days.")
    var warnDays = 30

    @Option(help: ArgumentHelp("Seconds allowed for each network step.", valueName: "seconds"))
    var timeout: Double = 10

    @Flag(help: "Print one JSON document.")
    var json = false

    @Flag(help: "Print one Nagios/Icinga line and exit 0/1/2/3.")
    var nagios = false

    @OptionGroup var metrics: PrometheusOutputOptions

    func validate() throws {
        if json && nagios { throw ValidationError("give --json or --nagios, not both") }
        try metrics.validate(against: [("--json", json), ("--nagios", nagios)])
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be between 0 and 600 seconds") }
        guard warnDays >= 0 else { throw ValidationError("--warn-days must be 0 or more") }
        if let source, IPAddress.normalize(source) == nil { throw ValidationError("--source \(TextSanitizer.quoted(source)) is not an IP address") }
    }

    func run() throws {
        var request = AuditRequest()
        if let root { request.root = SecureFileSystem.absolute(root) }
        // The reload commands in remedies (and deploy) run from anywhere: absolute paths.
        request.postfixDirectory = postfixDir.map(SecureFileSystem.absolute)
        request.dovecotConfig = dovecotConfig.map(SecureFileSystem.absolute)
        request.hosts = host
        request.probe = !noProbe
        if let caFile { request.trust = .file(caFile) }
        request.source = source
        request.warnDays = warnDays
        request.timeout = .seconds(timeout)
        let result: AuditResult
        let started = ContinuousClock.now
        do {
            result = try Audit.run(request)
        } catch let error as MailSecError {
            try metrics.emitCouldNotRun()
            if nagios {
                print("MAILSEC UNKNOWN - audit: \(TextSanitizer.escaped(error.message.replacingAll("|", with: "/").replacingAll("\n", with: " ")))")
                throw ExitCode(NagiosState.unknown.rawValue)
            }
            printErrorWithRemedy(error)
            throw ExitStatus.couldNotRun
        }
        if metrics.wanted {
            var text = PrometheusText()
            MailSecMetrics.audit(result, duration: ContinuousClock.now - started, into: &text)
            try metrics.emit(text)
            if metrics.prometheus {
                if !result.ok { throw ExitStatus.failed }
                return
            }
        }
        if nagios {
            print(Self.nagiosLine(result, warnDays: warnDays))
            throw ExitCode(Self.worst(result).nagiosState.rawValue)
        }
        if json {
            try JSONOutput.print(AuditJSON(result))
        } else {
            let renderer = HumanRenderer(showIDs: true)
            for source in result.sources { print(renderer.style.dim(source)) }
            for audited in result.endpoints {
                print()
                print(renderer.heading(audited.endpoint.label) + renderer.style.dim("  \(audited.endpoint.source)"))
                print(renderer.render(audited.report))
            }
            print()
            print(renderer.heading("across listeners"))
            print(renderer.render(result.report))
            let failed = result.endpoints.reduce(result.report.count(.fail)) { $0 + $1.report.count(.fail) }
            let warned = result.endpoints.reduce(result.report.count(.warn)) { $0 + $1.report.count(.warn) }
            print()
            print("\(result.endpoints.count) endpoint\(result.endpoints.count == 1 ? "" : "s"): " +
                  (failed == 0 ? (warned == 0 ? "all checks passed." : "no failures, \(warned) warning\(warned == 1 ? "" : "s").")
                               : "\(failed) check\(failed == 1 ? "" : "s") failed\(warned > 0 ? ", \(warned) warning\(warned == 1 ? "" : "s")" : "")."))
        }
        if !result.ok { throw ExitStatus.failed }
    }

    /// Every finding of the audit in one report, for the worst state.
    static func worst(_ result: AuditResult) -> Report {
        Report(result.endpoints.flatMap(\.report.findings) + result.report.findings)
    }

    /// One line, the worst state, `days_left` per endpoint with range thresholds (alert below `warnDays`, critical below 1).
    static func nagiosLine(_ result: AuditResult, warnDays: Int) -> String {
        let all = worst(result)
        let state = all.nagiosState
        var text: String
        switch state {
        case .ok: text = "\(result.endpoints.count) endpoints, \(all.count(.pass)) checks passed"
        default:
            let status: Finding.Status = state == .critical ? .fail : .warn
            let bad = result.endpoints.flatMap { audited in audited.report.findings.filter { $0.status == status }.map { "\(audited.endpoint.label) \($0.id): \($0.message)" } }
                + result.report.findings.filter { $0.status == status }.map { "\($0.id): \($0.message)" }
            text = bad.joined(separator: "; ")
        }
        text = TextSanitizer.escaped(text.replacingAll("|", with: "/").replacingAll("\n", with: " ").replacingAll("'", with: ""))
        let perfdata = result.endpoints.compactMap { audited -> String? in
            guard let days = (audited.served ?? audited.configured.first)?.daysLeft else { return nil }
            let label = "\(audited.endpoint.service):\(audited.endpoint.port)" + (audited.endpoint.serverName.map { "/\($0)" } ?? "")
            return "'\(label.replacingAll("'", with: "")) days_left'=\(days);\(warnDays):;1:"
        }.joined(separator: " ")
        return "MAILSEC \(state.label) - audit: \(text)" + (perfdata.isEmpty ? "" : "|\(perfdata)")
    }
}

struct AuditJSON: Encodable {
    struct Endpoint: Encodable {
        let service: String
        let `protocol`: String
        let mode: String
        let address: String
        let port: UInt16
        let serverName: String?
        let certificateFile: String?
        let keyFile: String?
        let source: String
        let served: CertificateFacts?
        let checks: [Finding]

        enum CodingKeys: String, CodingKey {
            case service, `protocol`, mode, address, port, serverName = "server_name", certificateFile = "certificate_file",
                 keyFile = "key_file", source, served, checks
        }

        // server_name is present as null when there is none: a stable shape.
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(service, forKey: .service)
            try container.encode(`protocol`, forKey: .protocol)
            try container.encode(mode, forKey: .mode)
            try container.encode(address, forKey: .address)
            try container.encode(port, forKey: .port)
            try container.encode(serverName, forKey: .serverName)
            try container.encode(certificateFile, forKey: .certificateFile)
            try container.encode(keyFile, forKey: .keyFile)
            try container.encode(source, forKey: .source)
            try container.encodeIfPresent(served, forKey: .served)
            try container.encode(checks, forKey: .checks)
        }
    }
    let ok: Bool
    let sources: [String]
    let endpoints: [Endpoint]
    let checks: [Finding]

    init(_ result: AuditResult) {
        ok = result.ok
        sources = result.sources
        endpoints = result.endpoints.map { audited in
            let endpoint = audited.endpoint
            return Endpoint(service: endpoint.service, protocol: endpoint.mailProtocol.rawValue, mode: endpoint.mode.rawValue, address: endpoint.address,
                            port: endpoint.port, serverName: endpoint.serverName, certificateFile: endpoint.pairs.first?.certificate,
                            keyFile: endpoint.pairs.first?.key, source: endpoint.source, served: audited.served, checks: audited.report.findings)
        }
        checks = result.report.findings
    }
}
