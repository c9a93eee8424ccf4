#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import MailSec

struct AuthTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Check credentials against Dovecot's auth socket exactly as Postfix does, one or thousands at a time.",
        discussion: """
        The request looks like Postfix's: service=smtp, nologin, lip/rip, secured when asked. \
        Exit 0: accepted; 1: rejected (wrong password, disabled, nologin or proxy account); \
        2: undecided (temporary failure, timeout, dropped connection) or could not run.

        With --batch FILE ('-' for stdin), one user:password per line (split at the first colon; \
        '#' comments and blank lines skipped) are checked over one connection, pipelined, with \
        no-penalty. Exit 0 only if all were accepted.

        Examples:
          mailsec auth test alice < password.txt
          mailsec auth test --socket /run/dovecot/auth-client --mech LOGIN --secured alice
          mailsec auth test --batch migrated-users.txt --json > verdicts.jsonl
        """
    )

    @OptionGroup var connection: AuthSocketOptions

    @Option(help: ArgumentHelp("Mechanism: PLAIN, LOGIN (built in), SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, DIGEST-MD5 (libsasl2), or auto: the strongest both sides have.", valueName: "mechanism"))
    var mech = "PLAIN"

    @Option(name: .customLong("sasl-plugin-dir"), help: ArgumentHelp("Where libsasl2 finds its mechanism plugins (default: Debian's).", valueName: "dir"))
    var saslPluginDir: String?

    @Option(help: ArgumentHelp("Realm: for DIGEST-MD5, for sasldb users (user@realm) with --cyrus, and sent to saslauthd.", valueName: "realm"))
    var realm: String?

    @Flag(help: "Check through libsasl2's server side as Postfix does with smtpd_sasl_type = cyrus (whatever pwcheck_method says).")
    var cyrus = false

    @Option(name: .customLong("sasl-app"), help: ArgumentHelp("With --cyrus: the application whose APP.conf is read (Postfix: smtpd).", valueName: "name"))
    var saslApp = "smtpd"

    @Option(name: .customLong("sasl-config-dir"), help: ArgumentHelp("With --cyrus: the directory of APP.conf (default: /etc/postfix/sasl, /etc/sasl2, /usr/lib/sasl2).", valueName: "dir"))
    var saslConfigDir: String?

    @Option(name: .customLong("sasl-hostname"), help: ArgumentHelp("With --cyrus: the server name, the default realm of sasldb users (Postfix: myhostname; default: this host's name).", valueName: "name"))
    var saslHostname: String?

    @Flag(help: "Ask saslauthd directly over its socket, as testsaslauthd does but with service smtp (--socket, default /var/run/saslauthd/mux).")
    var saslauthd = false

    @Option(help: ArgumentHelp("Service name Dovecot sees (Postfix: smtp).", valueName: "name"))
    var service = "smtp"

    @Option(help: ArgumentHelp("Local IP of the pretended SMTP connection.", valueName: "ip"))
    var lip: String?

    @Option(help: ArgumentHelp("Remote (client) IP of the pretended SMTP connection; Dovecot's failure penalty is kept per rip.", valueName: "ip"))
    var rip: String?

    @Flag(help: "Say the connection is TLS-protected, as Postfix does when TLS is on.")
    var secured = false

    @Flag(name: .customLong("no-penalty"), help: "Ask Dovecot to skip its penalty for earlier failures (always on with --batch).")
    var noPenalty = false

    @Option(help: ArgumentHelp("Authorization identity for PLAIN (act as this user).", valueName: "id"))
    var authzid = ""

    @Option(help: ArgumentHelp("Check every user:password line of FILE ('-' for stdin).", valueName: "file"))
    var batch: String?

    @Option(help: ArgumentHelp("Requests in flight at once with --batch.", valueName: "n"))
    var concurrency = 64

    @Flag(help: "Print JSON (JSON Lines with --batch).")
    var json = false

    @Argument(help: "User name.")
    var user: String?

    @Argument(help: "Password (better: stdin, --password-file or the prompt).")
    var password: String?

    @OptionGroup var secret: SecretInput

    func validate() throws {
        if cyrus && saslauthd { throw ValidationError("--cyrus and --saslauthd exclude each other: --cyrus reaches saslauthd too when pwcheck_method says so") }
        if (cyrus || saslauthd) && mech.uppercased() != "PLAIN" { throw ValidationError("--mech does not apply to --cyrus and --saslauthd: they check the password itself") }
        guard !mech.isEmpty, mech.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ValidationError("--mech \(mech) is not a SASL mechanism name")
        }
        if batch == nil && user == nil { throw ValidationError("give a USER, or --batch FILE") }
        if batch != nil && (user != nil || password != nil) { throw ValidationError("--batch reads users and passwords from the file; give no USER") }
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 10000") }
        for (name, value) in [("--lip", lip), ("--rip", rip)] {
            if let value, IPAddress.normalize(value) == nil { throw ValidationError("\(name) \(value) is not an IP address") }
        }
        guard !service.isEmpty, service.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ValidationError("--service must be a word such as smtp or imap")
        }
    }

    private var request: AuthRequest {
        var request = AuthRequest()
        request.mechanism = mech.uppercased()
        request.saslPluginDirectory = saslPluginDir
        request.realm = realm
        request.service = service
        request.localIP = lip
        request.remoteIP = rip
        request.secured = secured
        request.noPenalty = noPenalty || batch != nil
        request.authorizationID = authzid
        return request
    }

    private var saslauthdSocket: String { connection.socketOption ?? SaslauthdClient.defaultSocket }

    /// Dovecot's socket, libsasl2's server side, or saslauthd: the one the options name.
    private func makeChecker() throws -> any PasswordChecker {
        if cyrus {
            let checker = try CyrusPasswordChecker(app: saslApp, configDirectory: saslConfigDir, pluginDirectory: saslPluginDir,
                                                   service: service, hostname: saslHostname, realm: realm)
            if !json {
                let configuration = checker.configuration
                Terminal.printError("libsasl2 \(CyrusSASL.version): \(configuration.path): pwcheck_method: \(configuration.pwcheckMethod)" +
                                    (configuration.mechanismList.map { ", mech_list: \($0)" } ?? ""))
            }
            return checker
        }
        if saslauthd {
            return try SaslauthdClient(path: saslauthdSocket, service: service, realm: realm ?? "", timeout: connection.timeout)
        }
        return try DovecotPasswordChecker(address: connection.address, request: request, timeout: connection.timeout)
    }

    func run() throws {
        if let batch {
            try runBatch(batch)
            return
        }
        try runReportingErrors {
            let user = self.user!
            // Ask for the password before connecting, so no timeout runs while the user types.
            let pass = try secret.read(argument: password, for: user)
            let checker = try makeChecker()
            let verdict = try checker.check(user: user, password: pass)
            let origin = (socket: checker.origin, mechanism: checker.method)
            if json {
                var output = SingleVerdictJSON(user: user, verdict: verdict, socket: origin.socket, mechanism: origin.mechanism, service: service)
                if let checker = checker as? CyrusPasswordChecker {
                    output.config = checker.configuration.path
                    output.pwcheckMethod = checker.configuration.pwcheckMethod
                    output.mechList = checker.configuration.mechanismList
                }
                try JSONOutput.print(output)
            } else {
                printHuman(user: user, verdict: verdict, origin: origin)
            }
            switch verdict.outcome {
            case .success: return
            case .rejected: throw ExitStatus.failed
            case .temporary: throw ExitStatus.couldNotRun
            }
        }
    }

    private func printHuman(user: String, verdict: AuthVerdict, origin: (socket: String, mechanism: String)) {
        let renderer = HumanRenderer()
        let time = Self.duration(verdict.milliseconds)
        let finding: Finding
        switch verdict.outcome {
        case .success:
            let returned = verdict.user.map { $0 == user ? "" : " as \($0)" } ?? ""
            finding = .pass("auth", "\(user): accepted\(returned) in \(time)")
        case .rejected:
            finding = .fail("auth", "\(user): rejected: \(verdict.reason ?? "authentication failed")\(verdict.code.map { " (code \($0))" } ?? "") after \(time)")
        case .temporary:
            finding = .warn("auth", "\(user): undecided: \(verdict.reason ?? "temporary failure") after \(time)")
        }
        print(renderer.render(Report([finding])))
        print(renderer.style.dim("  \(origin.socket), \(origin.mechanism), service=\(service)\(secured ? ", secured" : "")"))
        if let slowness = verdict.slowness { print("  \(slowness)") }
    }

    static func duration(_ milliseconds: Double) -> String {
        milliseconds < 1000 ? "\(Int(milliseconds.rounded())) ms" : "\(Int(milliseconds / 100) / 10).\(Int(milliseconds / 100) % 10) s"
    }

    // MARK: Batch

    private func runBatch(_ path: String) throws {
        var summary = BatchSummary()
        try runReportingErrors {
            let reader = try CredentialReader(path: path)
            reader.onMalformedLine = { _, message in
                summary.malformed += 1
                Terminal.printError("mailsec: \(path): \(message)")
            }
            let checker = try makeChecker()
            let progress = BatchProgress(enabled: Terminal.stderrIsTerminal, total: reader.totalBytes)
            let renderer = HumanRenderer()
            let started = Date()
            let outcome = try checker.check(reader, concurrency: concurrency) { result in
                summary.count(result.verdict.outcome)
                if json {
                    print((try? JSONOutput.encode(BatchLineJSON(result), pretty: false)) ?? "{}")
                } else if result.verdict.outcome != .success {
                    let mark = result.verdict.outcome == .rejected ? renderer.style.red("✗") : renderer.style.yellow("!")
                    progress.clear()
                    print("\(mark) line \(result.line): \(renderer.plain(result.user)): \(renderer.plain(result.verdict.reason ?? "failed"))")
                }
                progress.update(done: summary.total, failed: summary.rejected + summary.temporary, bytes: reader.bytesRead)
            }
            progress.clear()
            summary.unchecked = outcome.unchecked
            let seconds = max(Date().timeIntervalSince(started), 0.001)
            let rate = Int(Double(summary.total) / seconds)
            var line = "\(summary.total) checked in \(Self.duration(seconds * 1000)) (\(rate) per second): \(summary.accepted) accepted, \(summary.rejected) rejected, \(summary.temporary) undecided" + (summary.malformed > 0 ? ", \(summary.malformed) malformed lines skipped" : "")
            if let reason = outcome.stopReason {
                line += "; \(outcome.unchecked) not checked: \(reason.message)"
            }
            if json { Terminal.printError(line) } else { print(TextSanitizer.escaped(line)) }
        }
        if summary.temporary > 0 || summary.malformed > 0 || summary.unchecked > 0 { throw ExitStatus.couldNotRun }
        if summary.rejected > 0 { throw ExitStatus.failed }
    }
}

