import Foundation
import Testing

/// `mailsec deploy` against a real Postfix and Dovecot started for each test.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct DeployTests {

    /// The statuses of a deploy's checks, by id.
    func statuses(_ json: [String: Any]) -> [String: String] {
        Dictionary(((json["checks"] as? [[String: Any]]) ?? []).map { ($0["id"] as! String, $0["status"] as! String) }, uniquingKeysWith: { $1 })
    }

    func message(_ json: [String: Any], _ id: String) -> String {
        (((json["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == id }?["message"] as? String) ?? ""
    }

    @Test func aRenewalWithANewKeyIsInstalledReloadedAndServedByEveryListener() throws {
        let server = try AuditFixture()
        chmod(server.fullchain, 0o640)
        chmod(server.privkey, 0o644)   // too open: the new key (and the kept old one) become 0600
        let oldChain = try Data(contentsOf: URL(fileURLWithPath: server.fullchain))
        let sniBefore = try Data(contentsOf: URL(fileURLWithPath: server.directory.file("certs/sni-chain.pem")))
        let renewal = try server.acmeFiles("renewed")
        let (status, json, result) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key])
        #expect(status == 0, "\(result.stdout)\(result.stderr)")
        #expect(statuses(json) == ["new-certificate": "pass", "names-kept": "pass", "install": "pass", "reload": "pass", "served": "pass"], "\(json)")
        // The files hold the new pair, with their modes; the old ones are kept beside them.
        #expect(try Data(contentsOf: URL(fileURLWithPath: server.fullchain)) == Data(contentsOf: URL(fileURLWithPath: renewal.certificate)))
        #expect(try Data(contentsOf: URL(fileURLWithPath: server.privkey)) == Data(contentsOf: URL(fileURLWithPath: renewal.key)))
        #expect(server.mode(server.fullchain) == 0o640 && server.mode(server.privkey) == 0o600)
        let backups = try FileManager.default.contentsOfDirectory(atPath: server.directory.file("certs")).filter { $0.hasPrefix("fullchain.pem.") && $0.hasSuffix(".bak") }
        #expect(backups.count == 1)
        let keyBackups = try FileManager.default.contentsOfDirectory(atPath: server.directory.file("certs")).filter { $0.hasPrefix("privkey.pem.") && $0.hasSuffix(".bak") }
        #expect(keyBackups.count == 1 && keyBackups.allSatisfy { server.mode(server.directory.file("certs/" + $0)) == 0o600 })
        #expect(try backups.first.map { try Data(contentsOf: URL(fileURLWithPath: server.directory.file("certs/" + $0))) } == oldChain)
        // The SNI name's certificate is another name's: left alone.
        #expect(try Data(contentsOf: URL(fileURLWithPath: server.directory.file("certs/sni-chain.pem"))) == sniBefore)
        // Seven listeners use the files; openssl sees the new certificate on each, and audit is happy.
        let endpoints = (json["endpoints"] as? [[String: Any]]) ?? []
        #expect(endpoints.count == 7, "\(endpoints)")
        let fingerprint = json["fingerprint"] as? String ?? "?"
        for endpoint in endpoints {
            #expect(endpoint["after"] as? String == fingerprint && endpoint["before"] as? String != fingerprint, "\(endpoint)")
        }
        for (port, starttls) in [(server.smtps, nil), (server.submission, "smtp"), (server.imaps, nil), (server.pop3, "pop3"), (server.sieve, "sieve")] {
            #expect(try server.servedFingerprint(port: port, starttls: starttls) == fingerprint, "port \(port)")
        }
        #expect(try server.audit().status == 0)

        // Again: nothing to write or reload, and still confirmed.
        let (again, againJSON, _) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key])
        #expect(again == 0)
        #expect(statuses(againJSON)["served"] == "pass" && message(againJSON, "install").contains("already holds the new content"), "\(againJSON)")
        #expect(message(againJSON, "reload").contains("no reload needed"), "\(againJSON)")
    }

    @Test(arguments: [("a key that is not the certificate's", "renewed", "other", "new-certificate"),
                      ("an expired certificate", "expired", "expired", "new-certificate"),
                      ("a renewal that drops smtp.example.com", "leaf", "leaf", "names-kept")])
    func aBadRenewalIsRefusedAndNothingIsTouched(_ testCase: (String, String, String, String)) throws {
        let (_, certificate, key, failing) = testCase
        let server = try AuditFixture()
        try server.install("wide")
        server.reload()
        let before = try server.snapshot()
        let served = try server.servedFingerprint(port: server.imaps, starttls: nil)
        let renewal = try server.acmeFiles(certificate, key: key)
        let (status, json, result) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key])
        #expect(status == 1, "\(result.stdout)\(result.stderr)")
        #expect(statuses(json)[failing] == "fail", "\(json)")
        #expect(statuses(json)["install"] == nil && statuses(json)["reload"] == nil)
        #expect(try server.snapshot() == before, "every file byte-identical, no backup made")
        #expect(try server.servedFingerprint(port: server.imaps, starttls: nil) == served)
        if failing == "names-kept" {
            #expect(message(json, "names-kept").contains("smtp.example.com"))
            let (allowed, allowedJSON, _) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key, "--allow-name-change"])
            #expect(allowed == 0 && statuses(allowedJSON)["names-kept"] == "warn" && statuses(allowedJSON)["served"] == "pass", "\(allowedJSON)")
        }
    }

    /// The DANE rollover guard against a real signed zone: a renewal with a
    /// new key is refused while only the old key's record is published, and
    /// deployed once the new key's record is there beside it.
    @Test func deployDaneRefusesANewKeyUntilItsRecordIsPublished() throws {
        let server = try AuditFixture()
        let old = try DaneProbeTests.spkiSHA256(certificate: server.pki.path("leaf"))
        let new = try DaneProbeTests.spkiSHA256(certificate: server.pki.path("renewed"))
        let owner = "_\(server.smtps)._tcp.mail"
        let knot = try KnotFixture(records: "mail IN A 127.0.0.1\n\(owner) IN TLSA 3 1 1 \(old)", signed: "example.com", unsigned: "example.org")
        let renewal = try server.acmeFiles("renewed")
        // The renewed key was made ahead of time and waits beside the current one (genkey --next-key's place for it).
        let waiting = server.privkey + ".next"
        try FileManager.default.copyItem(atPath: renewal.key, toPath: waiting)
        let before = try server.snapshot()

        let (refused, json, result) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key, "--dane"] + knot.arguments)
        #expect(refused == 1, "\(result.stdout)\(result.stderr)")
        #expect(statuses(json) == ["new-certificate": "pass", "names-kept": "pass", "dane": "fail"], "\(json)")
        let remedy = (((json["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "dane" }?["remedy"] as? String) ?? ""
        #expect(remedy.contains("\(owner).example.com. IN TLSA 3 1 1 \(new)") && remedy.contains("600 s"), "\(remedy)")
        #expect(try server.snapshot() == before, "nothing was touched")

        try knot.publish("mail IN A 127.0.0.1\n\(owner) IN TLSA 3 1 1 \(old)\n\(owner) IN TLSA 3 1 1 \(new)",
                         name: "\(owner).example.com", expect: new)
        let (deployed, deployedJSON, deployedResult) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key, "--dane"] + knot.arguments)
        #expect(deployed == 0, "\(deployedResult.stdout)\(deployedResult.stderr)")
        #expect(statuses(deployedJSON)["dane"] == "pass" && statuses(deployedJSON)["served"] == "pass", "\(deployedJSON)")
        #expect(statuses(deployedJSON)["next-key"] == "pass" && !FileManager.default.fileExists(atPath: waiting), "the waiting copy of the deployed key is retired")
        #expect(message(deployedJSON, "dane").contains(owner))

        // What senders now see: the new key matches, and the old record is still there (remove it after 2 x TTL).
        let probe = try mailsec(arguments: ["probe", "--json", "--dane", "--timeout", "20", "--ca-file", server.root] + knot.arguments + ["smtps://mail.example.com:\(server.smtps)"])
        #expect(probe.status == 0, "\(probe.stdout)")
        #expect(probe.stdout.contains("3 1 1 \(new)"))
    }

    @Test func aFailingReloadIsRolledBack() throws {
        let server = try AuditFixture()
        let before = try server.snapshot()
        let served = try server.servedFingerprint(port: server.smtps, starttls: nil)
        let renewal = try server.acmeFiles("renewed")
        let (status, json, result) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key, "--reload-command", "echo cannot reload >&2; exit 3"])
        #expect(status == 1, "\(result.stdout)")
        #expect(statuses(json)["reload"] == "fail" && message(json, "reload").contains("exited 3") && message(json, "reload").contains("cannot reload"))
        #expect(statuses(json)["rollback"] == "pass" && message(json, "rollback").contains("back where it was"), "\(json)")
        #expect(try server.snapshot(ignoringBackups: true) == before.filter { !$0.key.hasSuffix(".bak") })
        #expect(try server.servedFingerprint(port: server.smtps, starttls: nil) == served)
        #expect(result.stdout.contains("Not deployed") == false, "--json prints only the document")
    }

    @Test func aReloadThatChangesNothingIsCaughtAndRolledBack() throws {
        let server = try AuditFixture()
        let before = try server.snapshot()
        let renewal = try server.acmeFiles("renewed")
        let (status, json, _) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key, "--reload-command", "true", "--timeout", "2"])
        #expect(status == 1)
        #expect(statuses(json)["reload"] == "pass" && statuses(json)["served"] == "fail", "\(json)")
        #expect(message(json, "served").contains("dovecot/imaps"), "the message lists each listener and what it serves")
        #expect(statuses(json)["rollback"] == "pass", "\(json)")
        #expect(try server.snapshot(ignoringBackups: true) == before.filter { !$0.key.hasSuffix(".bak") })
        #expect(try server.audit().status == 0, "the old certificate is served, and is the one in the files again")
    }

    @Test func filesTheConfigurationTakesFromTheACMEClientAreReloadedNotCopied() throws {
        let server = try AuditFixture()
        // Dovecot reads the ACME client's files directly; they are renewed in place, then deploy runs.
        let lineage = try server.acmeFiles("leaf")
        try server.writeDovecot(certificate: lineage.certificate, key: lineage.key)
        server.reload()
        let renewal = try server.acmeFiles("renewed")
        for (from, to) in [(renewal.certificate, lineage.certificate), (renewal.key, lineage.key)] {
            try FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
        let (status, json, result) = try server.deploy(["--cert", lineage.certificate, "--key", lineage.key])
        #expect(status == 0, "\(result.stdout)\(result.stderr)")
        #expect(message(json, "install").contains("\(lineage.certificate) is the ACME client's own file"), "\(json)")
        #expect(message(json, "install").contains(server.fullchain + " (0644 root:root, previous kept as"), "Postfix's copy is replaced: \(json)")
        #expect(try server.servedFingerprint(port: server.imaps, starttls: nil) == json["fingerprint"] as? String)
        #expect(try server.audit().status == 0)
    }

    @Test func anSNINameIsRenewedInItsMapFileAndTheMapRebuilt() throws {
        let server = try AuditFixture()
        let sniFile = server.directory.file("certs/sni-chain.pem")
        let renewal = try server.acmeFiles("sni2")
        let (status, json, result) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key])
        #expect(status == 0, "\(result.stdout)\(result.stderr)")
        // Only the map's file changes: key then chain in one file, as Postfix reads it; postmap -F copied it in.
        let expected = try String(contentsOfFile: renewal.key, encoding: .utf8) + String(contentsOfFile: renewal.certificate, encoding: .utf8)
        #expect(try String(contentsOfFile: sniFile, encoding: .utf8) == expected)
        #expect(message(json, "install").contains("postmap -c \(server.postfix) -F hash:\(server.postfix)/sni"), "\(json)")
        let endpoints = ((json["endpoints"] as? [[String: Any]]) ?? []).map { "\($0["service"]!)/\($0["server_name"] as? String ?? "-")" }
        #expect(Set(endpoints) == ["postfix/\(server.smtps)/sni.example.com", "postfix/\(server.submission)/sni.example.com"], "\(endpoints)")
        let served = try run("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(server.smtps) -servername sni.example.com </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"])
        #expect(served.stdout.contains(json["fingerprint"] as? String ?? "?"))
        #expect(try server.servedFingerprint(port: server.smtps, starttls: nil) != json["fingerprint"] as? String, "mail.example.com keeps its certificate")
        #expect(try server.audit().status == 0)
    }

    @Test func twoDeploysAtOnceTakeTurns() throws {
        let server = try AuditFixture()
        let renewals = try ["renewed", "renewed2"].map { try server.acmeFiles($0) }
        let children = try renewals.map { renewal in
            try SpawnedProcess(mailsecPath, ["deploy", "--cert", renewal.certificate, "--key", renewal.key] + server.deployArguments, capture: true)
        }
        let outputs = children.map { child in (child.readToEnd(timeout: 120), child.wait()) }
        for ((stdout, stderr), status) in outputs {
            #expect(status == 0, "\(String(decoding: stdout, as: UTF8.self))\(String(decoding: stderr, as: UTF8.self))")
        }
        // Whichever ran second is what is installed and served, files and listeners in step.
        #expect(try server.audit().status == 0)
    }

    @Test func aDryRunChangesNothing() throws {
        let server = try AuditFixture()
        let before = try server.snapshot()
        let renewal = try server.acmeFiles("renewed")
        let result = try mailsec(arguments: ["deploy", "--dry-run", "--cert", renewal.certificate, "--key", renewal.key] + server.deployArguments)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(server.fullchain) && result.stdout.contains(server.privkey))
        #expect(result.stdout.contains("doveadm -c \(server.dovecotConfig) reload") && result.stdout.contains("postfix/\(server.smtps)"), "\(result.stdout)")
        #expect(try server.snapshot() == before)
    }

    @Test func aRunKilledBetweenInstallAndReloadIsRepairedByTheNext() throws {
        let server = try AuditFixture()
        let renewal = try server.acmeFiles("renewed")
        // The reload command kills mailsec itself: the files are in place, nothing was reloaded.
        let killed = try mailsec(arguments: ["deploy", "--cert", renewal.certificate, "--key", renewal.key, "--reload-command", "kill -9 $PPID"] + server.deployArguments)
        #expect(killed.status == 137, "\(killed.stdout)\(killed.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: server.fullchain)) == Data(contentsOf: URL(fileURLWithPath: renewal.certificate)))
        #expect(try server.audit().status == 1, "the listeners still serve the old certificate")
        let (status, json, result) = try server.deploy(["--cert", renewal.certificate, "--key", renewal.key])
        #expect(status == 0, "\(result.stdout)")
        #expect(statuses(json)["recovery"] == "warn" && statuses(json)["reload"] == "pass" && statuses(json)["served"] == "pass", "\(json)")
        #expect(try server.audit().status == 0)
        // The journal is gone: a third run has nothing to recover.
        #expect(try server.deploy(["--cert", renewal.certificate, "--key", renewal.key]).json["checks"].map { "\($0)".contains("recovery") } == false)
    }
}

