import ArgumentParser
import MailSec

struct PreflightCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preflight",
        abstract: "Check everything SMTPS on port 465 needs before you reload Postfix, with the fix for each failure.",
        discussion: """
        Reads main.cf and master.cf itself and checks: postfix-config, smtps-service, wrappermode, \
        sasl-enabled, client-restrictions, services-name, tls-files, sasl-socket, content-filter, port, \
        firewall, postfix-check. --root DIR checks a copy of a server's file tree: every file, including \
        those the configuration names, is read under DIR. --probe [TARGET] then logs in live \
        (default smtps://127.0.0.1:PORT) and adds the probe's checks. With --auth-user the password \
        comes from stdin, --password-file or a prompt. Exit 0 when nothing failed, 1 when a check \
        failed, 2 when it could not run; with --nagios 0/1/2/3.

        Examples:
          mailsec preflight
          mailsec preflight --root /srv/copy-of-mail1 --host mail.example.com
          mailsec preflight --probe --auth-user alice < password-file
        """
    )

    @Option(name: .customLong("postfix-dir"), help: ArgumentHelp("Postfix configuration directory (default: ROOT/etc/postfix).", valueName: "dir"))
    var postfixDirectory: String?

    @Option(help: ArgumentHelp("Read every system file under this directory.", valueName: "dir"))
    var root = "/"

    @Option(help: ArgumentHelp("The name clients connect to (default: myhostname).", valueName: "name"))
    var host: String?

    @Option(help: "The SMTPS port.")
    var port = 465

    @Flag(help: "Also probe the server live, logging in like a client.")
    var probe = false

    @Argument(help: ArgumentHelp("With --probe: what to probe (default smtps://127.0.0.1:PORT).", valueName: "target"))
    var target: String?

    @Option(name: .customLong("auth-user"), help: ArgumentHelp("Log in as this user through the SASL socket (and in the probe).", valueName: "user"))
    var authUser: String?

    @OptionGroup var secret: SecretInput

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("Trust these CA certificates instead of the system store.", valueName: "file"))
    var caFile: String?

    @Option(name: .customLong("warn-days"), help: "Warn when the certificate expires within this many days.")
    var warnDays = 30

    @Option(help: ArgumentHelp("Seconds allowed for each network step.", valueName: "seconds"))
    var timeout: Double = 10

    @Flag(help: "Print one JSON document.")
    var json = false

    @Flag(help: "Print one Nagios/Icinga plugin line and exit 0/1/2/3.")
    var nagios = false

    @OptionGroup var metrics: PrometheusOutputOptions

    func validate() throws {
        if json && nagios { throw ValidationError("give --json or --nagios, not both") }
        try metrics.validate(against: [("--json", json), ("--nagios", nagios)])
        if target != nil && !probe { throw ValidationError("a TARGET is only used with --probe") }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        guard warnDays >= 0 else { throw ValidationError("--warn-days must be 0 or more") }
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be between 0 and 600 seconds") }
        guard root.hasPrefix("/") else { throw ValidationError("--root must be an absolute path") }
        if let host {
            do { _ = try Hostname.normalize(host.hasSuffix(".") ? String(host.dropLast()) : host, field: "--host") }
            catch let error as MailSecError { throw ValidationError(error.message) }
        }
        if let target {
            do { _ = try ProbeTarget(parsing: target) } catch let error as MailSecError { throw ValidationError(error.message) }
        }
    }

    func run() throws {
        var request = PreflightRequest()
        let started = ContinuousClock.now
        try metrics.onCouldNotRun { try runReportingErrors {
            guard FileStatus(path: root)?.isDirectory == true else {
                throw MailSecError(.fileNotFound, "--root \(root) is not a directory")
            }
            request.root = root
            request.postfixDirectory = postfixDirectory
            request.host = host
            request.port = port
            request.warnDays = warnDays
            request.timeout = .seconds(timeout)
            if let caFile { request.trust = .file(caFile); _ = try TrustStore(.file(caFile)) }
            if let authUser {
                request.authUser = authUser
                request.password = try secret.read(argument: nil, for: authUser)
            }
            if probe {
                request.probe = try ProbeTarget(parsing: target ?? "smtps://127.0.0.1:\(port)")
            }
        } }
        let result = Preflight.run(request)
        let report = result.report
        if metrics.wanted {
            var text = PrometheusText()
            MailSecMetrics.outcome(report, duration: ContinuousClock.now - started, into: &text)
            try metrics.emit(text)
            if metrics.prometheus {
                if !report.ok { throw ExitStatus.failed }
                return
            }
        }
        if nagios {
            print(NagiosLine.make(report: report, facts: nil, warnDays: warnDays, label: "preflight \(result.host):\(port)"))
            throw ExitCode(report.nagiosState.rawValue)
        }
        if json {
            try JSONOutput.print(PreflightJSON(ok: report.ok, host: result.host, port: port, configDirectory: request.configDirectory,
                                               service: result.service.map { PreflightJSON.ServiceJSON(name: $0.name, file: result.masterConfigPath, line: $0.lines.lowerBound) },
                                               checks: report.findings))
        } else {
            let renderer = HumanRenderer(showIDs: true)
            print(renderer.heading("SMTPS preflight for \(result.host):\(port) (\(request.configDirectory))"))
            print(renderer.render(report))
            print()
            let failed = report.count(.fail), warned = report.count(.warn)
            let plural = { (count: Int, word: String) in "\(count) \(word)\(count == 1 ? "" : "s")" }
            print(failed == 0 ? (warned == 0 ? "Ready: every check passed." : "Ready, with \(plural(warned, "warning")).")
                              : "Not ready: \(plural(failed, "check")) failed\(warned > 0 ? ", \(plural(warned, "warning"))" : "").")
        }
        if !report.ok { throw ExitStatus.failed }
    }
}

struct PreflightJSON: Encodable {
    let ok: Bool
    let host: String
    let port: Int
    let configDirectory: String
    let service: ServiceJSON?
    let checks: [Finding]

    /// Where the SMTPS service is defined.
    struct ServiceJSON: Encodable {
        let name: String
        let file: String
        let line: Int
    }

    enum CodingKeys: String, CodingKey {
        case ok, host, port, service, checks
        case configDirectory = "config_directory"
    }
}
