import Foundation
import Testing

/// `mailsec auth mechanisms|test` against a real Dovecot, cross-checked with `doveadm auth test`.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct AuthDovecotTests {
    let dovecot: DovecotFixture

    init() throws {
        dovecot = try DovecotFixture.shared
    }

    /// Runs `auth test` with the password on stdin; returns the result and its JSON.
    func check(_ user: String, _ password: String, _ extra: [String] = []) throws -> (RunResult, [String: Any]) {
        let result = try mailsec(arguments: ["auth", "test", "--socket", dovecot.socket, "--no-penalty", "--json"] + extra + [user],
                                 input: password + "\n")
        return (result, result.stdout.isEmpty ? [:] : try parseJSON(result.stdout))
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let user: String
        let password: String
        let exit: Int32
        let code: String?
        let doveadmAccepts: Bool
        var testDescription: String { "\(user) → \(exit)" }
    }

    static let cases = [
        Case(user: "alice", password: "alice-pass", exit: 0, code: nil, doveadmAccepts: true),
        Case(user: "alice", password: "alice-pas5", exit: 1, code: nil, doveadmAccepts: false),
        Case(user: "bob", password: "crypt-pass", exit: 0, code: nil, doveadmAccepts: true),
        Case(user: "bob", password: "crypt-pas", exit: 1, code: nil, doveadmAccepts: false),
        Case(user: "carol", password: "carol-pass", exit: 1, code: "nologin", doveadmAccepts: true),
        Case(user: "erin", password: "erin-pass", exit: 1, code: "proxy", doveadmAccepts: true),
        Case(user: "jürgen", password: "grüße-pass", exit: 0, code: nil, doveadmAccepts: true),
        Case(user: "colon", password: "pa:ss:word", exit: 0, code: nil, doveadmAccepts: true),
        Case(user: "nobody-here", password: "nobody-pass-9", exit: 1, code: nil, doveadmAccepts: false),
    ]

    @Test(arguments: cases, ["PLAIN", "LOGIN"])
    func verdictsMatchDoveadm(_ testCase: Case, mechanism: String) throws {
        let (result, json) = try check(testCase.user, testCase.password, ["--mech", mechanism])
        #expect(result.status == testCase.exit, "\(result.stdout)\(result.stderr)")
        #expect(json["ok"] as? Bool == (testCase.exit == 0))
        #expect(json["code"] as? String == testCase.code)
        if testCase.exit == 0 { #expect(json["authenticated_user"] as? String == testCase.user) }
        #expect(!result.stdout.contains(testCase.password) && !result.stderr.contains(testCase.password))

        let doveadm = try dovecot.doveadm(testCase.user, testCase.password)
        #expect((doveadm.status == 0) == testCase.doveadmAccepts, "doveadm: \(doveadm.stdout)")
        if let code = testCase.code {
            // doveadm calls these a success; Postfix (and mailsec) do not.
            #expect(doveadm.stdout.contains(code))
        }
    }

    @Test func requestLooksLikePostfixAndHumanOutputSaysWho() throws {
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--secured", "--lip", "127.0.0.1", "--rip", "127.0.0.2", "alice",
                                 input: "alice-pass\n")
        #expect(result.status == 0)
        #expect(result.stdout.contains("✓ alice: accepted in"))
        #expect(result.stdout.contains("service=smtp, secured"))
    }

    @Test func sendsWhatPostfixSends() throws {
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--secured", "--lip", "192.0.2.1", "--rip", "198.51.100.77", "alice",
                                 input: "alice-pass\n")
        #expect(result.status == 0)
        let request = try #require(try dovecot.receivedRequests().last { $0.contains("rip=198.51.100.77") })
        let fields = request.split(separator: "\t").map(String.init)
        #expect(fields[0] == "AUTH" && fields[1] != "0")
        #expect(Array(fields[2...]) == ["PLAIN", "service=smtp", "secured", "nologin", "lip=192.0.2.1", "rip=198.51.100.77", "resp=<hidden>"],
                "Postfix's fields, resp= last: \(request)")
    }

    @Test func listsMechanismsWithFlags() throws {
        let result = try mailsec("auth", "mechanisms", "--socket", dovecot.socket, "--json")
        #expect(result.status == 0)
        let json = try parseJSON(result.stdout)
        let mechanisms = try #require(json["mechanisms"] as? [[String: Any]])
        #expect(Set(mechanisms.compactMap { $0["name"] as? String }) == ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
        #expect((mechanisms.first?["flags"] as? [String])?.contains("plaintext") == true)
        #expect(json["version"] as? String == "1.2")
        let human = try mailsec("auth", "mechanisms", "--socket", dovecot.socket)
        #expect(human.stdout.contains("PLAIN") && human.stdout.contains("only after TLS"))
    }

    @Test func recognisesTheAuthMasterSocket() throws {
        let result = try mailsec("auth", "test", "--socket", dovecot.masterSocket, "alice", input: "x\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("auth-master socket") && result.stderr.contains("auth-client"))
    }

    @Test func explainsAMissingSocketWithTheListenerToAdd() throws {
        let result = try mailsec("auth", "test", "--socket", dovecot.directory + "/missing", "alice", input: "x\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("no socket at \(dovecot.directory)/missing"))
        #expect(result.stderr.contains("unix_listener \(dovecot.directory)/missing {") && result.stderr.contains("user = postfix"))
    }

    @Test func explainsAPathThatIsNotASocket() throws {
        let result = try mailsec("auth", "test", "--socket", dovecot.config, "alice", input: "x\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("is not a socket"))
    }

    @Test func explainsPermissionDenied() throws {
        try #require(runningAsRoot, "needs root to switch to an unprivileged user; CI runs as root")
        let temp = try TemporaryDirectory()
        chmod(temp.path, 0o755)
        // A private copy of the listener's situation: a root-only socket.
        let socket = temp.file("auth")
        let server = try run("/usr/bin/python3", ["-c", "import socket,os,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o600); print('ok')", socket])
        #expect(server.status == 0)
        let result = try shell("setpriv --reuid=65534 --regid=65534 --clear-groups '\(mailsecPath)' auth test --socket '\(socket)' alice", input: "x\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("permission denied") && result.stderr.contains("0600") && result.stderr.contains("mode = 0660"))
    }

    @Test func refusesAMechanismDovecotDoesNotOffer() throws {
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--mech", "NTLM", "alice", input: "x\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("does not offer NTLM") && result.stderr.contains("auth_mechanisms"))
    }

    @Test func inetSocketThatRefusesIsExplained() throws {
        let result = try mailsec("auth", "test", "--socket", "inet:127.0.0.1:1", "--timeout", "2", "alice", input: "x\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("127.0.0.1:1"))
    }
}

/// `mailsec auth test --batch` against the real Dovecot.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct AuthBatchTests {
    let dovecot: DovecotFixture

    init() throws {
        dovecot = try DovecotFixture.shared
    }

    /// Writes a batch file: every batch user, every `wrongEvery`-th with a wrong password.
    func writeBatch(_ path: String, count: Int, wrongEvery: Int) throws -> Set<String> {
        var wrong = Set<String>()
        var text = "# migrated accounts\n\n"
        for index in 0..<count {
            let user = "user\(DovecotFixture.number(index % DovecotFixture.batchUsers))"
            if wrongEvery > 0 && index % wrongEvery == 7 {
                wrong.insert(user)
                text += "\(user):not-pw-\(index)\n"
            } else {
                text += "\(user):pw-\(index % DovecotFixture.batchUsers)\n"
            }
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return wrong
    }

    @Test func tenThousandCredentialsGetTheRightVerdictsOnce() throws {
        let temp = try TemporaryDirectory()
        let wrong = try writeBatch(temp.file("batch"), count: 10_000, wrongEvery: 33)
        #expect(wrong.count > 250)
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--batch", temp.file("batch"), "--json")
        #expect(result.status == 1, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 10_000)
        var seen = Set<String>()
        for line in lines {
            let object = try parseJSON(String(line))
            let user = try #require(object["user"] as? String)
            #expect(seen.insert(user).inserted, "\(user) reported twice")
            #expect(object["ok"] as? Bool == !wrong.contains(user), "\(user)")
            #expect(object["ms"] is Double)
        }
        #expect(result.stderr.contains("10000 checked"))
        #expect(result.stderr.contains("\(10_000 - wrong.count) accepted, \(wrong.count) rejected, 0 undecided"))
        #expect(!result.stdout.contains("pw-"), "no password is ever printed")
    }

    @Test func humanOutputListsEachFailureAndASummary() throws {
        let temp = try TemporaryDirectory()
        let text = "alice:alice-pass\n# comment\n\nbob:wrong\nmalformed-line\ncolon:pa:ss:word\ncarol:carol-pass\n"
        try text.write(toFile: temp.file("batch"), atomically: true, encoding: .utf8)
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--batch", temp.file("batch"))
        #expect(result.status == 2, "a malformed line means the batch was not fully decided")
        #expect(result.stdout.contains("line 4: bob: wrong user name or password"))
        #expect(result.stdout.contains("line 7: carol: the password is right, but the account may not log in"))
        #expect(result.stdout.contains("4 checked") && result.stdout.contains("2 accepted, 2 rejected, 0 undecided, 1 malformed lines skipped"))
        #expect(result.stderr.contains("line 5: no ':'"))
        #expect(!result.stdout.contains("alice-pass") && !result.stderr.contains("malformed-line:"))
    }

    @Test func readsTheBatchFromStdin() throws {
        let result = try mailsec("auth", "test", "--socket", dovecot.socket, "--batch", "-", input: "alice:alice-pass\njürgen:grüße-pass\n")
        #expect(result.status == 0)
        #expect(result.stdout.contains("2 checked") && result.stdout.contains("2 accepted"))
    }

    @Test func memoryStaysFlatAsTheFileGrows() throws {
        let temp = try TemporaryDirectory()
        _ = try writeBatch(temp.file("small"), count: 2_000, wrongEvery: 0)
        _ = try writeBatch(temp.file("large"), count: 40_000, wrongEvery: 0)
        func peakKiB(_ file: String) throws -> Int {
            let result = try run("/usr/bin/time", ["-f", "%M", mailsecPath, "auth", "test", "--socket", dovecot.socket, "--batch", file])
            #expect(result.status == 0, "\(result.stderr)")
            return Int(result.stderr.split(separator: "\n").last ?? "") ?? 0
        }
        let small = try peakKiB(temp.file("small")), large = try peakKiB(temp.file("large"))
        #expect(small > 0 && large > 0)
        #expect(large < small + 4_096, "peak RSS grew from \(small) KiB to \(large) KiB for 20x the credentials")
    }
}
