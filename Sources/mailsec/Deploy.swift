import ArgumentParser
import Foundation
import MailSec

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Install a renewed certificate for Postfix and Dovecot, reload them, and prove every listener serves it, or roll back.",
        discussion: """
        Steps, each a check: new-certificate (verify's checks on the new pair), names-kept (every name \\
        of the certificate being replaced is still covered), install (each file written safely, owner \\
        and mode kept, the previous one kept as PATH.YYYYMMDD-HHMMSS.bak; SNI maps rebuilt with \\
        postmap -F), reload (postfix reload, doveadm reload, or --reload-command), served (every \\
        listener using the files serves the new certificate within --timeout), and rollback when the \\
        reload or the confirmation failed. Exit 0 deployed and served, 1 refused or rolled back, \\
        2 could not run.

        By default every certificate/key pair Postfix and Dovecot are configured with whose current \\
        certificate shares a DNS name with the new one is replaced.

        Examples:
          certbot renew --deploy-hook 'mailsec deploy --certbot'
          acme.sh --install-cert -d mail.example.com --fullchain-file /tmp/f.pem --key-file /tmp/k.pem \\
              --reloadcmd 'mailsec deploy --cert /tmp/f.pem --key /tmp/k.pem'
          lego ... renew --renew-hook 'mailsec deploy --lego'
          mailsec deploy --cert fullchain.pem --key privkey.pem --dry-run
          certbot renew --deploy-hook 'mailsec deploy --certbot --dane'
        """
    )

    @Flag(help: "Take the certificate from certbot's --deploy-hook environment (RENEWED_LINEAGE).")
    var certbot = false

    @Flag(help: "Take the certificate from lego's hook environment (LEGO_CERT_PATH, LEGO_CERT_KEY_PATH).")
    var lego = false

    @Option(help: ArgumentHelp("The new certificate with its chain (fullchain.pem).", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The new certificate's key.", valueName: "file"))
    var key: String?

    @Option(name: .customLong("install-cert"), help: ArgumentHelp("Replace exactly this certificate file (repeatable, with --install-key).", valueName: "path"))
    var installCert: [String] = []

    @Option(name: .customLong("install-key"), help: ArgumentHelp("The key file of the --install-cert at the same position.", valueName: "path"))
    var installKey: [String] = []

    @Option(help: ArgumentHelp("Read and write every file under DIR (a copy of a server's tree); nothing is reloaded.", valueName: "dir"))
    var root: String?

    @Option(name: .customLong("postfix-dir"), help: ArgumentHelp("Postfix's configuration directory (default /etc/postfix, when it exists).", valueName: "dir"))
    var postfixDir: String?

    @Option(name: .customLong("dovecot-config"), help: ArgumentHelp("Dovecot's configuration file (default /etc/dovecot/dovecot.conf, when it exists).", valueName: "file"))
    var dovecotConfig: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("Trust these CA certificates instead of the system store.", valueName: "file"))
    var caFile: String?

    @Flag(name: .customLong("allow-name-change"), help: "Deploy even when the new certificate drops a name the old one covered.")
    var allowNameChange = false

    @Option(name: .customLong("reload-command"), help: ArgumentHelp("Run this (with /bin/sh) instead of the built-in reloads (repeatable).", valueName: "command"))
    var reloadCommand: [String] = []

    @Flag(help: "Refuse unless the TLSA records of every name and port the certificate will serve already match it (DANE rollover guard).")
    var dane = false

    @OptionGroup var dns: DNSOptions

    @Flag(name: .customLong("no-reload"), help: "Install only: no reload, no confirmation.")
    var noReload = false

    @Flag(name: .customLong("dry-run"), help: "Print the plan (files, maps, reloads, listeners) and change nothing.")
    var dryRun = false

    @Option(help: ArgumentHelp("Seconds the listeners have to serve the new certificate after the reload.", valueName: "seconds"))
    var timeout: Double = 30

    @Option(name: .customLong("warn-days"), help: "Refuse a certificate that expires within this many days.")
    var warnDays = 30

    @Flag(help: "Print one JSON document.")
    var json = false

    func validate() throws {
        let sources = [certbot, lego, cert != nil || key != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give the new certificate with one of --certbot, --lego or --cert FILE --key FILE") }
        if cert != nil || key != nil, cert == nil || key == nil { throw ValidationError("--cert and --key go together") }
        guard installCert.count == installKey.count else { throw ValidationError("give one --install-key for each --install-cert") }
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
        guard warnDays >= 0 else { throw ValidationError("--warn-days must be 0 or more") }
        if noReload && !reloadCommand.isEmpty { throw ValidationError("give --no-reload or --reload-command, not both") }
    }

    /// The new pair: from the ACME client's environment or the options.
    func newPair() throws -> (certificate: String, key: String) {
        let environment = ProcessInfo.processInfo.environment
        if certbot {
            guard let lineage = environment["RENEWED_LINEAGE"], !lineage.isEmpty else {
                throw MailSecError(.invalidInput, "--certbot: RENEWED_LINEAGE is not set", remedy: "run it as certbot's --deploy-hook, or give --cert and --key")
            }
            return (lineage + "/fullchain.pem", lineage + "/privkey.pem")
        }
        if lego {
            guard let certificate = environment["LEGO_CERT_PATH"], let key = environment["LEGO_CERT_KEY_PATH"], !certificate.isEmpty, !key.isEmpty else {
                throw MailSecError(.invalidInput, "--lego: LEGO_CERT_PATH and LEGO_CERT_KEY_PATH are not set", remedy: "run it as lego's --run-hook or --renew-hook, or give --cert and --key")
            }
            return (certificate, key)
        }
        return (cert!, key!)
    }

    func run() throws {
        let result: DeployResult
        do {
            let pair = try newPair()
            var request = DeployRequest(certificatePath: SecureFileSystem.absolute(pair.certificate), keyPath: SecureFileSystem.absolute(pair.key))
            if let root { request.root = SecureFileSystem.absolute(root) }
            request.postfixDirectory = postfixDir.map(SecureFileSystem.absolute)
            request.dovecotConfig = dovecotConfig.map(SecureFileSystem.absolute)
            request.installPairs = zip(installCert, installKey).map { AuditEndpoint.CertificatePair(certificate: SecureFileSystem.absolute($0), key: SecureFileSystem.absolute($1)) }
            if let caFile { request.trust = .file(caFile) }
            request.allowNameChange = allowNameChange
            if dane { request.dane = try dns.makeResolver().options }
            request.reloadCommands = reloadCommand
            request.reload = !noReload
            request.dryRun = dryRun
            request.timeout = .milliseconds(Int64(timeout * 1000))
            request.warnDays = warnDays
            result = try Deploy.run(request)
        } catch let error as MailSecError {
            printErrorWithRemedy(error)
            throw ExitStatus.couldNotRun
        }
        if json {
            try JSONOutput.print(DeployJSON(result))
        } else {
            let renderer = HumanRenderer(showIDs: true)
            print(renderer.render(result.report))
            print()
            let rolledBack = result.report.findings(withID: "rollback").first
            switch (result.ok, rolledBack?.status) {
            case (true, _): print(dryRun ? "Dry run: nothing was changed." : "Deployed: every listener serves \(result.fingerprint.prefix(23))….")
            case (false, .pass?): print("Not deployed: rolled back, the server is as it was.")
            case (false, .fail?): print("Not deployed, and the rollback did not complete: see rollback above.")
            default: print("Not deployed: nothing was changed.")
            }
        }
        if !result.ok { throw ExitStatus.failed }
    }
}

struct DeployJSON: Encodable {
    struct Endpoint: Encodable {
        let service: String
        let address: String
        let port: UInt16
        let serverName: String?
        let before: String?
        let after: String?

        enum CodingKeys: String, CodingKey { case service, address, port, serverName = "server_name", before, after }

        // Every key present, null when unknown: a stable shape.
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(service, forKey: .service)
            try container.encode(address, forKey: .address)
            try container.encode(port, forKey: .port)
            try container.encode(serverName, forKey: .serverName)
            try container.encode(before, forKey: .before)
            try container.encode(after, forKey: .after)
        }
    }
    let ok: Bool
    let fingerprint: String
    let checks: [Finding]
    let endpoints: [Endpoint]
    /// Milliseconds per phase: verify, install, reload, served.
    let timingsMs: [String: Double]

    enum CodingKeys: String, CodingKey { case ok, fingerprint, checks, endpoints, timingsMs = "timings_ms" }

    init(_ result: DeployResult) {
        ok = result.ok
        fingerprint = result.fingerprint
        timingsMs = Dictionary(result.timings.map { ($0.phase, $0.duration.milliseconds) },
                               uniquingKeysWith: { $0 + $1 })
        checks = result.report.findings
        endpoints = result.endpoints.map {
            Endpoint(service: $0.endpoint.service, address: $0.endpoint.address, port: $0.endpoint.port, serverName: $0.endpoint.serverName,
                     before: $0.before, after: $0.after)
        }
    }
}