extension AuditFixture {
    /// Where deploy finds this server, and its own state directory.
    var deployArguments: [String] { ["--postfix-dir", postfix, "--dovecot-config", dovecotConfig, "--ca-file", root, "--timeout", "20"] }

    func deploy(_ extra: [String]) throws -> (status: Int32, json: [String: Any], result: RunResult) {
        let result = try mailsec(arguments: ["deploy", "--json"] + extra + deployArguments, timeout: 120)
        return (result.status, (try? parseJSON(result.stdout)) ?? [:], result)
    }

    /// An ACME client's files for `certificate` (with the intermediate) and `key`'s key, outside the server's directories.
    func acmeFiles(_ certificate: String, key: String? = nil) throws -> (certificate: String, key: String) {
        let lineage = directory.file("acme/\(certificate)-\(key ?? certificate)")
        try FileManager.default.createDirectory(atPath: lineage, withIntermediateDirectories: true)
        let chain = try [certificate, "inter"].map { try String(contentsOfFile: pki.path($0), encoding: .utf8) }.joined()
        try chain.write(toFile: lineage + "/fullchain.pem", atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: lineage + "/privkey.pem")
        try FileManager.default.copyItem(atPath: pki.directory.file((key ?? certificate) + ".key"), toPath: lineage + "/privkey.pem")
        chmod(lineage + "/privkey.pem", 0o600)
        return (lineage + "/fullchain.pem", lineage + "/privkey.pem")
    }

