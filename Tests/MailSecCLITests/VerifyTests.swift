import Foundation
import Testing

/// `mailsec verify` over a matrix of good and broken certificates and keys.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct VerifyTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let cert: String
        let key: String?
        var chain: String? = nil
        var trustRoot = true
        var hosts = ["mail.example.com"]
        /// Expected status of each id; ids not named here must pass (or skip where no key is given).
        let expect: [String: String]
        let exit: Int32
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "RSA pair with intermediate", cert: "rsa.crt", key: "rsa.key", chain: "inter.crt", expect: [:], exit: 0),
        Case(name: "EC pair", cert: "ec.crt", key: "ec.key", chain: "inter.crt", expect: [:], exit: 0),
        Case(name: "Ed25519 pair", cert: "ed25519.crt", key: "ed25519.key", chain: "inter.crt", expect: [:], exit: 0),
        Case(name: "RSA cert with EC key", cert: "rsa.crt", key: "ec.key", chain: "inter.crt", expect: ["key-matches-cert": "fail"], exit: 1),
        Case(name: "EC cert with Ed25519 key", cert: "ec.crt", key: "ed25519.key", chain: "inter.crt", expect: ["key-matches-cert": "fail"], exit: 1),
        Case(name: "Ed25519 cert with RSA key", cert: "ed25519.crt", key: "rsa.key", chain: "inter.crt", expect: ["key-matches-cert": "fail"], exit: 1),
        Case(name: "expired", cert: "expired.crt", key: "expired.key", chain: "inter.crt", expect: ["validity": "fail", "expiry": "skip"], exit: 1),
        Case(name: "not yet valid", cert: "future.crt", key: "future.key", chain: "inter.crt", expect: ["validity": "fail"], exit: 1),
        Case(name: "expiring in 10 days", cert: "soon.crt", key: "soon.key", chain: "inter.crt", expect: ["expiry": "warn"], exit: 0),
        // Current mail clients refuse a name found only in the CN (issue 14): a failure, no longer a warning.
        Case(name: "CN only, no SAN", cert: "cnonly.crt", key: "cnonly.key", chain: "inter.crt", expect: ["hostname": "fail"], exit: 1),
        Case(name: "wildcard", cert: "ec.crt", key: "ec.key", chain: "inter.crt", hosts: ["smtp.wild.example.com"], expect: [:], exit: 0),
        Case(name: "wildcard one level too deep", cert: "ec.crt", key: "ec.key", chain: "inter.crt", hosts: ["a.b.wild.example.com"], expect: ["hostname": "fail"], exit: 1),
        Case(name: "IP SAN", cert: "ec.crt", key: "ec.key", chain: "inter.crt", hosts: ["192.0.2.10", "2001:db8::10"], expect: [:], exit: 0),
        Case(name: "IP not in SANs", cert: "ec.crt", key: "ec.key", chain: "inter.crt", hosts: ["192.0.2.11"], expect: ["hostname": "fail"], exit: 1),
        Case(name: "SHA-1 signed", cert: "sha1.crt", key: "sha1.key", chain: "inter.crt", expect: ["signature-algorithm": "fail"], exit: 1),
        Case(name: "RSA 1024", cert: "weak.crt", key: "weak.key", chain: "inter.crt", expect: ["key-strength": "fail"], exit: 1),
        Case(name: "clientAuth-only EKU", cert: "clientonly.crt", key: "clientonly.key", chain: "inter.crt", expect: ["key-usage": "fail"], exit: 1),
        // A CA certificate as the leaf also breaks RFC 5280's strict rules for CAs (no keyUsage, no SKI), as openssl -x509_strict says.
        Case(name: "CA:TRUE leaf", cert: "caleaf.crt", key: "caleaf.key", chain: "inter.crt", expect: ["key-usage": "fail", "chain": "fail"], exit: 1),
        Case(name: "encrypted key", cert: "ec.crt", key: "encrypted.key", chain: "inter.crt", expect: ["key-readable": "fail", "key-matches-cert": "skip"], exit: 1),
        Case(name: "not a key", cert: "ec.crt", key: "garbage.key", chain: "inter.crt", expect: ["key-readable": "fail", "key-matches-cert": "skip"], exit: 1),
        Case(name: "world-readable key", cert: "ec.crt", key: "open.key", chain: "inter.crt", expect: ["key-file-permissions": "fail"], exit: 1),
        Case(name: "group-writable key", cert: "ec.crt", key: "groupwrite.key", chain: "inter.crt", expect: ["key-file-permissions": "fail"], exit: 1),
        Case(name: "leaf + intermediate in one file", cert: "chain-good.pem", key: "rsa.key", expect: [:], exit: 0),
        Case(name: "leaf + intermediate + root", cert: "chain-full.pem", key: "rsa.key", expect: [:], exit: 0),
        Case(name: "leaf not first", cert: "chain-leaf-last.pem", key: "rsa.key", expect: ["chain-order": "fail"], exit: 1),
        Case(name: "intermediates out of order", cert: "chain-scrambled.pem", key: "rsa.key", expect: ["chain-order": "fail"], exit: 1),
        Case(name: "missing intermediate", cert: "rsa.crt", key: "rsa.key", expect: ["chain": "fail"], exit: 1),
        Case(name: "untrusted root", cert: "chain-full.pem", key: "rsa.key", trustRoot: false, expect: ["chain": "fail"], exit: 1),
        Case(name: "no key given", cert: "ec.crt", key: nil, chain: "inter.crt",
             expect: ["key-readable": "skip", "key-matches-cert": "skip", "key-file-permissions": "skip"], exit: 0),
    ]

    static let allIDs = ["cert-readable", "key-readable", "key-matches-cert", "hostname", "validity", "expiry", "chain",
                         "chain-order", "key-strength", "signature-algorithm", "key-usage", "key-file-permissions"]
    /// Checks that skip unless asked for (crl: only with --crl).
    static let skippedUnlessAsked = ["crl"]

    @Test(arguments: cases)
    func matrixGivesTheExpectedStatusForEveryCheck(_ testCase: Case) throws {
        let fixtures = try VerifyFixtures.shared
        var arguments = ["--cert", fixtures.path(testCase.cert)]
        if let key = testCase.key { arguments += ["--key", fixtures.path(key)] }
        if let chain = testCase.chain { arguments += ["--chain", fixtures.path(chain)] }
        // The root is trusted through --ca-file; "untrusted root" trusts only an unrelated CA.
        arguments += ["--ca-file", fixtures.path(testCase.trustRoot ? "root.crt" : "caleaf.crt")]
        for host in testCase.hosts { arguments += ["--host", host] }

        let outcome = try VerifyOutcome(arguments)
        #expect(outcome.status == testCase.exit, "\(outcome.statuses) \(outcome.stderr)")
        for id in Self.allIDs {
            let expected = testCase.expect[id] ?? "pass"
            #expect(outcome.statuses[id] == expected, "\(id): \(outcome.check(id)?["message"] ?? "missing")")
        }
        #expect(outcome.json["ok"] as? Bool == (testCase.exit == 0))
        // Every failure says how to fix it.
        for check in (outcome.json["checks"] as? [[String: Any]]) ?? [] where check["status"] as? String == "fail" {
            #expect((check["remedy"] as? String)?.isEmpty == false, "\(check["id"] ?? "")")
        }
    }

    @Test func jsonCarriesTheCertificateFacts() throws {
        let fixtures = try VerifyFixtures.shared
        let outcome = try VerifyOutcome(["--cert", fixtures.path("rsa.crt"), "--chain", fixtures.path("inter.crt"),
                                         "--ca-file", fixtures.path("root.crt"), "--host", "mail.example.com"])
        let certificate = try #require(outcome.json["certificate"] as? [String: Any])
        for key in ["subject", "issuer", "sans", "not_before", "not_after", "days_left", "key_type", "key_bits", "sha256"] {
            #expect(certificate[key] != nil, "\(key)")
        }
        #expect(certificate["issuer"] as? String == "O=MailSec Test, CN=Test Intermediate")
        #expect(certificate["key_bits"] as? Int == 2048)
        let fingerprint = try openssl("x509", "-in", fixtures.path("rsa.crt"), "-noout", "-fingerprint", "-sha256")
        #expect(fingerprint.contains(try #require(certificate["sha256"] as? String)))
    }

    @Test func remediesAreConcrete() throws {
        let fixtures = try VerifyFixtures.shared
        let open = try VerifyOutcome(["--cert", fixtures.path("ec.crt"), "--key", fixtures.path("open.key"), "--ca-file", fixtures.path("root.crt")])
        #expect((open.check("key-file-permissions")?["remedy"] as? String)?.contains("chmod 600 \(fixtures.path("open.key"))") == true)
        let scrambled = try VerifyOutcome(["--cert", fixtures.path("chain-leaf-last.pem"), "--ca-file", fixtures.path("root.crt")])
        let order = try #require(scrambled.check("chain-order")?["remedy"] as? String)
        #expect(order.contains("CN=mail.example.com\n  O=MailSec Test, CN=Test Intermediate"), "\(order)")
        let expired = try VerifyOutcome(["--cert", fixtures.path("expired.crt"), "--ca-file", fixtures.path("root.crt")])
        #expect((expired.check("validity")?["remedy"] as? String)?.contains("mailsec genkey --reuse-key mail.example.com") == true)
    }

    @Test func nagiosLineAndExitCodes() throws {
        let fixtures = try VerifyFixtures.shared
        let base = ["verify", "--nagios", "--ca-file", fixtures.path("root.crt"), "--chain", fixtures.path("inter.crt"), "--host", "mail.example.com"]
        let ok = try mailsec(arguments: base + ["--cert", fixtures.path("ec.crt"), "--key", fixtures.path("ec.key")])
        #expect(ok.status == 0)
        #expect(ok.stdout.hasPrefix("MAILSEC OK - "))
        #expect(ok.stdout.contains("|days_left="))
        #expect(ok.stdout.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1)

        let warning = try mailsec(arguments: base + ["--cert", fixtures.path("soon.crt")])
        #expect(warning.status == 1)
        #expect(warning.stdout.hasPrefix("MAILSEC WARNING - expiry: "))
        #expect(warning.stdout.contains(";30:;1:"), "range thresholds: alert below 30 days, critical below 1")

        let critical = try mailsec(arguments: base + ["--cert", fixtures.path("expired.crt")])
        #expect(critical.status == 2)
        #expect(critical.stdout.hasPrefix("MAILSEC CRITICAL - validity: expired"))
        #expect(critical.stdout.contains("|days_left=-"))

        let unknown = try mailsec(arguments: base + ["--cert", fixtures.path("missing.crt")])
        #expect(unknown.status == 3)
        #expect(unknown.stdout.hasPrefix("MAILSEC UNKNOWN - "))
    }

    @Test func couldNotRunExitsTwoNamingTheFile() throws {
        let fixtures = try VerifyFixtures.shared
        let missing = try mailsec("verify", "--cert", fixtures.path("missing.crt"))
        #expect(missing.status == 2 && missing.stderr.contains("missing.crt") && missing.stderr.contains("no such file"))
        let directory = try mailsec("verify", "--cert", fixtures.directory)
        #expect(directory.status == 2 && directory.stderr.contains("is a directory"))
        let keyMissing = try mailsec("verify", "--cert", fixtures.path("ec.crt"), "--key", fixtures.path("nope.key"))
        #expect(keyMissing.status == 2 && keyMissing.stderr.contains("nope.key"))
        let badCAFile = try mailsec("verify", "--cert", fixtures.path("ec.crt"), "--ca-file", fixtures.path("garbage.key"))
        #expect(badCAFile.status == 2 && badCAFile.stderr.contains("garbage.key"))
        // Not a certificate: the tool ran, the check failed.
        let notCertificate = try VerifyOutcome(["--cert", fixtures.path("garbage.key"), "--ca-file", fixtures.path("root.crt")])
        #expect(notCertificate.status == 1)
        #expect(notCertificate.statuses["cert-readable"] == "fail")
        // A name no certificate should carry is a question with an answer (issue 14), not a usage error.
        let unusual = try VerifyOutcome(["--cert", fixtures.path("ec.crt"), "--host", "bad_name", "--ca-file", fixtures.path("root.crt")])
        #expect(unusual.status == 1)
        #expect(unusual.statuses["hostname"] == "fail")
        #expect(try mailsec("verify", "--cert", fixtures.path("ec.crt"), "--host", "two words").status == 64)
    }

    @Test func trustsTheSystemStoreByDefault() throws {
        let fixtures = try VerifyFixtures.shared
        // Our test root is in no system store, so the chain cannot verify without --ca-file.
        let outcome = try VerifyOutcome(["--cert", fixtures.path("chain-full.pem")])
        #expect(outcome.statuses["chain"] == "fail")
        #expect((outcome.check("chain")?["message"] as? String)?.contains("the system trust store") == true)
    }

    @Test func certificatesFromGenkeyPassEveryCheck() throws {
        let temp = try TemporaryDirectory()
        try #require(try mailsec("ca", "create", "--root", temp.path, "--batch", "--key-type", "ec", "test-ca").status == 0)
        for keyType in ["rsa", "ec", "ed25519"] {
            let host = "\(keyType).example.com"
            try #require(try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", keyType, "--ca", "test-ca",
                                     "--san", "IP:192.0.2.5", host).status == 0)
            let outcome = try VerifyOutcome(["--cert", temp.file("etc/pki/tls/certs/\(host).crt"), "--key", temp.file("etc/pki/tls/private/\(host).key"),
                                             "--ca-file", temp.file("etc/pki/CA/certs/test-ca.crt"), "--host", host, "--host", "192.0.2.5"])
            #expect(outcome.status == 0)
            for id in Self.allIDs { #expect(outcome.statuses[id] == "pass", "\(keyType) \(id): \(outcome.check(id)?["message"] ?? "")") }
        }
        // A self-signed one passes everything but warns that it is self-signed.
        try #require(try mailsec("genkey", "--root", temp.path, "--batch", "self.example.com").status == 0)
        let selfSigned = try VerifyOutcome(["--cert", temp.file("etc/pki/tls/certs/self.example.com.crt"),
                                            "--key", temp.file("etc/pki/tls/private/self.example.com.key"), "--host", "self.example.com"])
        #expect(selfSigned.status == 0)
        #expect(selfSigned.statuses["chain"] == "warn")
        #expect(selfSigned.statuses.filter { $0.value != "pass" }.keys.sorted() == ["chain", "crl"])
        #expect(selfSigned.statuses["crl"] == "skip", "no --crl given")
    }
}

