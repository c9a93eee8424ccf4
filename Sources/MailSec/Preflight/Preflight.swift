import Glibc

/// What `mailsec preflight` is asked to check.
public struct PreflightRequest: Sendable {
    /// Every system file is read under this prefix, paths named in the configuration included.
    public var root = "/"
    /// The Postfix configuration directory; nil means ROOT/etc/postfix.
    public var postfixDirectory: String?
    /// The name clients connect to; nil means myhostname.
    public var host: String?
    /// The port the SMTPS service should listen on.
    public var port = 465
    /// With a password: log in through the SASL socket as Postfix would, and in the probe.
    public var authUser: String?
    /// The password of `authUser`.
    public var password: SecureBytes?
    /// What the certificate's chain must lead to.
    public var trust: TrustAnchors = .system
    /// A certificate that expires within this many days is a warning.
    public var warnDays = 30
    /// Also probe this target live, logging in when `authUser` is set.
    public var probe: ProbeTarget?
    /// Allowed for each network step and for Postfix's own check.
    public var timeout: Duration = .seconds(10)

    /// The live system, port 465, no login, no probe.
    public init() {}

    /// Where main.cf and master.cf are read from.
    public var configDirectory: String { postfixDirectory ?? RootedPath.join(root, "/etc/postfix") }
    var isLiveSystem: Bool { RootedPath.isLiveSystem(root) }
}

/// The findings, the host they were checked for, and the probe's extras.
public struct PreflightResult: Sendable {
    /// The checks, in order, each failure with its fix.
    public var report: Report
    /// The host name the certificate was checked for.
    public var host: String
    /// The master.cf service found for the port, and the file it is in.
    public var service: MasterService?
    /// The master.cf that was read.
    public var masterConfigPath: String
    /// The live probe, when one was asked for.
    public var probe: ProbeResult?
}

/// Everything to check before enabling SMTPS on 465: the master.cf service,
/// its overrides and main.cf, the certificate and key, the SASL socket, a
/// content filter, the port, the firewall, and Postfix's own check.
public enum Preflight {
    /// Runs every check (Postfix's own `postfix check` beside the others, on a live system); failures are findings, and this never throws.
    public static func run(_ request: PreflightRequest) -> PreflightResult {
        // postfix check spends most of its time waiting; run it beside the rest.
        var (result, checked) = BoundedPool.concurrently({ offlineChecks(request) }, { postfixCheck(request) })
        result.report.add(checked)
        if let target = request.probe {
            var options = ProbeOptions()
            options.verifyHost = result.host
            options.trust = request.trust
            options.authUser = request.authUser
            options.password = request.password
            options.checkRelay = true
            options.timeout = request.timeout
            options.warnDays = request.warnDays
            let probe = SMTPProbe.run(target, options: options)
            result.report.findings += probe.report.findings
            result.probe = probe
        }
        return result
    }

    static func offlineChecks(_ request: PreflightRequest) -> PreflightResult {
        let context = PreflightContext.load(request)
        var report = Report(context.configFindings())
        report.findings += context.serviceFindings()
        report.findings += context.servicesNameFindings()
        report.findings += context.tlsFileFindings()
        report.findings += context.saslSocketFindings()
        report.findings += context.contentFilterFindings()
        report.findings += context.portFindings()
        report.findings += context.firewallFindings()
        return PreflightResult(report: report, host: context.host, service: context.service, masterConfigPath: context.masterPath)
    }

    static func postfixCheck(_ request: PreflightRequest) -> Finding {
        let id: Finding.ID = "postfix-check"
        let directory = request.configDirectory
        guard request.isLiveSystem else {
            return .skip(id, "\(Vocabulary.name(.root)) is set: postfix check would judge this machine's queue and programs, not the copied tree")
        }
        guard PostfixCheck.isInstalled else { return .skip(id, "Postfix is not installed here (\(PostfixCheck.executable))") }
        guard FileStatus(path: directory + "/main.cf") != nil else { return .skip(id, "no main.cf in \(directory) to check") }
        let command = "postfix -c \(ShellQuoting.quote(directory)) check"
        do {
            let outcome = try PostfixCheck.run(configDirectory: directory)
            if outcome.status != 0 {
                return .fail(id, "\(command) failed (exit \(outcome.status))" + (outcome.output.isEmpty ? "" : ":\n\(outcome.output)"),
                             remedy: "fix what it names, then run \(command) again before restarting Postfix")
            }
            if !outcome.output.isEmpty {
                return .warn(id, "\(command) warns:\n\(outcome.output)", remedy: "fix what it names, then run \(command) again")
            }
            return .pass(id, "\(command) is clean")
        } catch {
            return .fail(id, "\(command) could not run: \(error)")
        }
    }
}