struct BatchSummary {
    var accepted = 0, rejected = 0, temporary = 0, malformed = 0, unchecked = 0
    var total: Int { accepted + rejected + temporary }

    mutating func count(_ outcome: AuthVerdict.Outcome) {
        switch outcome {
        case .success: accepted += 1
        case .rejected: rejected += 1
        case .temporary: temporary += 1
        }
    }
}

/// A one-line progress bar on stderr, redrawn at most ten times a second.
final class BatchProgress {
    let enabled: Bool
    let total: Int?
    private var lastDraw = 0.0
    private var drawn = false

    init(enabled: Bool, total: Int?) {
        self.enabled = enabled
        self.total = total
    }

    func update(done: Int, failed: Int, bytes: Int) {
        guard enabled else { return }
        let now = Date().timeIntervalSince1970
        guard now - lastDraw >= 0.1 else { return }
        lastDraw = now
        var bar = ""
        if let total, total > 0 {
            let fraction = min(1, Double(bytes) / Double(total))
            let filled = Int(fraction * 30)
            bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] \(Int(fraction * 100))% "
        }
        Terminal.write(fd: 2, "\r\(bar)\(done) checked, \(failed) failed")
        drawn = true
    }

    func clear() {
        guard enabled, drawn else { return }
        Terminal.write(fd: 2, "\r\u{1B}[K")
        drawn = false
    }
}

