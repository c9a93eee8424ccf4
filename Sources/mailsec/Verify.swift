import ArgumentParser
import MailSec

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a certificate, its key, chain and host names before Postfix or Dovecot loads them.",
        discussion: """
        One pass/fail answer with stable check ids: cert-readable, key-readable, key-matches-cert, \
        hostname, validity, expiry, chain, crl, chain-order, key-strength, signature-algorithm, key-usage, \
        key-file-permissions. The chain is built as clients build it: the certificates after the leaf \
        and in --chain are a pool in any order, anchors may be intermediates, RFC 5280 is applied \
        strictly for a TLS server through the whole chain. chain-order checks the order the server \
        will send. Exit 0 when nothing failed (warnings allowed), 1 when a check failed, \
        2 when it could not run. With --nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

        Examples:
          mailsec verify --cert /etc/pki/tls/certs/mail.example.com.crt \\
                         --key /etc/pki/tls/private/mail.example.com.key --host mail.example.com
          mailsec verify --cert fullchain.pem --host mail.example.com --nagios --warn-days 21
          mailsec verify --cert new.pem --host mail.example.com --at-time 2027-03-01T00:00:00Z --crl ca.crl
        """
    )

    @Option(help: ArgumentHelp("Certificate file: the leaf, optionally followed by intermediates (like smtpd_tls_cert_file).", valueName: "file"))
    var cert: String

    @Option(help: ArgumentHelp("Private key file (like smtpd_tls_key_file).", valueName: "file"))
    var key: String?

    @Option(help: ArgumentHelp("More intermediate certificates.", valueName: "file"))
    var chain: String?

    @Option(help: ArgumentHelp("A name clients connect to (repeatable): a host name or an IP address.", valueName: "name"))
    var host: [String] = []

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("Trust these CA certificates instead of the system store.", valueName: "file"))
    var caFile: String?

    @Option(name: .customLong("ca-path"), help: ArgumentHelp("Trust this hashed CA directory instead of the system store.", valueName: "dir"))
    var caPath: String?

    @Option(name: .customLong("warn-days"), help: "Warn when the certificate expires within this many days.")
    var warnDays = 30

    @Option(name: .customLong("at-time"), help: ArgumentHelp("Validate as of this RFC 3339 time (expiry, chain, CRLs), e.g. 2027-03-01T00:00:00Z.", valueName: "time"))
    var atTime: String?

    @Option(help: ArgumentHelp("A CRL (PEM or DER) to check revocation with, for the whole chain (repeatable).", valueName: "file"))
    var crl: [String] = []

    @Option(name: .customLong("max-depth"), help: ArgumentHelp("The most certificates allowed between the leaf and the anchor.", valueName: "n"))
    var maxDepth: Int?

    @Flag(help: "Print one JSON document.")
    var json = false

    @Flag(help: "Print one Nagios/Icinga plugin line and exit 0/1/2/3.")
    var nagios = false

    @OptionGroup var metrics: PrometheusOutputOptions

    func validate() throws {
        if caFile != nil && caPath != nil { throw ValidationError("give --ca-file or --ca-path, not both") }
        if json && nagios { throw ValidationError("give --json or --nagios, not both") }
        try metrics.validate(against: [("--json", json), ("--nagios", nagios)])
        guard warnDays >= 0 else { throw ValidationError("--warn-days must be 0 or more") }
        // Any name a DNS label can carry is a question worth answering: one the
        // certificate does not cover (an underscore, say) fails `hostname`, it is no usage error.
        for name in host where name.isEmpty || name.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) {
            throw ValidationError("--host \(TextSanitizer.quoted(name)): a host name or IP address, without spaces or control characters")
        }
        if let atTime, UTCTime.parseRFC3339(atTime) == nil {
            throw ValidationError("--at-time \(TextSanitizer.quoted(atTime)) is not an RFC 3339 time such as 2027-03-01T00:00:00Z")
        }
        if let maxDepth, !(0...100).contains(maxDepth) { throw ValidationError("--max-depth must be between 0 and 100") }
    }

    func run() throws {
        var request = VerifyRequest(certificatePath: cert, keyPath: key, chainPath: chain, hosts: host)
        request.warnDays = warnDays
        if let atTime, let time = UTCTime.parseRFC3339(atTime) { request.now = time }
        request.crlPaths = crl
        request.maximumDepth = maxDepth
        if let caFile { request.trust = .file(caFile) } else if let caPath { request.trust = .directory(caPath) }

        let verification: CertificateVerification
        let started = ContinuousClock.now
        do {
            verification = try CertificateVerifier.verify(request)
        } catch let error as MailSecError {
            try metrics.emitCouldNotRun()
            if nagios {
                print("MAILSEC UNKNOWN - \(TextSanitizer.escaped(error.message.replacingAll("|", with: "/")))")
                throw ExitCode(NagiosState.unknown.rawValue)
            }
            printErrorWithRemedy(error)
            throw ExitStatus.couldNotRun
        }

        let report = verification.report
        if metrics.wanted {
            var text = PrometheusText()
            MailSecMetrics.verification(verification, duration: ContinuousClock.now - started, into: &text)
            try metrics.emit(text)
        }
        if metrics.prometheus {
            if !report.ok { throw ExitStatus.failed }
            return
        }
        if nagios {
            print(NagiosLine.make(report: report, facts: verification.certificate, warnDays: warnDays))
            throw ExitCode(report.nagiosState.rawValue)
        }
        if json {
            try JSONOutput.print(VerifyJSON(ok: report.ok, checks: report.findings, certificate: verification.certificate, path: verification.path))
        } else {
            let renderer = HumanRenderer(showIDs: true)
            if let facts = verification.certificate {
                print(renderer.heading("\(cert): \(facts.subject)"))
            }
            print(renderer.render(report))
            print()
            let failed = report.count(.fail), warned = report.count(.warn)
            print(failed == 0 ? (warned == 0 ? "All checks passed." : "No failures, \(warned) warning\(warned == 1 ? "" : "s").")
                              : "\(failed) check\(failed == 1 ? "" : "s") failed\(warned > 0 ? ", \(warned) warning\(warned == 1 ? "" : "s")" : "").")
        }
        if !report.ok { throw ExitStatus.failed }
    }
}

struct VerifyJSON: Encodable {
    let ok: Bool
    let checks: [Finding]
    let certificate: CertificateFacts?
    /// The path built, leaf first.
    let path: [PathCertificate]
}
