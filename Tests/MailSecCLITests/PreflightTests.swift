import Foundation
import Testing

/// `mailsec preflight` on private file trees, one mistake each, and on the real Postfix.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct PreflightTests {
    static let ids = ["postfix-config", "smtps-service", "wrappermode", "sasl-enabled", "client-restrictions", "services-name",
                      "tls-files", "sasl-socket", "content-filter", "port", "firewall", "postfix-check"]

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let failing: Set<String>
        /// Text the failure's message or remedy must contain.
        let mentions: [String]
        let tree: @Sendable (inout PreflightTree) -> Void
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "correct smtps stanza, firewalld", failing: [], mentions: []) { _ in },
        Case(name: "465 stanza with syslog_name, /etc/sysconfig/iptables", failing: [], mentions: []) { tree in
            tree.serviceName = "465"
            tree.overrides[0] = "syslog_name=postfix/465"
            tree.firewall = .iptables(file: "/etc/sysconfig/iptables", open: true)
        },
        Case(name: "/etc/default/iptables open", failing: [], mentions: []) { $0.firewall = .iptables(file: "/etc/default/iptables", open: true) },
        Case(name: "pf mail_services open", failing: [], mentions: []) { $0.firewall = .pf(open: true) },
        Case(name: "nftables open", failing: [], mentions: []) { $0.firewall = .nftables(open: true) },
        Case(name: "ufw open", failing: [], mentions: []) { $0.firewall = .ufw(open: true) },
        Case(name: "main.cf line without '='", failing: ["postfix-config"], mentions: ["main.cf, line 15", "missing '='"]) { $0.mainBroken = true },
        Case(name: "stanza left commented", failing: ["smtps-service"], mentions: ["commented out", "smtps     inet"]) { $0.commented = true },
        Case(name: "port typed as 456", failing: ["smtps-service"], mentions: ["456 looks like a typo for 465"]) { $0.serviceName = "456" },
        Case(name: "wrapper mode missing", failing: ["wrappermode"], mentions: ["-o smtpd_tls_wrappermode=yes"]) { $0.overrides.remove(at: 1) },
        Case(name: "wrapper mode in main.cf", failing: ["wrappermode"], mentions: ["main.cf line 15", "delete line 15"]) { $0.mainExtra = ["smtpd_tls_wrappermode = yes"] },
        Case(name: "SASL not enabled", failing: ["sasl-enabled"], mentions: ["-o smtpd_sasl_auth_enable=yes"]) { $0.overrides.remove(at: 2) },
        Case(name: "open relay", failing: ["client-restrictions"], mentions: ["open relay", "permit_sasl_authenticated,reject"]) { tree in
            tree.overrides[3] = "smtpd_client_restrictions=permit_sasl_authenticated,permit"
            tree.overrides.append("smtpd_relay_restrictions=permit")
        },
        Case(name: "logged-in clients refused", failing: ["client-restrictions"], mentions: ["logged in too"]) { tree in
            tree.overrides[3] = "smtpd_client_restrictions=reject_unauth_destination,permit_sasl_authenticated"
        },
        Case(name: "/etc/services without smtps", failing: ["services-name"], mentions: ["Servname not supported", "465"]) { $0.servicesKnow465 = false },
        Case(name: "key readable by everyone", failing: ["tls-files"], mentions: ["key-file-permissions", "chmod 600"]) { $0.keyMode = 0o644 },
        Case(name: "encrypted key", failing: ["tls-files"], mentions: ["encrypted"]) { $0.encryptKey = true },
        Case(name: "certificate for another host", failing: ["tls-files"], mentions: ["hostname: smtp.other.example"]) { $0.mainExtra = ["myhostname = smtp.other.example", "smtpd_tls_cert_file = /etc/pki/tls/certs/mail.example.com.crt", "smtpd_tls_key_file = /etc/pki/tls/private/mail.example.com.key"] },
        Case(name: "no Dovecot socket at private/auth", failing: ["sasl-socket"], mentions: ["var/spool/postfix/private/auth", "unix_listener"]) { $0.socket = .missing },
        Case(name: "private/ closed to the postfix user", failing: ["sasl-socket"], mentions: ["postfix cannot reach", "var/spool/postfix/private is 0700 root:root"]) { $0.privateDirectoryMode = 0o700 },
        Case(name: "a file, not a socket", failing: ["sasl-socket"], mentions: ["not a socket"]) { $0.socket = .regularFile },
        Case(name: "firewalld zone without smtps", failing: ["firewall"], mentions: ["<service name=\"smtps\"/>", "firewall-cmd --complete-reload"]) { $0.firewall = .firewalld(open: false) },
        Case(name: "/etc/sysconfig/iptables closed", failing: ["firewall"], mentions: ["--dport 465 -j ACCEPT", "before line 10"]) { $0.firewall = .iptables(file: "/etc/sysconfig/iptables", open: false) },
        Case(name: "/etc/default/iptables closed", failing: ["firewall"], mentions: ["--dport 465 -j ACCEPT"]) { $0.firewall = .iptables(file: "/etc/default/iptables", open: false) },
        Case(name: "pf mail_services without smtps", failing: ["firewall"], mentions: ["mail_services = \"{ smtp, submission, imaps, smtps }\"", "pfctl -f"]) { $0.firewall = .pf(open: false) },
        Case(name: "nftables closed", failing: ["firewall"], mentions: ["tcp dport 465 accept"]) { $0.firewall = .nftables(open: false) },
        Case(name: "ufw closed", failing: ["firewall"], mentions: ["ufw allow 465/tcp"]) { $0.firewall = .ufw(open: false) },
    ]

    @Test(arguments: cases) func eachMistakeFailsExactlyItsCheck(_ testCase: Case) throws {
        var tree = PreflightTree()
        testCase.tree(&tree)
        let directory = try TemporaryDirectory()
        let root = try tree.build(in: directory)
        let (status, worst, json, result) = try preflight(["--root", root])
        let failed = Set(worst.filter { $0.value == "fail" }.keys)
        #expect(failed == testCase.failing, "\(result.stdout)\(result.stderr)")
        #expect(status == (testCase.failing.isEmpty ? 0 : 1))
        #expect(Set(worst.keys) == Set(Self.ids), "every check reports")
        for id in testCase.failing {
            let text = messages(json, id: id)
            for mention in testCase.mentions { #expect(text.contains(mention), "\(id) should mention \(mention): \(text)") }
        }
        if testCase.failing.isEmpty {
            #expect(worst["firewall"] == "pass")
            #expect(worst["sasl-socket"] == "pass")
            #expect(worst["tls-files"] == "warn", "self-signed: a warning, not a failure")
        }
    }

    @Test func theTypoIsAWarningBesideTheMissingService() throws {
        var tree = PreflightTree()
        tree.serviceName = "456"
        let directory = try TemporaryDirectory()
        let (_, _, json, _) = try preflight(["--root", try tree.build(in: directory)])
        let statuses = ((json["checks"] as? [[String: Any]]) ?? []).filter { $0["id"] as? String == "smtps-service" }.map { $0["status"] as! String }
        #expect(statuses.sorted() == ["fail", "warn"])
    }

    @Test func commentedStanzaNamesTheLinesToUncomment() throws {
        var tree = PreflightTree()
        tree.commented = true
        let directory = try TemporaryDirectory()
        let root = try tree.build(in: directory)
        let (_, _, json, _) = try preflight(["--root", root])
        let master = try String(contentsOfFile: root + "/etc/postfix/master.cf", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let first = try #require(master.firstIndex { $0.hasPrefix("#smtps ") }) + 1
        // Our stanza is the last one: its service line and four -o lines.
        #expect(messages(json, id: "smtps-service").contains("lines \(first)-\(first + 4)"), "\(messages(json, id: "smtps-service"))")
    }

    @Test func debianStockStanzaIsFoundCommentedAndUncommentingItPasses() throws {
        var tree = PreflightTree()
        tree.commented = true
        tree.serviceName = "#ignored"   // only Debian's own commented submissions stanza is left
        let directory = try TemporaryDirectory()
        let root = try tree.build(in: directory)
        let (_, _, json, _) = try preflight(["--root", root])
        let text = messages(json, id: "smtps-service")
        #expect(text.contains("the submissions service is commented out"), "\(text)")
        #expect(text.contains("-o smtpd_tls_wrappermode=yes"))
        // Apply the fix as printed: uncomment exactly the lines named.
        let path = root + "/etc/postfix/master.cf"
        var lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        let named = try #require(text.firstMatch(of: /lines ([0-9, -]+) of/)).1
        for part in named.split(separator: ",") {
            let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-").compactMap { Int($0) }
            for number in bounds[0]...(bounds.last ?? bounds[0]) { lines[number - 1].removeFirst() }
        }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let (status, worst, _, result) = try preflight(["--root", root])
        #expect(status == 0, "\(result.stdout)")
        #expect(worst["smtps-service"] == "pass")
        #expect(worst["client-restrictions"] == "pass")
        let check = try run("/usr/sbin/postconf", ["-c", root + "/etc/postfix", "-P", "submissions/inet/smtpd_tls_wrappermode"])
        #expect(check.stdout.contains("= yes"), "postconf reads the uncommented stanza too: \(check.stdout)\(check.stderr)")
    }

    @Test func contentFilterMustBeListening() throws {
        let amavis = try Listener()
        var tree = PreflightTree()
        tree.serviceName = "465"
        tree.overrides[0] = "syslog_name=postfix/465"
        tree.contentFilterPort = amavis.port
        let directory = try TemporaryDirectory()
        let root = try tree.build(in: directory)
        let listening = try preflight(["--root", root])
        #expect(listening.worst["content-filter"] == "pass", "\(listening.result.stdout)")
        #expect(listening.status == 0)

        var closed = tree
        let unused = try PostfixFixture.freePorts(1)[0]
        closed.contentFilterPort = unused
        let other = try TemporaryDirectory()
        let (status, worst, json, _) = try preflight(["--root", try closed.build(in: other)])
        #expect(status == 1)
        #expect(Set(worst.filter { $0.value == "fail" }.keys) == ["content-filter"])
        #expect(messages(json, id: "content-filter").contains("nothing listens on 127.0.0.1:\(unused)"))
    }

    @Test func portHeldByAnotherProgramFails() throws {
        let squatter = try Listener()
        var tree = PreflightTree()
        tree.port = Int(squatter.port)
        tree.serviceName = String(squatter.port)
        let directory = try TemporaryDirectory()
        let (status, worst, json, result) = try preflight(["--root", try tree.build(in: directory), "--port", String(squatter.port)])
        #expect(status == 1)
        #expect(Set(worst.filter { $0.value == "fail" }.keys) == ["port"], "\(result.stdout)")
        #expect(messages(json, id: "port").contains("pid \(getpid())"), "names the holder")
    }

    @Test func loginThroughTheSocketUsesTheRealDovecot() throws {
        let directory = try TemporaryDirectory()
        let root = try PreflightTree().build(in: directory)
        let good = try preflight(["--root", root, "--auth-user", "alice"], input: "alice-pass\n")
        #expect(good.status == 0, "\(good.result.stdout)")
        #expect(messages(good.json, id: "sasl-socket").contains("alice logged in"))
        let bad = try preflight(["--root", root, "--auth-user", "alice"], input: "wrong-pass\n")
        #expect(bad.status == 1)
        #expect(Set(bad.worst.filter { $0.value == "fail" }.keys) == ["sasl-socket"])
        #expect(!bad.result.stdout.contains("wrong-pass") && !bad.result.stderr.contains("wrong-pass"), "the password never shows")
        let doveadm = try run("/usr/bin/doveadm", ["-c", try DovecotFixture.shared.config, "auth", "test", "alice", "wrong-pass"])
        #expect(doveadm.status != 0, "doveadm agrees the password is wrong")
    }

    @Test func nagiosAndHumanOutput() throws {
        var tree = PreflightTree()
        tree.overrides.remove(at: 1)
        let directory = try TemporaryDirectory()
        let root = try tree.build(in: directory)
        let nagios = try mailsec("preflight", "--nagios", "--root", root)
        #expect(nagios.status == 2)
        #expect(nagios.stdout.hasPrefix("MAILSEC CRITICAL - preflight mail.example.com:465: wrappermode:"), "\(nagios.stdout)")
        let human = try mailsec("preflight", "--root", root)
        #expect(human.status == 1)
        #expect(human.stdout.contains("✗ wrappermode:"))
        #expect(human.stdout.contains("Not ready: 1 check failed"))
    }

    @Test func badUsageAndMissingRoot() throws {
        #expect(try mailsec("preflight", "smtps://127.0.0.1").status == 64, "a target needs --probe")
        let missing = try mailsec("preflight", "--root", "/nonexistent-mailsec-root")
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent-mailsec-root"))
        let directory = try TemporaryDirectory()
        let empty = try preflight(["--root", directory.path])
        #expect(empty.status == 1)
        #expect(messages(empty.json, id: "postfix-config").contains("\(directory.path)/etc/postfix/main.cf: no such file"))
    }
}
