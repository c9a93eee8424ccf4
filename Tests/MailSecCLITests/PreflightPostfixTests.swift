import Foundation
import Testing

/// `preflight --probe --auth-user` against the real Postfix and Dovecot of the probe tests.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct PreflightPostfixTests {
    let postfix: PostfixFixture

    init() throws {
        postfix = try PostfixFixture.shared
    }

    func run(port: UInt16, password: String = "alice-pass") throws -> (status: Int32, worst: [String: String], json: [String: Any], result: RunResult) {
        try preflight(["--postfix-dir", postfix.config, "--port", String(port), "--ca-file", postfix.certificate, "--timeout", "20",
                       "--probe", "--auth-user", "alice"], input: password + "\n")
    }

    func failed(_ worst: [String: String]) -> Set<String> { Set(worst.filter { $0.value == "fail" }.keys) }

    @Test func goodServicePassesEverythingIncludingTheLiveLogin() throws {
        let (status, worst, json, result) = try run(port: postfix.smtps)
        #expect(status == 0, "\(result.stdout)\(result.stderr)")
        for id in ["smtps-service", "wrappermode", "sasl-enabled", "client-restrictions", "services-name", "tls-files", "sasl-socket", "port",
                   "postfix-check", "connect", "tls-handshake", "certificate-hostname", "banner", "auth", "relay-denied", "starttls-after-tls"] {
            #expect(worst[id] == "pass", "\(id): \(messages(json, id: id))")
        }
        #expect(messages(json, id: "port").contains("held by Postfix's master"))
        #expect(messages(json, id: "sasl-socket").contains("alice logged in"))
        #expect(json["host"] as? String == "mail.example.com", "the host defaults to myhostname")
        let service = try #require(json["service"] as? [String: Any])
        #expect(service["name"] as? String == String(postfix.smtps))
        #expect(service["file"] as? String == postfix.config + "/master.cf")
        #expect(service["line"] as? Int == 1)
    }

    @Test func wrongPasswordFailsTheSocketLoginAndTheProbeLogin() throws {
        let (status, worst, _, result) = try run(port: postfix.smtps, password: "not-alices")
        #expect(status == 1)
        #expect(failed(worst) == ["sasl-socket", "auth"], "\(result.stdout)")
        #expect(!result.stdout.contains("not-alices"))
    }

    @Test func clearTextServiceIsNamedOfflineAndLive() throws {
        let (status, worst, _, result) = try run(port: postfix.clearTextOnImplicit)
        #expect(status == 1)
        #expect(failed(worst).contains("wrappermode"), "\(result.stdout)")
        #expect(failed(worst).contains("tls-handshake"))
        #expect(!failed(worst).contains("tls-files"))
    }

    @Test func expiredCertificateIsNamedOfflineAndLive() throws {
        let (_, worst, json, result) = try run(port: postfix.expired)
        #expect(failed(worst).contains("tls-files"), "\(result.stdout)")
        #expect(messages(json, id: "tls-files").contains("validity: expired"))
        #expect(failed(worst).contains("certificate-expiry") || failed(worst).contains("certificate-chain"))
    }

    @Test func openRelayServiceLacksSASLAndRelays() throws {
        let (_, worst, _, result) = try run(port: postfix.openRelay)
        #expect(failed(worst).contains("sasl-enabled"), "\(result.stdout)")
        #expect(failed(worst).contains("relay-denied"))
    }

    @Test func postfixCheckFindsWhatPostfixFinds() throws {
        // A copy of the running configuration with a main.cf Postfix refuses.
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        for file in ["main.cf", "master.cf"] {
            try FileManager.default.copyItem(atPath: postfix.config + "/" + file, toPath: directory.path + "/" + file)
        }
        let main = directory.path + "/main.cf"
        try (String(contentsOfFile: main, encoding: .utf8) + "smtpd_tls_loglevel one\n").write(toFile: main, atomically: true, encoding: .utf8)
        let (_, worst, json, result) = try preflight(["--postfix-dir", directory.path, "--port", String(postfix.smtps), "--ca-file", postfix.certificate])
        #expect(worst["postfix-check"] == "fail", "\(result.stdout)")
        #expect(messages(json, id: "postfix-check").contains("missing '=' after attribute name"), "postfix's own words: \(messages(json, id: "postfix-check"))")
        #expect(worst["postfix-config"] == "fail")
    }
}