/// The configuration and system facts the checks share, read once.
struct PreflightContext {
    let request: PreflightRequest
    let mainPath: String
    let masterPath: String
    let main: PostfixMainConfig
    let master: PostfixMasterConfig?
    let loadProblems: [String]
    let services: ServicesFile?
    let accounts: SystemAccounts
    let host: String
    /// The enabled inet smtpd service on the port, if any.
    let service: MasterService?

    var root: String { request.root }
    var port: Int { request.port }
    var overrides: [String: String] { service?.overrideValues ?? [:] }

    static func load(_ request: PreflightRequest) -> PreflightContext {
        let directory = request.configDirectory
        let mainPath = directory + "/main.cf", masterPath = directory + "/master.cf"
        var problems: [String] = []
        let hostname = systemHostname(root: request.root)
        var main = PostfixMainConfig(text: "", path: mainPath, systemHostname: hostname)
        do { main = try PostfixMainConfig.load(mainPath, systemHostname: hostname) } catch { problems.append("\(error)") }
        var master: PostfixMasterConfig?
        do { master = try PostfixMasterConfig.load(masterPath) } catch { problems.append("\(error)") }
        let services = try? ServicesFile.load(RootedPath.join(request.root, "/etc/services"))
        var host = request.host ?? main.value("myhostname")
        if host.hasSuffix(".") { host.removeLast() }
        let service = master?.services.first { candidate in
            candidate.type == "inet" && candidate.command == "smtpd" && resolvePort(candidate.portName, services: services) == request.port
        }
        return PreflightContext(request: request, mainPath: mainPath, masterPath: masterPath, main: main, master: master,
                                loadProblems: problems, services: services, accounts: SystemAccounts.load(root: request.root),
                                host: host, service: service)
    }

    /// The port a master.cf service name stands for: a number, else /etc/services, else the well-known names.
    static func resolvePort(_ name: String, services: ServicesFile?) -> Int? {
        if let number = Int(name) { return number }
        if let entry = services?.tcp(name) { return entry.port }
        return FirewallInspector.wellKnown[name]
    }

    /// gethostname() on the live system; the copied tree's /etc/hostname under --root.
    static func systemHostname(root: String) -> String {
        if RootedPath.isLiveSystem(root) {
            var buffer = [CChar](repeating: 0, count: 256)
            if gethostname(&buffer, buffer.count) == 0 { return String(nulTerminated: buffer) }
        }
        let text = (try? SecureFileSystem.readText(RootedPath.join(root, "/etc/hostname"))) ?? ""
        return text.nonEmptyLines().first.map { $0.trimmingWhitespace() } ?? "localhost"
    }

    /// A path named in the configuration, read under the root.
    func rooted(_ path: String) -> String { RootedPath.join(root, path) }

    /// The stanza that makes the SMTPS service, as the guides write it.
    var stanza: String {
        let name = port == 465 ? "smtps" : String(port)
        let padded = name + String(repeating: " ", count: max(1, 10 - name.count))
        return """
        \(padded)inet  n       -       n       -       -       smtpd
          -o syslog_name=postfix/\(name)
          -o smtpd_tls_wrappermode=yes
          -o smtpd_sasl_auth_enable=yes
          -o smtpd_client_restrictions=permit_sasl_authenticated,reject
        """
    }

    /// "master.cf line 17" for the service, for messages.
    var serviceWhere: String { service.map { "\(masterPath) line \($0.lines.lowerBound)" } ?? masterPath }

    /// Where to add an `-o` line.
    func addUnderService(_ setting: String) -> String {
        "add under the \(service?.name ?? "smtps") service (\(serviceWhere)):\n  -o \(setting)\nthen: postfix reload"
    }
}