    /// Every file under certs/ with its content and mode.
    func snapshot(ignoringBackups: Bool = false) throws -> [String: String] {
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.file("certs")) where !(ignoringBackups && name.hasSuffix(".bak")) {
            let path = directory.file("certs/" + name)
            files[name] = "\(String(mode(path), radix: 8)) " + (try String(contentsOfFile: path, encoding: .utf8))
        }
        return files
    }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    /// The SHA-256 fingerprint (`AB:CD:...`) openssl s_client sees on a listener.
    func servedFingerprint(port: UInt16, starttls: String?) throws -> String {
        let command = "openssl s_client -connect 127.0.0.1:\(port)" + (starttls.map { " -starttls \($0)" } ?? "") +
            " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        let output = try run("/bin/sh", ["-c", command]).stdout
        return output.components(separatedBy: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}

/// Debian's certbot against Debian's pebble on loopback, with mailsec deploy as certbot's deploy hook.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct CertbotDeployTests {
    @Test func certbotIssuesAndRenewsAndEveryListenerServesEachCertificate() throws {
        let server = try AuditFixture()
        let pebble = try PebbleFixture(directory: server.directory.file("pebble"))
        // mailsec trusts pebble's issuing root beside the test CA (the certificate being replaced chains to that one).
        let trust = server.directory.file("trust.pem")
        try (String(contentsOfFile: server.root, encoding: .utf8) + pebble.issuingRoot()).write(toFile: trust, atomically: true, encoding: .utf8)
        let hook = ([mailsecPath, "deploy", "--certbot", "--postfix-dir", server.postfix, "--dovecot-config", server.dovecotConfig, "--ca-file", trust])
            .joined(separator: " ")
        let live = pebble.certbotDirectory + "/live/mail.example.com"
        var previous = try server.servedFingerprint(port: server.imaps, starttls: nil)
        for arguments in [["certonly", "--manual", "--manual-auth-hook", "/bin/true", "--preferred-challenges", "http", "-d", "mail.example.com",
                           "--agree-tos", "-m", "postmaster@example.com", "--no-eff-email", "--deploy-hook", hook],
                          ["renew", "--force-renewal", "--no-random-sleep-on-renew"]] {
            let result = try pebble.certbot(arguments)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("Deployed: every listener serves") || result.stderr.contains("Deployed: every listener serves"), "\(result.stdout)\(result.stderr)")
            let issued = try run("/usr/bin/openssl", ["x509", "-in", live + "/cert.pem", "-noout", "-fingerprint", "-sha256"]).stdout
                .components(separatedBy: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            #expect(issued != previous)
            for (port, starttls) in [(server.smtps, nil), (server.submission, "smtp"), (server.imaps, nil), (server.pop3s, nil), (server.sieve, "sieve")] {
                #expect(try server.servedFingerprint(port: port, starttls: starttls) == issued, "\(arguments[0]): port \(port)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: server.fullchain)) == Data(contentsOf: URL(fileURLWithPath: live + "/fullchain.pem")))
            previous = issued
        }
    }
}

/// pebble, the ACME test server, on two free loopback ports, with its own TLS certificate.
/// Every authorization is valid (PEBBLE_VA_ALWAYS_VALID): nothing is fetched from anywhere.
final class PebbleFixture {
    let directory: String
    let port: UInt16, management: UInt16
    private let process: SpawnedProcess
    var certbotDirectory: String { directory + "/certbot" }
    var tlsCertificate: String { directory + "/tls.crt" }

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ports = try PostfixFixture.freePorts(2)
        (port, management) = (ports[0], ports[1])
        let tlsCertificate = directory + "/tls.crt"
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-days", "2",
                                                "-subj", "/CN=pebble", "-addext", "subjectAltName=IP:127.0.0.1",
                                                "-keyout", directory + "/tls.key", "-out", tlsCertificate])
        guard made.status == 0 else { throw CocoaError(.fileWriteUnknown) }
        let config = """
        {"pebble": {"listenAddress": "127.0.0.1:\(port)", "managementListenAddress": "127.0.0.1:\(management)",
          "certificate": "\(tlsCertificate)", "privateKey": "\(directory)/tls.key", "httpPort": 5002, "tlsPort": 5001,
          "ocspResponderURL": "", "externalAccountBindingRequired": false}}
        """
        try config.write(toFile: directory + "/pebble.json", atomically: true, encoding: .utf8)
        // No nonce rejections (certbot would retry, slowly); a DNS server that is not there, so nothing leaves loopback.
        process = try SpawnedProcess("/usr/bin/pebble", ["-config", directory + "/pebble.json", "-dnsserver", "127.0.0.1:1"],
                                     environment: ["PEBBLE_VA_ALWAYS_VALID": "1", "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"], capture: false)
        try PostfixFixture.waitForListener(port)
        try PostfixFixture.waitForListener(management)
    }

    /// The root pebble issues under (random for each start), from its management port.
    func issuingRoot() throws -> String {
        let result = try run("/usr/bin/curl", ["-sf", "--cacert", tlsCertificate, "https://127.0.0.1:\(management)/roots/0"])
        guard result.status == 0, result.stdout.contains("BEGIN CERTIFICATE") else { throw CocoaError(.fileReadUnknown) }
        return result.stdout
    }

    /// certbot with its state in this directory, talking to this pebble.
    func certbot(_ arguments: [String]) throws -> RunResult {
        try run("/usr/bin/certbot", arguments + ["--server", "https://127.0.0.1:\(port)/dir", "--config-dir", certbotDirectory,
                                                 "--work-dir", directory + "/work", "--logs-dir", directory + "/logs", "--non-interactive"],
                environment: ["REQUESTS_CA_BUNDLE": tlsCertificate], timeout: 180)
    }
}