/// Host name verdicts against `openssl x509 -checkhost` / `-checkip`.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct HostnameAgreementTests {
    /// Names and whether each should match ec.crt (SANs: mail.example.com, *.wild.example.com,
    /// *.xn--bcher-kva.example, f*.partial.example.com, xn--mller-kva.example.org, UPPER.Example.NET,
    /// 192.0.2.10, 2001:db8::10).
    static let names: [(String, Bool)] = [
        ("mail.example.com", true), ("MAIL.EXAMPLE.COM", true), ("Mail.Example.Com", true),
        ("smtp.example.com", false), ("example.com", false), ("mail.example.com.evil.net", false),
        ("a.wild.example.com", true), ("SMTP.WILD.EXAMPLE.COM", true), ("a.b.wild.example.com", false),
        ("wild.example.com", false), ("x.y.z.wild.example.com", false), ("awild.example.com", false),
        ("imap.xn--bcher-kva.example", true), ("xn--bcher-kva.example", false), ("xn--mller-kva.example.org", true),
        ("mller.example.org", false), ("upper.example.net", true), ("UPPER.EXAMPLE.NET", true),
        ("192.0.2.10", true), ("192.0.2.1", false), ("192.0.2.100", false),
        ("2001:db8::10", true), ("2001:DB8:0:0:0:0:0:10", true), ("2001:db8::11", false), ("::ffff:192.0.2.10", false),
        ("10.0.0.1", false), ("localhost", false),
    ]

    @Test func verdictsAgreeWithOpenSSL() throws {
        let fixtures = try VerifyFixtures.shared
        let certificate = fixtures.path("ec.crt")
        let outcome = try mailsec(arguments: ["verify", "--json", "--cert", certificate] + Self.names.flatMap { ["--host", $0.0] })
        let checks = try #require(try parseJSON(outcome.stdout)["checks"] as? [[String: Any]]).filter { $0["id"] as? String == "hostname" }
        try #require(checks.count == Self.names.count)
        for ((name, shouldMatch), check) in zip(Self.names, checks) {
            let ours = check["status"] as? String == "pass"
            let isIP = name.contains(":") || name.allSatisfy { $0.isNumber || $0 == "." }
            let result = try run("/usr/bin/openssl", ["x509", "-in", certificate, "-noout", isIP ? "-checkip" : "-checkhost", name])
            #expect(result.status == 0, "openssl ran for \(name)")
            let theirs = result.stdout.contains("does match")
            #expect(!result.stdout.isEmpty)
            #expect(ours == theirs, "\(name): mailsec \(ours), openssl \(theirs)")
            #expect(ours == shouldMatch, "\(name)")
        }
    }

    /// Where RFC 6125/9525 and `openssl x509 -checkhost` part ways, mailsec follows the RFCs.
    @Test func differsFromOpenSSLOnlyWhereTheRFCsSaySo() throws {
        let certificate = try VerifyFixtures.shared.path("ec.crt")
        let outcome = try mailsec("verify", "--json", "--cert", certificate, "--host", "foo.partial.example.com", "--host", "mail.example.com.")
        let checks = try #require(try parseJSON(outcome.stdout)["checks"] as? [[String: Any]]).filter { $0["id"] as? String == "hostname" }
        // f*.partial.example.com: a partial wildcard; RFC 9525 forbids it, openssl accepts it.
        #expect(checks[0]["status"] as? String == "fail")
        #expect(try openssl("x509", "-in", certificate, "-noout", "-checkhost", "foo.partial.example.com").contains("does match"))
        // A trailing dot is the same name (RFC 6125 6.2.1); openssl says it does not match.
        #expect(checks[1]["status"] as? String == "pass")
        #expect(try openssl("x509", "-in", certificate, "-noout", "-checkhost", "mail.example.com.").contains("does NOT match"))
    }

    /// A deliberate difference: openssl -checkhost falls back to the CN; mail clients (RFC 6125/9525) do not.
    @Test func commonNameOnlyMatchesForOpenSSLButFailsForClients() throws {
        let certificate = try VerifyFixtures.shared.path("cnonly.crt")
        let outcome = try VerifyOutcome(["--cert", certificate, "--host", "mail.example.com"])
        #expect(outcome.statuses["hostname"] == "fail")
        #expect((outcome.check("hostname")?["message"] as? String)?.contains("Postfix's own SMTP client would still accept it") == true)
        #expect(try openssl("x509", "-in", certificate, "-noout", "-checkhost", "mail.example.com").contains("does match"))
    }
}
