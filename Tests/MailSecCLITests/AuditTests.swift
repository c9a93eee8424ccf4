import Foundation
import Testing

/// `mailsec audit` against a real Postfix and Dovecot started for each test.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct AuditTests {

    func failing(_ endpoints: [String: [String: String]], _ id: String) -> Set<String> {
        Set(endpoints.filter { $0.value[id] == "fail" }.keys)
    }

    @Test func aHealthyServerPassesAndEachServedCertificateIsTheOneOpensslSees() throws {
        let server = try AuditFixture()
        let (status, endpoints, json, result) = try server.audit()
        #expect(status == 0, "\(result.stdout)\(result.stderr)")
        // Two Postfix services, each with its SNI name, and five Dovecot listeners.
        #expect(endpoints.count == 9, "\(endpoints.keys.sorted())")
        for (label, checks) in endpoints {
            for id in ["tls-files", "served-matches-file", "certificate-hostname", "certificate-chain", "certificate-expiry"] {
                #expect(checks[id] == "pass", "\(label) \(id): \(checks)")
            }
        }
        #expect((json["checks"] as? [[String: Any]])?.allSatisfy { $0["status"] as? String == "pass" } == true, "\(json["checks"] ?? "")")
        let nagios = try mailsec(arguments: ["audit", "--nagios", "--warn-days", "21"] + server.arguments, timeout: 120)
        #expect(nagios.status == 0 && nagios.stdout.hasPrefix("MAILSEC OK - audit: 9 endpoints"), "\(nagios.stdout)")
        #expect(nagios.stdout.components(separatedBy: " days_left'=89;21:;1:").count == 10, "one range-threshold perfdata per endpoint: \(nagios.stdout)")
        // openssl sees the same certificates.
        for endpoint in (json["endpoints"] as? [[String: Any]]) ?? [] {
            let port = endpoint["port"] as! Int
            let mode = endpoint["mode"] as! String, proto = endpoint["protocol"] as! String
            var arguments = "s_client -connect 127.0.0.1:\(port) -servername \((endpoint["server_name"] as? String) ?? "mail.example.com")"
            if mode == "starttls" { arguments += " -starttls \(proto)" }
            let served = try run("/bin/sh", ["-c", "openssl \(arguments) </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"])
            let fingerprint = ((endpoint["served"] as? [String: Any])?["sha256"] as? String) ?? "none"
            #expect(served.stdout.contains(fingerprint), "\(endpoint["service"] ?? "") \(port): openssl saw \(served.stdout)")
        }
    }

    @Test func aRenewalWithoutReloadIsCaughtAndTheReloadClearsIt() throws {
        let server = try AuditFixture()
        #expect(try server.audit().status == 0)
        try server.install("renewed")
        let (status, endpoints, json, _) = try server.audit()
        #expect(status == 1)
        let plain = endpoints.filter { !$0.key.contains("/sni") }
        #expect(failing(plain, "served-matches-file") == Set(plain.keys), "every endpoint serves the old certificate: \(endpoints)")
        #expect(plain.values.allSatisfy { $0["tls-files"] == "pass" }, "the new files themselves are fine")
        let remedies = ((json["endpoints"] as? [[String: Any]]) ?? []).flatMap { ($0["checks"] as? [[String: Any]]) ?? [] }
            .filter { $0["id"] as? String == "served-matches-file" }.compactMap { $0["remedy"] as? String }
        #expect(remedies.contains { $0.contains("postfix -c \(server.postfix) reload") } && remedies.contains { $0.contains("doveadm -c \(server.dovecotConfig) reload") }, "\(remedies)")
        server.reload()
        let (after, afterEndpoints, _, result) = try server.audit()
        #expect(after == 0, "\(afterEndpoints) \(result.stderr)")
    }

    @Test func aLeafOnlyFileFailsTheChainForPostfixOnly() throws {
        let server = try AuditFixture()
        // Postfix gets its own leaf-only copy; Dovecot keeps the full chain.
        let leafOnly = server.directory.file("certs/leaf-only.pem")
        try String(contentsOfFile: server.pki.path("leaf"), encoding: .utf8).write(toFile: leafOnly, atomically: true, encoding: .utf8)
        let main = server.postfix + "/main.cf"
        try (String(contentsOfFile: main, encoding: .utf8).replacingOccurrences(of: "smtpd_tls_cert_file = \(server.fullchain)", with: "smtpd_tls_cert_file = \(leafOnly)"))
            .write(toFile: main, atomically: true, encoding: .utf8)
        server.reload()
        let (status, endpoints, json, _) = try server.audit()
        #expect(status == 1)
        let chainFailures = failing(endpoints, "certificate-chain")
        #expect(!chainFailures.isEmpty && chainFailures.allSatisfy { $0.hasPrefix("postfix/") } && !chainFailures.contains { $0.contains("/sni") }, "\(endpoints)")
        #expect(endpoints.filter { $0.key.hasPrefix("dovecot/") }.values.allSatisfy { $0["certificate-chain"] == "pass" })
        let remedy = ((json["endpoints"] as? [[String: Any]]) ?? []).compactMap { endpoint -> String? in
            ((endpoint["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "certificate-chain" && $0["status"] as? String == "fail" }?["remedy"] as? String
        }.first ?? ""
        #expect(remedy.contains("fullchain") && remedy.contains("main.cf"), "\(remedy)")
    }

    @Test func aPlaceholderOnDovecotIsNamed() throws {
        let server = try AuditFixture()
        let placeholder = server.writeCertificate("localhost")
        try server.writeDovecot(certificate: placeholder.certificate, key: placeholder.key)
        server.reload()
        let (status, _, json, result) = try server.audit()
        #expect(status == 1)
        let cross = (json["checks"] as? [[String: Any]]) ?? []
        let placeholderCheck = cross.filter { $0["id"] as? String == "placeholder-certificate" }
        #expect(placeholderCheck.contains { $0["status"] as? String == "fail" && ($0["message"] as? String)?.contains("dovecot/") == true }, "\(result.stdout)")
        #expect(cross.contains { $0["id"] as? String == "same-certificate" && $0["status"] as? String == "fail" }, "mail.example.com is served two certificates")
    }

    @Test func anSNIMapChangedWithoutPostmapIsCaught() throws {
        let server = try AuditFixture()
        #expect(try server.audit().status == 0)
        // The source now names another certificate for the name, and nobody ran postmap -F.
        let replacement = try server.writeChain(["sni2", "inter"], key: "sni2", as: "sni2-chain.pem")
        let source = server.postfix + "/sni"
        usleep(20_000)
        try "sni.example.com \(replacement)\n".write(toFile: source, atomically: true, encoding: .utf8)
        let (status, endpoints, json, _) = try server.audit()
        #expect(status == 1)
        let sni = endpoints.filter { $0.key.contains("/sni.example.com") }
        #expect(sni.count == 2 && sni.values.allSatisfy { $0["tls-files"] == "fail" && $0["served-matches-file"] == "fail" }, "\(endpoints)")
        #expect(endpoints.filter { !$0.key.contains("/sni") }.values.allSatisfy { $0["served-matches-file"] == "pass" })
        let text = "\(json)"
        #expect(text.contains("postmap -c \(server.postfix) -F hash:\(source)"), "the remedy rebuilds the map")
        // After postmap -F and a reload, the name is served what the source says.
        #expect(try run("/usr/sbin/postmap", ["-c", server.postfix, "-F", "hash:" + source]).status == 0)
        server.reload()
        #expect(try server.audit().status == 0)
        // A file the map embeds, renewed in place: the compiled map still holds the old copy.
        usleep(20_000)
        try server.writeChain(["sni", "inter"], key: "sni", as: "sni2-chain.pem")
        let (stale, staleEndpoints, staleJSON, _) = try server.audit(["--no-probe"])
        #expect(stale == 1)
        #expect(staleEndpoints.filter { $0.key.contains("/sni.example.com") }.values.allSatisfy { $0["tls-files"] == "fail" }, "\(staleEndpoints)")
        #expect("\(staleJSON)".contains("older than \(replacement), which postmap -F copies into it"))
    }

    @Test func aKeyThatDoesNotMatchFailsTheFiles() throws {
        let server = try AuditFixture()
        try FileManager.default.removeItem(atPath: server.privkey)
        try FileManager.default.copyItem(atPath: server.pki.directory.file("other.key"), toPath: server.privkey)
        let (status, endpoints, json, _) = try server.audit(["--no-probe"])
        #expect(status == 1)
        #expect(endpoints.filter { !$0.key.contains("/sni") }.values.allSatisfy { $0["tls-files"] == "fail" && $0["served-matches-file"] == "skip" }, "\(endpoints)")
        #expect("\(json)".contains("key-matches-cert"))
    }
}

extension AuditFixture {
    /// A certificate and key file of `name` in certs/.
    func writeCertificate(_ name: String) -> (certificate: String, key: String) {
        let certificate = directory.file("certs/\(name).pem"), key = directory.file("certs/\(name)-key.pem")
        try? FileManager.default.removeItem(atPath: certificate)
        try? FileManager.default.removeItem(atPath: key)
        try? FileManager.default.copyItem(atPath: pki.path(name), toPath: certificate)
        try? FileManager.default.copyItem(atPath: pki.directory.file(name + ".key"), toPath: key)
        chmod(key, 0o600)
        return (certificate, key)
    }
}

/// audit on copied trees and broken files: no probing, no servers.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct AuditOfflineTests {
    @Test func aDovecot24TreeSplitOverConfDIsRead() throws {
        let directory = try TemporaryDirectory()
        let root = directory.file("root")
        let pki = try PKIFactory([.root(), .intermediate(), .leaf()])
        func write(_ text: String, _ path: String) throws {
            try FileManager.default.createDirectory(atPath: root + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root + path, atomically: true, encoding: .utf8)
        }
        try write("dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n!include conf.d/*.conf\n!include_try local.conf\n", "/etc/dovecot/dovecot.conf")
        try write("protocols = imap sieve\n", "/etc/dovecot/conf.d/10-protocols.conf")
        try write("ssl = required\nssl_server_cert_file = /etc/ssl/mail/fullchain.pem\nssl_server_key_file = /etc/ssl/mail/privkey.pem\n", "/etc/dovecot/conf.d/10-ssl.conf")
        try write("service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n  inet_listener imaps {\n    port = 993\n    ssl = yes\n  }\n}\n", "/etc/dovecot/conf.d/10-master.conf")
        try write("local_name imap.example.com {\n  ssl_server_cert_file = /etc/ssl/imap/fullchain.pem\n  ssl_server_key_file = /etc/ssl/imap/privkey.pem\n}\n", "/etc/dovecot/conf.d/20-sni.conf")
        for (directory, name) in [("mail", "leaf"), ("imap", "leaf")] {
            try write(try String(contentsOfFile: pki.path(name), encoding: .utf8) + String(contentsOfFile: pki.path("inter"), encoding: .utf8), "/etc/ssl/\(directory)/fullchain.pem")
            try write(try String(contentsOfFile: pki.directory.file(name + ".key"), encoding: .utf8), "/etc/ssl/\(directory)/privkey.pem")
            chmod(root + "/etc/ssl/\(directory)/privkey.pem", 0o600)
        }
        let result = try mailsec("audit", "--json", "--root", root, "--no-probe", "--ca-file", pki.path("root"), "--host", "mail.example.com")
        let json = try parseJSON(result.stdout)
        let endpoints = (json["endpoints"] as? [[String: Any]]) ?? []
        let labels = Set(endpoints.map { "\($0["service"] as! String):\($0["port"] as! Int)" + (($0["server_name"] as? String).map { "/" + $0 } ?? "") })
        #expect(labels == ["dovecot/imaps:993", "dovecot/imaps:993/imap.example.com", "dovecot/sieve:4190", "dovecot/sieve:4190/imap.example.com"], "\(labels)")
        #expect(endpoints.allSatisfy { ($0["source"] as? String)?.contains("/etc/dovecot/conf.d/") == true }, "\(endpoints.map { $0["source"] ?? "" })")
        #expect((json["sources"] as? [String])?.first?.contains("MailSec's reader") == true)
        // The files are under the tree; the leaf does not name imap.example.com, which tls-files says.
        let sni = endpoints.first { $0["server_name"] as? String == "imap.example.com" }
        let files = ((sni?["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "tls-files" }
        #expect(files?["status"] as? String == "fail" && (files?["message"] as? String)?.contains("imap.example.com") == true, "\(files ?? [:])")
    }

    @Test func garbageConfigurationIsAnErrorNamingTheFileAndLine() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("postfix"), withIntermediateDirectories: true)
        try "myhostname = mail.example.com\nthis line has no equals sign\n".write(toFile: directory.file("postfix/main.cf"), atomically: true, encoding: .utf8)
        try "smtp inet n - n - - smtpd\n".write(toFile: directory.file("postfix/master.cf"), atomically: true, encoding: .utf8)
        let postfix = try mailsec("audit", "--postfix-dir", directory.file("postfix"), "--no-probe")
        #expect(postfix.status == 2)
        #expect(postfix.stderr.contains(directory.file("postfix/main.cf") + ", line 2"), "\(postfix.stderr)")
        try "ssl = yes\nssl_cert < /etc/x.pem\nservice imap-login {\n".write(toFile: directory.file("dovecot.conf"), atomically: true, encoding: .utf8)
        let dovecot = try mailsec("audit", "--dovecot-config", directory.file("dovecot.conf"), "--no-probe")
        #expect(dovecot.status == 2)
        #expect(dovecot.stderr.contains(directory.file("dovecot.conf") + ", line 2"), "\(dovecot.stderr)")
        let nagios = try mailsec("audit", "--nagios", "--dovecot-config", directory.file("dovecot.conf"), "--no-probe")
        #expect(nagios.status == 3 && nagios.stdout.hasPrefix("MAILSEC UNKNOWN"))
    }
}