struct SingleVerdictJSON: Encodable {
    var config: String?
    var pwcheckMethod: String?
    var mechList: String?
    let user: String
    let ok: Bool
    let outcome: String
    let code: String?
    let reason: String?
    let ms: Double
    let authenticatedUser: String?
    let slowness: String?
    let socket: String
    let mechanism: String
    let service: String

    enum CodingKeys: String, CodingKey {
        case user, ok, outcome, code, reason, ms, authenticatedUser = "authenticated_user", slowness, socket, mechanism, service
        case config, pwcheckMethod = "pwcheck_method", mechList = "mech_list"
    }

    init(user: String, verdict: AuthVerdict, socket: String, mechanism: String, service: String) {
        self.user = user
        ok = verdict.outcome == .success
        outcome = verdict.outcome.rawValue
        code = verdict.code
        reason = verdict.reason
        ms = (verdict.milliseconds * 10).rounded() / 10
        authenticatedUser = verdict.user
        slowness = verdict.slowness
        self.socket = socket
        self.mechanism = mechanism
        self.service = service
    }
}

struct BatchLineJSON: Encodable {
    let line: Int
    let user: String
    let ok: Bool
    let code: String?
    let reason: String?
    let ms: Double

    init(_ result: BatchResult) {
        line = result.line
        user = result.user
        ok = result.verdict.outcome == .success
        code = result.verdict.code
        reason = result.verdict.outcome == .success ? nil : result.verdict.reason
        ms = (result.verdict.milliseconds * 10).rounded() / 10
    }
}
