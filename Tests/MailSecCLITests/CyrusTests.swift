import Foundation
import Testing

/// libsasl2 mechanisms against the real Dovecot.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct SASLMechanismTests {
    let dovecot: DovecotFixture

    init() throws {
        dovecot = try DovecotFixture.shared
    }

    func check(_ mechanism: String, _ user: String, _ password: String) throws -> (RunResult, [String: Any]) {
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--no-penalty", "--json", "--mech", mechanism, user,
                                 input: password + "\n")
        return (result, result.stdout.isEmpty ? [:] : try parseJSON(result.stdout))
    }

    @Test(arguments: ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "DIGEST-MD5"])
    func eachMechanismAcceptsTheRightPasswordAndRejectsAWrongOne(_ mechanism: String) throws {
        let (good, json) = try check(mechanism, "alice", "alice-pass")
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(json["mechanism"] as? String == mechanism)
        #expect(json["authenticated_user"] as? String == "alice")
        let (bad, badJSON) = try check(mechanism, "alice", "alice-pas5")
        #expect(bad.status == 1)
        #expect(badJSON["ok"] as? Bool == false)
        #expect(try dovecot.doveadm("alice", "alice-pass").status == 0)
    }

    @Test func aHashedPasswordCannotServeChallengeMechanisms() throws {
        // bob's password is stored as SHA512-CRYPT: PLAIN works, SCRAM cannot.
        #expect(try check("PLAIN", "bob", "crypt-pass").0.status == 0)
        let (scram, json) = try check("SCRAM-SHA-256", "bob", "crypt-pass")
        #expect(scram.status == 1)
        #expect((json["reason"] as? String)?.contains("stored as a hash") == true)
    }

    @Test func autoPicksTheStrongestBothSidesHave() throws {
        let (result, json) = try check("auto", "alice", "alice-pass")
        #expect(result.status == 0)
        #expect(json["mechanism"] as? String == "SCRAM-SHA-256")
    }

    @Test func scramBatchesGoThroughThePipeline() throws {
        let temp = try TemporaryDirectory()
        var text = ""
        for index in 0..<200 { text += "user\(DovecotFixture.number(index)):\(index % 50 == 3 ? "nope" : "pw-\(index)")\n" }
        try text.write(toFile: temp.file("batch"), atomically: true, encoding: .utf8)
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--mech", "SCRAM-SHA-256", "--batch", temp.file("batch"), "--json")
        #expect(result.status == 1)
        let objects = try result.stdout.split(separator: "\n").map { try parseJSON(String($0)) }
        #expect(objects.count == 200)
        let failed = objects.filter { $0["ok"] as? Bool == false }
        #expect(Set(failed.compactMap { $0["line"] as? Int }) == [4, 54, 104, 154], "\(failed)")
    }

    @Test func aPluginDirectoryWithoutTheMechanismIsNamed() throws {
        let empty = try TemporaryDirectory()
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--mech", "SCRAM-SHA-256", "--sasl-plugin-dir", empty.path, "alice",
                                 input: "alice-pass\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("no client plugin for SCRAM-SHA-256") && result.stderr.contains(empty.path))
    }

    @Test func listsLibsasl2PluginsAndWhereItLooked() throws {
        let result = try mailsec("auth", "mechanisms", "--cyrus", "--json")
        #expect(result.status == 0)
        let json = try parseJSON(result.stdout)
        let mechanisms = try #require(json["client_mechanisms"] as? [String])
        for name in ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"] { #expect(mechanisms.contains(name), "\(name)") }
        #expect((json["plugin_directory"] as? String)?.hasSuffix("sasl2") == true)
        #expect((json["plugins"] as? [String])?.contains("scram") == true)
        // The server view follows smtpd.conf's mech_list.
        let server = try parseJSON(try mailsec("auth", "mechanisms", "--cyrus", "--json", "--sasl-config-dir", try SasldbFixture.shared.auxpropConfig).stdout)
        #expect(Set(server["server_mechanisms"] as? [String] ?? []) == ["PLAIN", "LOGIN", "CRAM-MD5"])
        let empty = try TemporaryDirectory()
        let none = try mailsec("auth", "mechanisms", "--cyrus", "--sasl-plugin-dir", empty.path)
        #expect(none.stdout.contains("No mechanism loaded") && none.stdout.contains(empty.path))
        let missing = try mailsec("auth", "mechanisms", "--cyrus", "--sasl-plugin-dir", empty.file("nope"))
        #expect(missing.status == 2 && missing.stderr.contains("libsasl2-modules"))
    }
}

