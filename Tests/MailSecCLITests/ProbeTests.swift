import Foundation
import Testing

/// `mailsec probe` against a real Postfix (SASL through the real Dovecot).
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct ProbeTests {
    let postfix: PostfixFixture

    init() throws {
        postfix = try PostfixFixture.shared
    }

    /// Runs a probe with --json; returns the exit code and each target's statuses by id.
    func probe(_ arguments: [String], password: String? = nil) throws -> (Int32, [[String: String]], [[String: Any]], RunResult) {
        let result = try mailsec(arguments: ["probe", "--json", "--timeout", "20"] + arguments, input: password.map { $0 + "\n" })
        let array = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]] ?? []
        let statuses = array.map { target in
            Dictionary(((target["checks"] as? [[String: Any]]) ?? []).map { ($0["id"] as! String, $0["status"] as! String) }, uniquingKeysWith: { $1 })
        }
        return (result.status, statuses, array, result)
    }

    func failed(_ statuses: [String: String]) -> Set<String> { Set(statuses.filter { $0.value == "fail" }.keys) }

    var trustGood: [String] { ["--ca-file", postfix.certificate, "--verify-host", "mail.example.com"] }

    @Test func goodServicesPassEveryCheckWithTheRightPassword() throws {
        let (status, statuses, json, result) = try probe(trustGood + ["--auth-user", "alice", "--check-relay",
                                                                       "smtps://127.0.0.1:\(postfix.smtps)", "submission://127.0.0.1:\(postfix.submission)"],
                                                          password: "alice-pass")
        #expect(status == 0, "\(result.stdout)\(result.stderr)")
        #expect(statuses.count == 2)
        for target in statuses {
            for id in ["connect", "tls-handshake", "certificate-hostname", "certificate-chain", "certificate-expiry", "banner", "ehlo",
                       "starttls-after-tls", "auth-offered", "relay-denied", "auth"] {
                #expect(target[id] == "pass", "\(id): \(target)")
            }
        }
        #expect(statuses[0]["auth-before-tls"] == "skip")
        #expect(statuses[1]["auth-before-tls"] == "pass")
        let tls = try #require(json[0]["tls"] as? [String: Any])
        #expect((tls["version"] as? String)?.hasPrefix("TLSv1.") == true)
        #expect((json[0]["certificate"] as? [String: Any])?["subject"] as? String == "CN=mail.example.com")
    }

    @Test func wrongPasswordFailsOnlyAuthAndAgreesWithSwaks() throws {
        for (password, accepted) in [("alice-pass", true), ("alice-pas5", false)] {
            let (status, statuses, _, _) = try probe(trustGood + ["--auth-user", "alice", "--mech", "PLAIN", "smtps://127.0.0.1:\(postfix.smtps)"], password: password)
            #expect(status == (accepted ? 0 : 1))
            #expect(failed(statuses[0]) == (accepted ? [] : ["auth"]))
            let swaks = try run("/usr/bin/swaks", ["--server", "127.0.0.1", "--port", String(postfix.smtps), "--tls-on-connect",
                                                   "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", password, "--quit-after", "AUTH"])
            #expect((swaks.status == 0) == accepted, "swaks exited \(swaks.status)")
        }
    }

    @Test func wrongVerifyHostFailsOnlyTheHostname() throws {
        let (status, statuses, _, _) = try probe(["--ca-file", postfix.certificate, "--verify-host", "smtp.other.example", "smtps://127.0.0.1:\(postfix.smtps)"])
        #expect(status == 1)
        #expect(failed(statuses[0]) == ["certificate-hostname"])
    }

    struct Broken: CustomTestStringConvertible, Sendable {
        let name: String
        let scheme: String
        let port: @Sendable (PostfixFixture) -> UInt16
        let extra: [String]
        let fails: String
        var testDescription: String { name }
    }

    static let broken = [
        Broken(name: "wrapper service without smtpd_tls_wrappermode", scheme: "smtps", port: { $0.clearTextOnImplicit }, extra: [], fails: "tls-handshake"),
        Broken(name: "submission without smtpd_tls_auth_only", scheme: "submission", port: { $0.authBeforeTLS }, extra: [], fails: "auth-before-tls"),
        Broken(name: "open relay", scheme: "smtps", port: { $0.openRelay }, extra: ["--check-relay"], fails: "relay-denied"),
        Broken(name: "expired certificate", scheme: "smtps", port: { $0.expired }, extra: ["--ca-file-root"], fails: "certificate-expiry"),
    ]

    @Test(arguments: broken)
    func eachBrokenVariantFailsExactlyItsCheck(_ variant: Broken) throws {
        var trust = trustGood
        var extra = variant.extra
        if extra.contains("--ca-file-root") {
            trust = ["--ca-file", try VerifyFixtures.shared.path("root.crt"), "--verify-host", "mail.example.com"]
            extra.removeAll { $0 == "--ca-file-root" }
        }
        let (status, statuses, json, result) = try probe(trust + extra + ["\(variant.scheme)://127.0.0.1:\(variant.port(postfix))"])
        #expect(status == 1, "\(result.stdout)")
        #expect(failed(statuses[0]) == [variant.fails], "\(statuses[0])")
        let check = ((json[0]["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == variant.fails }
        #expect((check?["remedy"] as? String)?.isEmpty == false)
    }

    @Test func clearTextOnTheImplicitPortIsQuotedWithTheFix() throws {
        let (_, _, json, _) = try probe(trustGood + ["smtps://127.0.0.1:\(postfix.clearTextOnImplicit)"])
        let check = try #require(((json[0]["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "tls-handshake" })
        #expect((check["message"] as? String)?.contains("220 mail.example.com ESMTP") == true)
        #expect((check["remedy"] as? String)?.contains("-o smtpd_tls_wrappermode=yes") == true)
    }

    @Test func transcriptMasksThePassword() throws {
        let result = try mailsec(arguments: ["probe", "--transcript", "--auth-user", "alice", "--mech", "PLAIN"] + trustGood + ["smtps://127.0.0.1:\(postfix.smtps)"],
                                 input: "alice-pass\n")
        #expect(result.status == 0)
        #expect(result.stdout.contains("C: EHLO mailsec.invalid"))
        #expect(result.stdout.contains("C: AUTH PLAIN <masked"))
        #expect(result.stdout.contains("S: 235"))
        let secret = Data("\u{0}alice\u{0}alice-pass".utf8).base64EncodedString()
        #expect(!result.stdout.contains(secret) && !result.stdout.contains("alice-pass"))
    }

    @Test func nagiosPrintsOneLinePerTarget() throws {
        let result = try mailsec(arguments: ["probe", "--nagios"] + trustGood + ["smtps://127.0.0.1:\(postfix.smtps)", "submission://127.0.0.1:\(postfix.authBeforeTLS)"])
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("MAILSEC OK - smtps://127.0.0.1:\(postfix.smtps)"))
        #expect(lines[0].contains(";30:;1: handshake_ms="), "range thresholds as the plugin guidelines define them: \(lines[0])")
        #expect(lines[1].hasPrefix("MAILSEC CRITICAL - submission://127.0.0.1:\(postfix.authBeforeTLS): auth-before-tls"))
        #expect(result.status == 2)
    }

    @Test func refusedConnectionIsExplained() throws {
        let port = try PostfixFixture.freePorts(1)[0]
        let (status, statuses, json, _) = try probe(["smtps://127.0.0.1:\(port)"])
        #expect(status == 1)
        #expect(failed(statuses[0]) == ["connect"])
        let check = ((json[0]["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "connect" }
        #expect((check?["remedy"] as? String)?.contains("ss -ltnp") == true)
    }

    @Test func rejectsBadTargets() throws {
        #expect(try mailsec("probe", "ftp://x").status == 64)
        #expect(try mailsec("probe", "mail.example.com").status == 64)
    }
}

/// What Postfix will not do, from a fake server.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct ProbeFakeServerTests {
    func probe(_ behaviour: FakeSMTPServer.Behaviour, _ scheme: String) throws -> (Set<String>, [[String: Any]]) {
        let server = try FakeSMTPServer(behaviour)
        let result = try mailsec("probe", "--json", "--timeout", "2", "--ca-file", try VerifyFixtures.shared.path("root.crt"),
                                 "--verify-host", "mail.example.com", "\(scheme)://127.0.0.1:\(server.port)")
        let array = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]] ?? []
        let checks = (array.first?["checks"] as? [[String: Any]]) ?? []
        return (Set(checks.filter { $0["status"] as? String == "fail" }.compactMap { $0["id"] as? String }), checks)
    }

    func message(_ checks: [[String: Any]], _ id: String) -> String {
        (checks.first { $0["id"] as? String == id }?["message"] as? String) ?? ""
    }

    @Test func starttlsAdvertisedInsideTLSFails() throws {
        let (failed, checks) = try probe(.starttlsAfterTLS, "smtps")
        #expect(failed == ["starttls-after-tls"], "\(checks)")
    }

    @Test func aBannerThatNeverComesTimesOut() throws {
        let (failed, checks) = try probe(.silent, "submission")
        #expect(failed == ["banner"])
        #expect(message(checks, "banner").contains("no greeting within 2 s"))
    }

    @Test func anEndlessLineIsRefused() throws {
        let (failed, checks) = try probe(.endlessLine, "submission")
        #expect(failed == ["banner"])
        #expect(message(checks, "banner").contains("longer than 4096"))
    }

    @Test func garbageInsteadOfTLSFailsTheHandshake() throws {
        let (failed, _) = try probe(.garbageTLS, "smtps")
        #expect(failed == ["tls-handshake"])
    }

    /// A peer that hangs up must be a failed check, never SIGPIPE (exit 141, no output).
    @Test(arguments: [FakeSMTPServer.Behaviour.tlsCloseAfterBanner, .tlsResetAfterBanner, .tls421])
    func aPeerThatHangsUpIsAFailedCheckNotADeadProcess(_ behaviour: FakeSMTPServer.Behaviour) throws {
        let server = try FakeSMTPServer(behaviour)
        let target = "smtps://127.0.0.1:\(server.port)"
        let trust = ["--ca-file", try VerifyFixtures.shared.path("root.crt"), "--verify-host", "mail.example.com", "--timeout", "2"]
        // Two targets in one run: the second must still be reported after the first hangs up.
        for _ in 0..<3 {
            let result = try mailsec(arguments: ["probe", "--json"] + trust + [target, target])
            #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
            let array = try #require((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]])
            #expect(array.count == 2)
            let checks = (array.first?["checks"] as? [[String: Any]]) ?? []
            let failedIDs = Set(checks.filter { $0["status"] as? String == "fail" }.compactMap { $0["id"] as? String })
            // A reset may overtake the banner (the kernel then drops what was unread): banner or EHLO fails, exactly one.
            let expected: Set<Set<String>> = behaviour == .tlsResetAfterBanner ? [["ehlo"], ["banner"]] : [["ehlo"]]
            #expect(expected.contains(failedIDs), "\(checks)")
            if behaviour == .tls421 {
                #expect(message(checks, "ehlo").contains("421"), "\(checks)")
            }
        }
        let nagios = try mailsec(arguments: ["probe", "--nagios"] + trust + [target])
        #expect(nagios.status == 2 && nagios.stdout.hasPrefix("MAILSEC CRITICAL"), "exit \(nagios.status)")
    }

    @Test func aCloseMidHandshakeFailsTheHandshake() throws {
        let (failed, checks) = try probe(.closeMidHandshake, "smtps")
        #expect(failed == ["tls-handshake"])
        #expect(message(checks, "tls-handshake").contains("closed the connection"))
    }
}
