import Foundation
import Testing

/// A private mail server for one audit test: Postfix (a wrapper-mode and a
/// STARTTLS service, and a tls_server_sni_maps entry for sni.example.com) and
/// Dovecot (IMAP, IMAPS, POP3, POP3S, ManageSieve) sharing one certificate from
/// a test CA with an intermediate. Each test makes its own, so renewing, breaking
/// and reloading never touches another test's server. Stopped when released.
final class AuditFixture {
    let pki: PKIFactory
    let directory: TemporaryDirectory
    let smtps: UInt16, submission: UInt16, imap: UInt16, imaps: UInt16, pop3: UInt16, pop3s: UInt16, sieve: UInt16
    var postfix: String { directory.file("postfix") }
    var dovecotConfig: String { directory.file("dovecot/dovecot.conf") }
    var fullchain: String { directory.file("certs/fullchain.pem") }
    var privkey: String { directory.file("certs/privkey.pem") }
    var root: String { pki.path("root") }
    /// The arguments that point audit at this server.
    var arguments: [String] { ["--postfix-dir", postfix, "--dovecot-config", dovecotConfig, "--ca-file", root, "--host", "mail.example.com", "--timeout", "20"] }

    /// The certificates the CA makes: the current leaf, its renewal, the SNI leaf and a placeholder.
    static let specs: [PKIFactory.Spec] = {
        var renewed = PKIFactory.Spec.leaf("renewed", sans: ["mail.example.com"])
        renewed.notAfter = 86_400 * 180
        var placeholder = PKIFactory.Spec(name: "localhost", issuer: "localhost", cn: "localhost", keyUsage: ["digitalSignature"],
                                          extendedKeyUsage: ["serverAuth"], sans: ["localhost"])
        placeholder.authorityKeyIdentifier = false
        var expired = PKIFactory.Spec.leaf("expired", sans: ["mail.example.com"])
        (expired.notBefore, expired.notAfter) = (-86_400 * 100, -86_400)
        return [.root(), .intermediate(), .leaf("leaf", sans: ["mail.example.com"]), renewed, expired,
                .leaf("wide", sans: ["mail.example.com", "smtp.example.com"]), .leaf("renewed2", sans: ["mail.example.com"]),
                .leaf("sni", sans: ["sni.example.com"]), .leaf("sni2", sans: ["sni.example.com"]), .leaf("other"), placeholder]
    }()