/// deploy on a copied tree: files written under --root, nothing reloaded, no server needed.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct DeployOfflineTests {
    @Test func aTreeUnderRootGetsTheFilesFromLegosEnvironment() throws {
        let directory = try TemporaryDirectory()
        let root = directory.file("root")
        let pki = try PKIFactory([.root(), .intermediate(), .leaf("old", sans: ["mail.example.com"]), .leaf("new", sans: ["mail.example.com"])])
        func write(_ text: String, _ path: String, mode: mode_t = 0o644) throws {
            try FileManager.default.createDirectory(atPath: root + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root + path, atomically: true, encoding: .utf8)
            chmod(root + path, mode)
        }
        let text = { (name: String) in try String(contentsOfFile: pki.path(name), encoding: .utf8) }
        try write("myhostname = mail.example.com\nsmtpd_tls_chain_files = /etc/ssl/mail/combined.pem\nsmtpd_tls_security_level = may\n", "/etc/postfix/main.cf")
        try write("smtp inet n - y - - smtpd\nsubmissions inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n", "/etc/postfix/master.cf")
        try write(try String(contentsOfFile: pki.directory.file("old.key"), encoding: .utf8) + text("old") + text("inter"), "/etc/ssl/mail/combined.pem", mode: 0o600)
        try write(try String(contentsOfFile: "/etc/services", encoding: .utf8), "/etc/services")
        // lego's files, outside the tree.
        try (text("new") + text("inter")).write(toFile: directory.file("new.crt"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: pki.directory.file("new.key"), toPath: directory.file("new.key"))
        chmod(directory.file("new.key"), 0o600)
        let result = try run(mailsecPath, ["deploy", "--lego", "--root", root, "--ca-file", pki.path("root")],
                             environment: ["LEGO_CERT_PATH": directory.file("new.crt"), "LEGO_CERT_KEY_PATH": directory.file("new.key")])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("✓ install: /etc/ssl/mail/combined.pem (0600"), "\(result.stdout)")
        #expect(result.stdout.contains("reload the server that reads them"))
        // One file, key first, as smtpd_tls_chain_files reads it; the old one kept beside it.
        let installed = try String(contentsOfFile: root + "/etc/ssl/mail/combined.pem", encoding: .utf8)
        let expected = try String(contentsOfFile: directory.file("new.key"), encoding: .utf8) + text("new") + text("inter")
        #expect(installed == expected)
        let kept = try FileManager.default.contentsOfDirectory(atPath: root + "/etc/ssl/mail").filter { $0.hasSuffix(".bak") }
        #expect(kept.count == 1)
        // Without lego's variables, --lego says what is missing.
        let missing = try run(mailsecPath, ["deploy", "--lego", "--root", root], environment: ["LEGO_CERT_PATH": "", "LEGO_CERT_KEY_PATH": ""])
        #expect(missing.status == 2 && missing.stderr.contains("LEGO_CERT_PATH"), "\(missing.stderr)")
    }
}