/// `--cyrus` (sasl_checkpass as smtpd does) and `--saslauthd`, against a real sasldb and saslauthd.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct CyrusCheckTests {
    let sasldb: SasldbFixture
    let saslauthd: SaslauthdFixture

    init() throws {
        sasldb = try SasldbFixture.shared
        saslauthd = try SaslauthdFixture.shared
    }

    func cyrus(_ configDirectory: String, _ user: String, _ password: String, _ extra: [String] = []) throws -> (RunResult, [String: Any]) {
        let result = try mailsec(arguments: ["auth", "test", "--cyrus", "--sasl-config-dir", configDirectory, "--json"] + extra + [user],
                                 input: password + "\n")
        return (result, result.stdout.isEmpty ? [:] : try parseJSON(result.stdout))
    }

    @Test func sasldbThroughAuxprop() throws {
        let (good, json) = try cyrus(sasldb.auxpropConfig, "sasluser", "sasl-pass-1")
        #expect(good.status == 0, "\(good.stderr)")
        #expect(json["config"] as? String == sasldb.auxpropConfig + "/smtpd.conf")
        #expect(json["pwcheck_method"] as? String == "auxprop")
        #expect(json["mech_list"] as? String == "PLAIN LOGIN CRAM-MD5")
        #expect(try cyrus(sasldb.auxpropConfig, "sasluser", "sasl-pass-x").0.status == 1)
        #expect(try cyrus(sasldb.auxpropConfig, "ghost", "sasl-pass-1").1["code"] as? String == "nouser")
        // Users are stored as user@realm: the realm decides.
        #expect(try cyrus(sasldb.auxpropConfig, "realmuser", "sasl-pass-2", ["--realm", "example.com"]).0.status == 0)
        #expect(try cyrus(sasldb.auxpropConfig, "realmuser", "sasl-pass-2").0.status == 1)
    }

    @Test func saslauthdDirectlyAgreesWithTestsaslauthd() throws {
        for (password, accepted) in [(SaslauthdFixture.password, true), ("not-it", false)] {
            let result = try mailsec("auth", "test", "--saslauthd", "--socket", saslauthd.socket, "--json", SaslauthdFixture.user, input: password + "\n")
            #expect(result.status == (accepted ? 0 : 1), "\(result.stderr)")
            #expect(try saslauthd.testsaslauthd(SaslauthdFixture.user, password) == accepted)
        }
        let unknown = try mailsec("auth", "test", "--saslauthd", "--socket", saslauthd.socket, "nobody-such", input: "x-pass\n")
        #expect(unknown.status == 1)
    }

    @Test func saslauthdThroughLibsasl2AsSmtpdDoes() throws {
        let (good, json) = try cyrus(saslauthd.saslauthdConfig, SaslauthdFixture.user, SaslauthdFixture.password)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(json["pwcheck_method"] as? String == "saslauthd")
        #expect(try cyrus(saslauthd.saslauthdConfig, SaslauthdFixture.user, "not-it").0.status == 1)
    }

    @Test func saslauthdBatchAgreesWithTestsaslauthd() throws {
        let temp = try TemporaryDirectory()
        var text = ""
        for index in 0..<60 { text += "\(SaslauthdFixture.user):\(index % 10 == 0 ? "wrong-\(index)" : SaslauthdFixture.password)\n" }
        try text.write(toFile: temp.file("batch"), atomically: true, encoding: .utf8)
        let result = try mailsec("auth", "test", "--saslauthd", "--socket", saslauthd.socket, "--batch", temp.file("batch"), "--concurrency", "8", "--json")
        #expect(result.status == 1)
        let objects = try result.stdout.split(separator: "\n").map { try parseJSON(String($0)) }
        #expect(objects.count == 60)
        #expect(objects.filter { $0["ok"] as? Bool == true }.count == 54)
        let cyrusBatch = try mailsec("auth", "test", "--cyrus", "--sasl-config-dir", sasldb.auxpropConfig, "--batch", "-",
                                     input: "sasluser:sasl-pass-1\nsasluser:bad\n")
        #expect(cyrusBatch.status == 1 && cyrusBatch.stdout.contains("2 checked") && cyrusBatch.stdout.contains("1 accepted"))
    }

    @Test func brokenSetupsGiveThePromisedErrors() throws {
        let empty = try TemporaryDirectory()
        let noConfig = try mailsec("auth", "test", "--cyrus", "--sasl-config-dir", empty.path, "sasluser", input: "x-pass\n")
        #expect(noConfig.status == 2)
        #expect(noConfig.stderr.contains("no smtpd.conf in \(empty.path)") && noConfig.stderr.contains("pwcheck_method: saslauthd"))

        let notRunning = try mailsec("auth", "test", "--saslauthd", "--socket", empty.file("mux"), "sasluser", input: "x-pass\n")
        #expect(notRunning.status == 2)
        #expect(notRunning.stderr.contains("saslauthd is not running") && notRunning.stderr.contains("/etc/default/saslauthd"))

        try Data("not a socket".utf8).write(to: URL(fileURLWithPath: empty.file("file")))
        let wrongPath = try mailsec("auth", "test", "--saslauthd", "--socket", empty.file("file"), "sasluser", input: "x-pass\n")
        #expect(wrongPath.status == 2 && wrongPath.stderr.contains("is not a socket"))

        // smtpd.conf points at a saslauthd that is not there: undecided, with the reason.
        try "pwcheck_method: saslauthd\nsaslauthd_path: \(empty.file("mux"))\n".write(toFile: empty.file("smtpd.conf"), atomically: true, encoding: .utf8)
        let (down, json) = try cyrus(empty.path, "sasluser", "x-pass")
        #expect(down.status == 2)
        #expect((json["reason"] as? String)?.contains("saslauthd") == true)
    }
}