    init() throws {
        pki = try PKIFactory(Self.specs)
        directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        let ports = try PostfixFixture.freePorts(7)
        (smtps, submission, imap, imaps, pop3, pop3s, sieve) = (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6])
        for sub in ["certs", "postfix", "queue", "data", "dovecot/mail"] {
            try FileManager.default.createDirectory(atPath: directory.file(sub), withIntermediateDirectories: true)
        }
        chmod(directory.file("dovecot/mail"), 0o777)
        _ = try run("/bin/chown", ["postfix", directory.file("data")])
        try install("leaf")
        try writeChain(["sni", "inter"], key: "sni", as: "sni-chain.pem")
        try "sni.example.com \(directory.file("certs/sni-chain.pem"))\n".write(toFile: directory.file("postfix/sni"), atomically: true, encoding: .utf8)
        let main = """
        compatibility_level = 3.6
        queue_directory = \(directory.file("queue"))
        data_directory = \(directory.file("data"))
        mail_owner = postfix
        inet_interfaces = 127.0.0.1
        inet_protocols = ipv4
        myhostname = mail.example.com
        maillog_file = \(directory.file("maillog"))
        maillog_file_prefixes = \(directory.path)
        smtpd_tls_cert_file = \(fullchain)
        smtpd_tls_key_file = \(privkey)
        smtpd_tls_security_level = may
        tls_server_sni_maps = hash:\(directory.file("postfix/sni"))
        # smtpd processes live on between probes, so an unreloaded server keeps its old certificate.
        max_idle = 3600s

        """
        let services = """
        \(smtps) inet n - n - - smtpd
          -o smtpd_tls_wrappermode=yes
        \(submission) inet n - n - - smtpd
          -o smtpd_tls_security_level=encrypt

        """
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let internalServices = try String(contentsOf: repository.appendingPathComponent("Scripts/fixtures/postfix-internal.cf"), encoding: .utf8)
        try main.write(toFile: postfix + "/main.cf", atomically: true, encoding: .utf8)
        try (services + internalServices).write(toFile: postfix + "/master.cf", atomically: true, encoding: .utf8)
        try writeDovecot(certificate: fullchain, key: privkey)
        // postmap reads main.cf, so the map is compiled once main.cf exists.
        guard try run("/usr/sbin/postmap", ["-c", postfix, "-F", "hash:" + directory.file("postfix/sni")]).status == 0 else { throw CocoaError(.fileWriteUnknown) }
        guard spawnDaemon("/usr/sbin/postfix", ["-c", postfix, "start"]) == 0 else { throw CocoaError(.fileWriteUnknown) }
        guard spawnDaemon("/usr/sbin/dovecot", ["-c", dovecotConfig]) == 0 else { throw CocoaError(.fileWriteUnknown) }
        for port in ports { try PostfixFixture.waitForListener(port) }
    }

    deinit {
        _ = spawnDaemon("/usr/sbin/postfix", ["-c", postfix, "stop"])
        _ = spawnDaemon("/usr/bin/doveadm", ["-c", dovecotConfig, "stop"])
    }

    func writeDovecot(certificate: String, key: String) throws {
        let conf = DovecotMailFixture.configuration(directory: directory.file("dovecot"), certificate: certificate, key: key,
                                                    ports: (imap, imaps, pop3, pop3s, sieve), passdb: "driver = static\n  args = nopassword=y")
        try conf.write(toFile: dovecotConfig, atomically: true, encoding: .utf8)
    }

    /// Writes the key of `key`, then the certificates in order, to certs/FILE: one file as smtpd_tls_chain_files and SNI maps take it.
    @discardableResult
    func writeChain(_ names: [String], key: String, as file: String) throws -> String {
        let text = try ([pki.directory.file(key + ".key")] + names.map { pki.path($0) }).map { try String(contentsOfFile: $0, encoding: .utf8) }.joined()
        let path = directory.file("certs/" + file)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// Puts `leaf` (with the intermediate unless `leafOnly`) and its key where both servers read them, as a renewal does.
    func install(_ leaf: String, leafOnly: Bool = false) throws {
        let text = try (leafOnly ? [leaf] : [leaf, "inter"]).map { try String(contentsOfFile: pki.path($0), encoding: .utf8) }.joined()
        try text.write(toFile: fullchain, atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: privkey)
        try FileManager.default.copyItem(atPath: pki.directory.file(leaf + ".key"), toPath: privkey)
        chmod(privkey, 0o600)
    }

    func reload() {
        _ = spawnDaemon("/usr/sbin/postfix", ["-c", postfix, "reload"])
        _ = spawnDaemon("/usr/bin/doveadm", ["-c", dovecotConfig, "reload"])
        // Both reload in the background; wait until every listener answers again.
        usleep(1_500_000)
        for port in [smtps, submission, imap, imaps, pop3, pop3s, sieve] { try? PostfixFixture.waitForListener(port) }
    }

    /// audit --json: the exit code, the endpoints (label -> statuses) and the document.
    func audit(_ extra: [String] = []) throws -> (status: Int32, endpoints: [String: [String: String]], json: [String: Any], result: RunResult) {
        let result = try mailsec(arguments: ["audit", "--json"] + arguments + extra, timeout: 120)
        let json = (try? parseJSON(result.stdout)) ?? [:]
        var endpoints: [String: [String: String]] = [:]
        for endpoint in (json["endpoints"] as? [[String: Any]]) ?? [] {
            let label = "\(endpoint["service"] as? String ?? "?")" + ((endpoint["server_name"] as? String).map { "/" + $0 } ?? "")
            endpoints[label] = Dictionary(((endpoint["checks"] as? [[String: Any]]) ?? []).map { ($0["id"] as! String, $0["status"] as! String) },
                                          uniquingKeysWith: { first, second in first == "fail" || second == "fail" ? "fail" : (first == "warn" || second == "warn" ? "warn" : first) })
        }
        return (result.status, endpoints, json, result)
    }
}
