import Foundation
import Testing

/// A Unix socket that listens but never accepts, its listen queue already
/// full: a hung or overloaded Dovecot or saslauthd. A blocking connect to it
/// waits forever.
final class FullBacklogSocket {
    let path: String
    private let directory: TemporaryDirectory
    private let listener: Int32
    private var fillers: [Int32] = []

    init() throws {
        directory = try TemporaryDirectory()
        path = directory.file("auth")
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 0) == 0 else { throw CocoaError(.fileWriteUnknown) }
        chmod(path, 0o666)
        // Fill the queue until a non-blocking connect says it is full.
        for _ in 0..<16 {
            let filler = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if result != 0 {
                close(filler)
                guard errno == EAGAIN else { throw CocoaError(.fileWriteUnknown) }
                return
            }
            fillers.append(filler)
        }
        throw CocoaError(.fileWriteUnknown)
    }

    deinit {
        fillers.forEach { close($0) }
        close(listener)
    }
}

/// The defects a hostile review found (issue 12), one test each; each failed before its fix.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct HardeningTests {
    // Defect 5: Unix-socket connects ignored --timeout.
    @Test func aUnixSocketThatNeverAcceptsTimesOutEverywhere() throws {
        let hung = try FullBacklogSocket()
        let commands: [[String]] = [
            ["auth", "test", "--socket", hung.path, "--timeout", "1", "alice"],
            ["auth", "mechanisms", "--socket", hung.path, "--timeout", "1"],
            ["auth", "test", "--saslauthd", "--socket", hung.path, "--timeout", "1", "alice"],
        ]
        for command in commands {
            let result = try mailsec(arguments: command, input: "alice-pass\n", timeout: 30)
            #expect(result.status == 2, "\(command.joined(separator: " ")): exit \(result.status)")
            #expect(result.stderr.contains("accepts no connections"), "\(command): \(result.stderr)")
        }
        var tree = PreflightTree()
        tree.socket = .link(hung.path)
        let directory = try TemporaryDirectory()
        let (status, worst, json, _) = try preflight(["--root", try tree.build(in: directory), "--timeout", "1"])
        #expect(status == 1)
        #expect(worst["sasl-socket"] == "fail")
        #expect(messages(json, id: "sasl-socket").contains("accepts no connections"))
    }
}

/// A Dovecot auth socket or a saslauthd socket, in a few lines of Python,
/// that answers the first `answers` requests and then goes away for good
/// (the connection closed, the socket removed): a crash mid-batch.
final class VanishingAuthServer {
    enum Kind: String { case dovecot, saslauthd }
    let path: String
    private let directory: TemporaryDirectory
    private let process: SpawnedProcess

    private static let script = #"""
    import os, socket, sys
    kind, path, answers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    os.chmod(path, 0o666)
    listener.listen(64)
    if kind == "dovecot":
        conn, _ = listener.accept()
        conn.sendall(b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\nCUID\t1\nDONE\n")
        data, done = b"", 0
        while done < answers:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
            while b"\n" in data and done < answers:
                line, data = data.split(b"\n", 1)
                fields = line.split(b"\t")
                if fields[0] == b"AUTH":
                    conn.sendall(b"OK\t" + fields[1] + b"\tuser=x\n")
                    done += 1
    else:
        done = 0
        while done < answers:
            conn, _ = listener.accept()
            if conn.recv(65536):   # the client's reachability check sends nothing
                conn.sendall(b"\x00\x02OK")
                done += 1
            conn.close()
    os.unlink(path)
    os._exit(0)
    """#

    init(_ kind: Kind, answers: Int) throws {
        directory = try TemporaryDirectory()
        path = directory.file("socket")
        process = try SpawnedProcess("/usr/bin/python3", ["-c", Self.script, kind.rawValue, path, String(answers)], capture: false)
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: path) { usleep(10_000) }
    }

    deinit {
        kill(process.pid, SIGKILL)
        process.wait()
    }
}

extension HardeningTests {
    // Defect 6: a batch whose backend goes away mid-way gave no verdict for most lines and no summary.
    @Test(arguments: [VanishingAuthServer.Kind.dovecot, .saslauthd])
    func everyBatchLineGetsAVerdictOrIsCountedUnchecked(_ kind: VanishingAuthServer.Kind) throws {
        let server = try VanishingAuthServer(kind, answers: 276)
        let directory = try TemporaryDirectory()
        let batch = directory.file("users.txt")
        try (1...1000).map { "user\($0):password\($0)\n" }.joined().write(toFile: batch, atomically: true, encoding: .utf8)
        var arguments = ["auth", "test", "--json", "--timeout", "2", "--socket", server.path, "--batch", batch]
        if kind == .saslauthd { arguments.append("--saslauthd") }
        let result = try mailsec(arguments: arguments, timeout: 60)
        #expect(result.status == 2, "exit \(result.status): \(result.stderr)")
        let verdicts = result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let accepted = verdicts.filter { $0["ok"] as? Bool == true }.count
        #expect(accepted == 276, "\(kind): \(accepted) accepted")
        let lines = Set(verdicts.compactMap { $0["line"] as? Int })
        #expect(lines.count == verdicts.count, "one verdict per line")
        // The summary accounts for every line: the verdicts plus those not checked.
        let summary = try #require(result.stderr.split(separator: "\n").last { $0.contains("checked in") })
        let unchecked = try #require(summary.firstMatch(of: /; (\d+) not checked/).flatMap { Int($0.1) }, "\(summary)")
        #expect(verdicts.count + unchecked == 1000, "\(verdicts.count) verdicts + \(unchecked) unchecked: \(summary)")
    }
}

extension HardeningTests {
    // Defect 3: the password went to a server whose certificate failed the hostname or chain check.
    @Test func noPasswordIsSentOverASessionThatDidNotVerify() throws {
        let postfix = try PostfixFixture.shared
        let target = "smtps://127.0.0.1:\(postfix.smtps)"
        let cases: [(String, [String])] = [
            ("certificate-hostname", ["--ca-file", postfix.certificate, "--verify-host", "smtp.other.example"]),
            ("certificate-chain", ["--ca-file", try VerifyFixtures.shared.path("root.crt"), "--verify-host", "mail.example.com"]),
        ]
        for (failing, trust) in cases {
            let result = try mailsec(arguments: ["probe", "--json", "--transcript", "--timeout", "20", "--auth-user", "alice", "--mech", "PLAIN"] + trust + [target],
                                     input: "alice-pass\n")
            #expect(result.status == 1)
            let json = try #require((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]])
            let checks = (json.first?["checks"] as? [[String: Any]]) ?? []
            let status = Dictionary(checks.map { ($0["id"] as! String, $0["status"] as! String) }, uniquingKeysWith: { $1 })
            #expect(status[failing] != "pass", "\(failing): \(status)")
            #expect(status["auth"] == "fail")
            let auth = checks.first { $0["id"] as? String == "auth" }
            #expect((auth?["message"] as? String)?.contains("not attempted") == true, "\(auth ?? [:])")
            let transcript = (json.first?["transcript"] as? [String]) ?? []
            #expect(!transcript.contains { $0.hasPrefix("C: AUTH") }, "no AUTH command was sent: \(transcript)")
        }
        // Explicitly asked for: it logs in, and says it was unsafe.
        let insecure = try mailsec(arguments: ["probe", "--json", "--timeout", "20", "--auth-user", "alice", "--insecure-auth"] + cases[0].1 + [target],
                                   input: "alice-pass\n")
        let json = try #require((try? JSONSerialization.jsonObject(with: Data(insecure.stdout.utf8))) as? [[String: Any]])
        let auth = ((json.first?["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "auth" }
        #expect(auth?["status"] as? String == "warn")
        #expect((auth?["message"] as? String)?.contains("alice logged in") == true)
    }

    // Defect 19: --ehlo with CR/LF injected SMTP commands.
    @Test func anEHLONameThatIsNotADomainIsRefused() throws {
        let postfix = try PostfixFixture.shared
        for bad in ["x.example\r\nMAIL FROM:<a@example.net>", "two words", "[300.1.1.1]", ""] {
            let result = try mailsec("probe", "--ehlo", bad, "smtps://127.0.0.1:\(postfix.smtps)")
            #expect(result.status == 64, "\(bad.debugDescription): exit \(result.status)")
            #expect(result.stderr.contains("EHLO") || result.stderr.contains("--ehlo"), "\(result.stderr)")
        }
        for good in ["client.example.com", "[192.0.2.1]", "[IPv6:2001:db8::1]"] {
            let result = try mailsec("probe", "--json", "--timeout", "20", "--ca-file", postfix.certificate, "--verify-host", "mail.example.com",
                                     "--ehlo", good, "smtps://127.0.0.1:\(postfix.smtps)")
            #expect(result.status == 0, "\(good): \(result.stdout)")
        }
    }
}

/// DER certificates and CSRs whose public key OpenSSL cannot decode, made by
/// patching a fresh EC P-256 one: what a hostile server or a broken CA sends.
struct UndecodableKeys {
    static let ecPublicKey: [UInt8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]   // 1.2.840.10045.2.1
    static let prime256v1: [UInt8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]   // 1.2.840.10045.3.1.7

    enum Damage: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case unknownAlgorithm = "unknown algorithm OID"
        case unknownCurve = "unknown curve"
        case pointOffCurve = "EC point off the curve"
        var testDescription: String { rawValue }
    }

    static func replace(_ needle: [UInt8], in bytes: inout [UInt8], with replacement: [UInt8]) {
        guard let start = (0...(bytes.count - needle.count)).first(where: { Array(bytes[$0..<($0 + needle.count)]) == needle }) else {
            Issue.record("pattern not found")
            return
        }
        bytes.replaceSubrange(start..<(start + needle.count), with: replacement)
    }

    /// `der` with its SubjectPublicKeyInfo damaged.
    static func damage(_ der: [UInt8], _ damage: Damage) -> [UInt8] {
        var bytes = der
        switch damage {
        case .unknownAlgorithm:
            replace(ecPublicKey, in: &bytes, with: [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x09])
        case .unknownCurve:
            replace(prime256v1, in: &bytes, with: [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x63])
        case .pointOffCurve:
            // BIT STRING of 66 bytes: 0 unused bits, 0x04 (uncompressed), X, Y. Change Y's last byte.
            let marker: [UInt8] = [0x03, 0x42, 0x00, 0x04]
            if let start = (0...(bytes.count - marker.count)).first(where: { Array(bytes[$0..<($0 + 4)]) == marker }) {
                bytes[start + 4 + 63] ^= 0x01
            } else {
                Issue.record("no EC point found")
            }
        }
        return bytes
    }

    /// A fresh key, certificate and CSR in `directory`; returns the paths of the damaged DER certificate and CSR.
    static func make(_ damage: Damage, in directory: TemporaryDirectory) throws -> (certificate: String, request: String, key: String) {
        let key = directory.file("ec.key"), certificate = directory.file("good.der"), request = directory.file("good.csr.der")
        try openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-subj", "/CN=mail.example.com", "-addext", "subjectAltName=DNS:mail.example.com", "-days", "30", "-outform", "DER", "-out", certificate)
        try openssl("req", "-new", "-key", key, "-subj", "/CN=mail.example.com", "-outform", "DER", "-out", request)
        let badCertificate = directory.file("bad.der"), badRequest = directory.file("bad.csr.der")
        try Data(Self.damage(Array(try readFile(certificate)), damage)).write(to: URL(fileURLWithPath: badCertificate))
        try Data(Self.damage(Array(try readFile(request)), damage)).write(to: URL(fileURLWithPath: badRequest))
        return (badCertificate, badRequest, key)
    }
}

extension HardeningTests {
    // Defect 2: a public key OpenSSL cannot decode crashed inspect, verify and preflight with SIGILL.
    @Test(arguments: UndecodableKeys.Damage.allCases)
    func anUndecodablePublicKeyIsReportedNotACrash(_ damage: UndecodableKeys.Damage) throws {
        let directory = try TemporaryDirectory()
        let (certificate, request, key) = try UndecodableKeys.make(damage, in: directory)
        for file in [certificate, request] {
            let inspect = try mailsec("inspect", file)
            #expect(inspect.status == 0 || inspect.status == 2, "inspect \(damage): exit \(inspect.status)")
            #expect(inspect.stdout.contains("undecodable") || inspect.stderr.contains(file), "\(inspect.stdout)\(inspect.stderr)")
            let json = try mailsec("inspect", "--json", file)
            #expect(json.status == 0 || json.status == 2, "inspect --json \(damage): exit \(json.status)")
        }
        let verify = try mailsec("verify", "--json", "--cert", certificate, "--key", key, "--host", "mail.example.com")
        #expect(verify.status == 1, "verify \(damage): exit \(verify.status) \(verify.stderr)")
        let checks = ((try? parseJSON(verify.stdout))?["checks"] as? [[String: Any]]) ?? []
        let strength = checks.first { $0["id"] as? String == "key-strength" }
        #expect(strength?["status"] as? String == "fail", "\(checks)")
        #expect(checks.first { $0["id"] as? String == "key-matches-cert" }?["status"] as? String == "fail")
        let nagios = try mailsec("verify", "--nagios", "--cert", certificate, "--key", key, "--host", "mail.example.com")
        #expect(nagios.status == 2 && nagios.stdout.hasPrefix("MAILSEC CRITICAL"), "exit \(nagios.status)")

        // preflight reads the same certificate as smtpd_tls_cert_file.
        let built = try PreflightTree().build(in: directory)
        try FileManager.default.removeItem(atPath: built + "/etc/pki/tls/certs/mail.example.com.crt")
        try FileManager.default.copyItem(atPath: certificate, toPath: built + "/etc/pki/tls/certs/mail.example.com.crt")
        let (status, worst, _, result) = try preflight(["--root", built])
        #expect(status == 1, "preflight \(damage): exit \(status) \(result.stderr)")
        #expect(worst["tls-files"] == "fail")
    }
}

extension HardeningTests {
    // Defect 11: auth decode showed secrets of malformed PLAIN strings, OAUTHBEARER tokens and bad base64.
    @Test func authDecodeNeverShowsASecretItWasNotAskedFor() throws {
        let secret = "hunter2-secret"
        let token = "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
        let strings = [
            Data("alice\u{0}\(secret)".utf8).base64EncodedString(),                 // a NUL missing
            Data("\u{0}alice\u{0}\(secret)\u{0}extra".utf8).base64EncodedString(),  // one too many
            Data("n,a=alice@example.com,\u{1}host=mail.example.com\u{1}port=587\u{1}auth=Bearer \(token)\u{1}\u{1}".utf8).base64EncodedString(),
        ]
        for string in strings {
            for json in [false, true] {
                let result = try mailsec(arguments: ["auth", "decode"] + (json ? ["--json"] : []) + [string])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(!result.stdout.contains(secret) && !result.stdout.contains(token), "\(result.stdout)")
                #expect(result.stdout.contains("bytes>"), "the secret's length is shown instead: \(result.stdout)")
            }
        }
        let bearer = try parseJSON(try mailsec("auth", "decode", "--json", strings[2]).stdout)
        #expect(bearer["kind"] as? String == "OAUTHBEARER" && bearer["user"] as? String == "alice@example.com")
        // Not base64: the error names where, never the string itself.
        let credential = Data("\u{0}alice\u{0}\(secret)".utf8).base64EncodedString()
        let broken = String(credential.dropLast(2)) + "*="
        let result = try mailsec("auth", "decode", broken)
        #expect(result.status == 2)
        #expect(!result.stderr.contains(String(credential.prefix(12))), "\(result.stderr)")
        #expect(result.stderr.contains("not base64") && result.stderr.contains("'*'"))
    }

    // Defect 22: Dovecot debug logs without resp= were misread, and the CONT exchange missed.
    @Test func dovecotLogsWithoutAnInitialResponseAreFollowed() throws {
        let temp = try TemporaryDirectory()
        let plain = Data("\u{0}dave\u{0}dave-pass".utf8).base64EncodedString()
        let log = """
        Dec 01 10:00:00 mx dovecot: auth: Debug: client in: AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1
        Dec 01 10:00:00 mx dovecot: auth: Debug: client out: CONT\t1\t
        Dec 01 10:00:00 mx dovecot: auth: Debug: client in: CONT\t1\t\(plain)
        Dec 01 10:00:01 mx dovecot: auth: Debug: client in: AUTH\t2\tLOGIN\tservice=smtp
        Dec 01 10:00:01 mx dovecot: auth: Debug: client out: CONT\t2\tVXNlcm5hbWU6
        Dec 01 10:00:01 mx dovecot: auth: Debug: client in: CONT\t2\tZXZl
        Dec 01 10:00:01 mx dovecot: auth: Debug: client out: CONT\t2\tUGFzc3dvcmQ6
        Dec 01 10:00:01 mx dovecot: auth: Debug: client in: CONT\t2\tZXZlLXBhc3M=

        """
        // CRLF as well as LF (a log copied from Windows).
        for text in [log, log.replacingOccurrences(of: "\n", with: "\r\n")] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temp.file("log")))
            let result = try mailsec("auth", "decode", "--json", "--log", temp.file("log"))
            #expect(result.status == 0, "\(result.stderr)")
            let objects = try result.stdout.split(separator: "\n").map { try parseJSON(String($0)) }
            #expect(objects.map { $0["kind"] as? String } == ["PLAIN", "LOGIN user name", "LOGIN password"], "\(result.stdout)")
            #expect(objects.first?["user"] as? String == "dave")
            #expect(objects.dropFirst().first?["user"] as? String == "eve")
            #expect(!result.stdout.contains("dave-pass") && !result.stdout.contains("eve-pass"))
        }
    }

    // Defect 13: preflight --root sent the password to whatever inet:HOST:PORT a copied main.cf named.
    @Test func aCopiedTreeCannotDirectWhereAPasswordGoes() throws {
        let listener = try Listener()
        var tree = PreflightTree()
        tree.mainExtra = ["smtpd_sasl_path = inet:127.0.0.1:\(listener.port)"]
        let directory = try TemporaryDirectory()
        let (_, worst, json, result) = try preflight(["--root", try tree.build(in: directory), "--auth-user", "alice"], input: "alice-pass\n")
        #expect(worst["sasl-socket"] == "skip", "\(result.stdout)")
        #expect(messages(json, id: "sasl-socket").contains("under --root"))
        #expect(!listener.hasPendingConnection, "nothing connected to the address the copied main.cf named")
    }
}

/// A self-signed EC certificate with any names, even ones openssl's tools will not
/// write (control characters, `$(...)`), made with Python's cryptography package.
func makeHostileCertificate(commonName: String, dnsNames: [String], key: String, certificate: String) throws {
    let script = """
    import datetime, json, sys
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    common_name, names, key_path, cert_path = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .sign(key, hashes.SHA256()))
    open(cert_path, "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(key_path, "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    """
    let encode = { (value: Any) in String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]), as: UTF8.self) }
    let made = try run("/usr/bin/env", ["python3", "-c", script, try encode(commonName), try encode(dnsNames), key, certificate])
    #expect(made.status == 0, "\(made.stderr)")
}

/// Whether the key file and the certificate file belong together, as openssl sees them.
func keyMatchesCertificate(key: String, certificate: String) throws -> Bool {
    let fromKey = try run("/usr/bin/openssl", ["pkey", "-in", key, "-pubout"])
    let fromCertificate = try run("/usr/bin/openssl", ["x509", "-in", certificate, "-noout", "-pubkey"])
    return fromKey.status == 0 && fromCertificate.status == 0 && fromKey.stdout == fromCertificate.stdout
}

extension HardeningTests {
    // Defect 7: --force replaced the key even when the certificate could not be replaced,
    // and concurrent runs mixed their files.
    @Test func aFailedCertificateLeavesTheOldKeyInPlace() throws {
        let directory = try TemporaryDirectory()
        let key = directory.file("root/etc/pki/tls/private/mail.example.com.key")
        let certificate = directory.file("root/etc/pki/tls/certs/mail.example.com.crt")
        #expect(try mailsec("genkey", "--root", directory.file("root"), "--batch", "--key-type", "ec", "mail.example.com").status == 0)
        let oldKey = try readFile(key)
        // The certificate's path is now a directory with something in it: rename cannot replace it.
        try FileManager.default.removeItem(atPath: certificate)
        try FileManager.default.createDirectory(atPath: certificate + "/inside", withIntermediateDirectories: true)
        let result = try mailsec("genkey", "--root", directory.file("root"), "--batch", "--force", "--key-type", "ec", "mail.example.com")
        #expect(result.status == 2, "\(result.stdout)")
        #expect(try readFile(key) == oldKey, "the key is the old one")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.file("root/etc/pki/tls/private"))
        #expect(left == ["mail.example.com.key"], "no temporary file, journal or stray backup: \(left)")
    }

    @Test func concurrentForcedRunsLeaveAMatchingPair() throws {
        let directory = try TemporaryDirectory()
        let root = directory.file("root")
        let key = root + "/etc/pki/tls/private/mail.example.com.key"
        let certificate = root + "/etc/pki/tls/certs/mail.example.com.crt"
        #expect(try mailsec("genkey", "--root", root, "--batch", "--key-type", "ec", "mail.example.com").status == 0)
        for trial in 0..<15 {
            let runs = try (0..<2).map { _ in
                try SpawnedProcess(mailsecPath, ["genkey", "--root", root, "--batch", "--force", "--key-type", "ec", "mail.example.com"], capture: false)
            }
            let statuses = runs.map { $0.wait() }
            #expect(statuses == [0, 0], "trial \(trial): \(statuses)")
            #expect(try keyMatchesCertificate(key: key, certificate: certificate), "trial \(trial): key and certificate belong together")
        }
    }

    @Test func aPairReplacementInterruptedBetweenItsRenamesIsFinishedByTheNextRun() throws {
        let directory = try TemporaryDirectory()
        let root = directory.file("root")
        let keys = root + "/etc/pki/tls/private", certificates = root + "/etc/pki/tls/certs"
        #expect(try mailsec("genkey", "--root", root, "--batch", "--key-type", "ec", "mail.example.com").status == 0)
        // A second pair, staged as a run would stage it; then the run "dies" after renaming the key only.
        let other = directory.file("other")
        #expect(try mailsec("genkey", "--root", other, "--batch", "--key-type", "ec", "mail.example.com").status == 0)
        let stagedKey = keys + "/.mail.example.com.key.tmp-1-test", stagedCertificate = certificates + "/.mail.example.com.crt.tmp-1-test"
        try FileManager.default.copyItem(atPath: other + "/etc/pki/tls/private/mail.example.com.key", toPath: stagedKey)
        try FileManager.default.copyItem(atPath: other + "/etc/pki/tls/certs/mail.example.com.crt", toPath: stagedCertificate)
        try "\(stagedKey)\t\(keys)/mail.example.com.key\n\(stagedCertificate)\t\(certificates)/mail.example.com.crt\n"
            .write(toFile: keys + "/.mail.example.com.key.commit", atomically: true, encoding: .utf8)
        #expect(rename(stagedKey, keys + "/mail.example.com.key") == 0)
        #expect(try !keyMatchesCertificate(key: keys + "/mail.example.com.key", certificate: certificates + "/mail.example.com.crt"))
        // Any later run for this key finishes the job first (this one then refuses to overwrite).
        let next = try mailsec("genkey", "--root", root, "--batch", "--key-type", "ec", "mail.example.com")
        #expect(next.status == 2)
        #expect(try keyMatchesCertificate(key: keys + "/mail.example.com.key", certificate: certificates + "/mail.example.com.crt"))
        #expect(!FileManager.default.fileExists(atPath: keys + "/.mail.example.com.key.commit"))
    }

    // Defect 10: a writable directory above the key directory let another user swap it.
    @Test func everyDirectoryAboveTheKeyMustBeSafe() throws {
        let directory = try TemporaryDirectory()
        let root = directory.file("root")
        try FileManager.default.createDirectory(atPath: root + "/etc/pki/tls/private", withIntermediateDirectories: true)
        chmod(root + "/etc/pki/tls/private", 0o700)
        chmod(root + "/etc/pki/tls", 0o777)
        let result = try mailsec("genkey", "--root", root, "--batch", "--key-type", "ec", "mail.example.com")
        #expect(result.status == 2)
        #expect(result.stderr.contains(root + "/etc/pki/tls ") && result.stderr.contains("writable by others"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/pki/tls/private/mail.example.com.key"))
        // Owned by another user: just as unsafe.
        chmod(root + "/etc/pki/tls", 0o755)
        chown(root + "/etc/pki", 65_534, 65_534)
        let owned = try mailsec("genkey", "--root", root, "--batch", "--key-type", "ec", "mail.example.com")
        #expect(owned.status == 2 && owned.stderr.contains("owned by nobody"), "\(owned.stderr)")
        // A shared directory (sticky, like /tmp) as the key directory: refused, and no chmod of it is suggested.
        let shared = directory.file("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        chmod(shared, 0o1777)
        let sticky = try mailsec("genkey", "--batch", "--key-type", "ec", "--key-out", shared + "/k.key", "--cert-out", directory.file("k.crt"), "mail.example.com")
        #expect(sticky.status == 2 && sticky.stderr.contains("shared directory"), "\(sticky.stderr)")
        #expect(!sticky.stderr.contains("chmod"))
    }

    // Defects 16, 21, 23: paths and names genkey must refuse before doing anything.
    @Test func genkeyRefusesPathsAndNamesItCannotHonour() throws {
        let directory = try TemporaryDirectory()
        let cases: [[String]] = [
            ["--key-out", directory.file("x.pem"), "--cert-out", directory.file("x.pem")],
            ["--key-out", directory.file("x.pem"), "--cert-out", directory.file("./x.pem")],
            ["--key-out", directory.file("a\nsmtpd_tls_key_file = /tmp/evil.key"), "--cert-out", directory.file("b.crt")],
            ["--root", directory.file("root"), "--ca", "../../../tmp/evil"],
        ]
        for arguments in cases {
            let result = try mailsec(arguments: ["genkey", "--batch", "--key-type", "ec"] + arguments + ["mail.example.com"])
            #expect(result.status == 64, "\(arguments): exit \(result.status) \(result.stdout)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty, "nothing written for \(arguments)")
        }
    }
}

extension HardeningTests {
    /// No byte below 0x20 other than LF, and no DEL, reaches the terminal.
    static func hasRawControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || $0.value == 0x7f }
    }

    // Defect 17: untrusted text reached the terminal raw.
    @Test func untrustedTextIsEscapedInEveryHumanRendering() throws {
        let server = try FakeSMTPServer(.hostileBanner)
        for extra in [[], ["--transcript"]] {
            let result = try mailsec(arguments: ["probe", "--timeout", "2"] + extra + ["smtp://127.0.0.1:\(server.port)"])
            #expect(!Self.hasRawControlCharacters(result.stdout + result.stderr), "\(result.stdout.debugDescription)")
            #expect(result.stdout.contains("\\x1b[2J"), "the escape is shown, visibly")
        }
        let nagios = try mailsec("probe", "--nagios", "--timeout", "2", "smtp://127.0.0.1:\(server.port)")
        #expect(!Self.hasRawControlCharacters(nagios.stdout) && nagios.stdout.split(separator: "\n").count == 1)

        // A certificate whose names carry escape sequences and a line break.
        let directory = try TemporaryDirectory()
        let certificate = directory.file("hostile.pem")
        try makeHostileCertificate(commonName: "\u{1B}[2J\u{1B}[Hmail.example.com\nALL OK", dnsNames: ["evil\u{1B}[31m.example.com"],
                                   key: directory.file("hostile.key"), certificate: certificate)
        let inspect = try mailsec("inspect", certificate)
        #expect(inspect.status == 0)
        #expect(!Self.hasRawControlCharacters(inspect.stdout), "\(inspect.stdout.debugDescription)")
        let json = try mailsec("inspect", "--json", certificate)
        #expect(json.stdout.contains("\\u001b"), "JSON keeps the text, escaped by the encoder")

        // Dovecot's reason= and user=, from a fake auth server.
        let reason = """
        import os, socket, sys
        l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); l.listen(4)
        c, _ = l.accept()
        c.sendall(b"VERSION\\t1\\t2\\nMECH\\tPLAIN\\tplaintext\\nSPID\\t1\\nCUID\\t1\\nDONE\\n")
        data = b""
        while b"AUTH" not in data: data += c.recv(4096)
        c.sendall(b"FAIL\\t1\\tuser=al\\x1b[2Jice\\treason=\\x1b[2J\\x1b[H\\xe2\\x9c\\x93 accepted\\x07\\n")
        c.recv(4096)
        """
        let socketPath = directory.file("auth")
        let fake = try SpawnedProcess("/usr/bin/python3", ["-c", reason, socketPath], capture: false)
        defer { kill(fake.pid, SIGKILL); fake.wait() }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socketPath) { usleep(10_000) }
        let auth = try mailsec("auth", "test", "--socket", socketPath, "--timeout", "3", "alice", input: "pw\n")
        #expect(auth.status == 1)
        #expect(!Self.hasRawControlCharacters(auth.stdout + auth.stderr), "\(auth.stdout.debugDescription)")
        #expect(auth.stdout.contains("\\x1b"))
    }
}

extension HardeningTests {
    // Defect 18: suggested fixes pasted untrusted text into shell commands.
    @Test func suggestedCommandsQuoteWhatTheyDidNotWrite() throws {
        let directory = try TemporaryDirectory()
        let marker = directory.file("pwned")
        let hostileKey = directory.file("k;touch pwned;.key")
        let certificate = directory.file("c.pem")
        // A certificate whose only name is a command substitution, its key world-readable at a hostile path.
        try makeHostileCertificate(commonName: "$(touch pwned)", dnsNames: ["$(touch pwned)"], key: hostileKey, certificate: certificate)
        chmod(hostileKey, 0o644)
        let other = directory.file("other.key")
        try openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", other)
        chmod(other, 0o644)
        var remedies: [String] = []
        for key in [hostileKey, other] {
            let result = try mailsec("verify", "--json", "--cert", certificate, "--key", key, "--host", "mail.example.com")
            let checks = ((try? parseJSON(result.stdout))?["checks"] as? [[String: Any]]) ?? []
            remedies += checks.compactMap { $0["remedy"] as? String }
        }
        #expect(remedies.contains { $0.contains("chmod 600 '") }, "the hostile key path is quoted: \(remedies)")
        #expect(remedies.contains { $0.contains("mailsec genkey") && $0.contains("HOSTNAME") }, "an invalid name becomes a placeholder")
        // Run every line that looks like a command, as an admin pasting it would (with chmod and genkey made harmless).
        let stubs = directory.file("bin")
        try FileManager.default.createDirectory(atPath: stubs, withIntermediateDirectories: true)
        for tool in ["chmod", "chgrp", "mailsec", "openssl", "mv", "cat"] {
            try "#!/bin/sh\nexit 0\n".write(toFile: stubs + "/" + tool, atomically: true, encoding: .utf8)
            chmod(stubs + "/" + tool, 0o755)
        }
        for remedy in remedies {
            for line in remedy.split(separator: "\n") where ["chmod", "mailsec", "(umask", "e.g. cat"].contains(where: { line.contains($0) }) {
                let command = line.hasPrefix("e.g. ") ? String(line.dropFirst(5)) : line.replacingOccurrences(of: "  (then", with: " #")
                _ = try run("/bin/sh", ["-c", "cd \(directory.path) && PATH=\(stubs):/usr/bin:/bin; " + String(command)])
            }
        }
        #expect(!FileManager.default.fileExists(atPath: marker), "no suggested command ran the text it quoted")
    }
}

extension HardeningTests {
    // Defect 20: unbounded memory from a password read from an endless stdin.
    @Test func anEndlessPasswordIsRefusedNotBuffered() throws {
        for command in ["auth plain alice", "auth test --socket /nonexistent alice"] {
            let result = try run("/bin/sh", ["-c", "exec \(mailsecPath) \(command) < /dev/zero"], timeout: 60)
            #expect(result.status == 2, "\(command): exit \(result.status)")
            #expect(result.stderr.contains("longer than 16384 bytes"), "\(result.stderr)")
        }
    }

    // Defect 24: misleading messages.
    @Test func messagesSayWhatActuallyHappened() throws {
        // Half a greeting is not "an implicit-TLS port".
        let partial = try FakeSMTPServer(.partialGreeting)
        let result = try mailsec("probe", "--json", "--timeout", "1", "submission://127.0.0.1:\(partial.port)")
        let checks = (((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]])?.first?["checks"] as? [[String: Any]]) ?? []
        let banner = (checks.first { $0["id"] as? String == "banner" }?["message"] as? String) ?? ""
        #expect(banner.contains("sent part of it"), "\(banner)")
        #expect(!banner.contains("implicit"))

        // An unanswered request is a timeout, not Dovecot's failure delay.
        let directory = try TemporaryDirectory()
        let socketPath = directory.file("auth")
        let silent = """
        import os, socket, sys, time
        l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); l.listen(4)
        c, _ = l.accept()
        c.sendall(b"VERSION\\t1\\t2\\nMECH\\tPLAIN\\tplaintext\\nSPID\\t1\\nCUID\\t1\\nDONE\\n")
        time.sleep(30)
        """
        let fake = try SpawnedProcess("/usr/bin/python3", ["-c", silent, socketPath], capture: false)
        defer { kill(fake.pid, SIGKILL); fake.wait() }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socketPath) { usleep(10_000) }
        let auth = try mailsec("auth", "test", "--socket", socketPath, "--timeout", "3", "alice", input: "pw\n")
        #expect(auth.status == 2)
        #expect(auth.stdout.contains("no answer within 3 s"), "\(auth.stdout)")
        #expect(!auth.stdout.contains("auth_failure_delay"), "\(auth.stdout)")

        // Oversized files are named for what they are.
        let big = directory.file("big")
        try Data(repeating: 0x61, count: 17 << 20).write(to: URL(fileURLWithPath: big))
        let password = try mailsec("auth", "plain", "--password-file", big, "alice")
        #expect(password.status == 2 && password.stderr.contains("password or passphrase file"), "\(password.stderr)")
        #expect(!password.stderr.contains("key or certificate"))
        let tree = directory.file("tree")
        try FileManager.default.createDirectory(atPath: tree + "/etc/postfix", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: big, toPath: tree + "/etc/postfix/main.cf")
        let (_, _, json, _) = try preflight(["--root", tree])
        #expect(messages(json, id: "postfix-config").contains("too large for a configuration file"), "\(messages(json, id: "postfix-config"))")

        // Root refused by a directory in the way is not told to run as root.
        let keys = directory.file("keys")
        #expect(try mailsec("genkey", "--batch", "--key-type", "ec", "--key-out", keys + "/k.key", "--cert-out", keys + "/k.crt", "mail.example.com").status == 0)
        try FileManager.default.removeItem(atPath: keys + "/k.key")
        try FileManager.default.createDirectory(atPath: keys + "/k.key/inside", withIntermediateDirectories: true)
        let blocked = try mailsec("genkey", "--batch", "--force", "--key-type", "ec", "--key-out", keys + "/k.key", "--cert-out", keys + "/k.crt", "mail.example.com")
        #expect(blocked.status == 2)
        #expect(!blocked.stderr.contains("run as root"), "\(blocked.stderr)")
    }

    // Defect 25: a DER certificate with trailing garbage was accepted silently.
    @Test func bytesAfterADERCertificateAreReported() throws {
        let directory = try TemporaryDirectory()
        let der = directory.file("c.der")
        try openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory.file("k"),
                    "-subj", "/CN=mail.example.com", "-days", "3", "-outform", "DER", "-out", der)
        var bytes = try readFile(der)
        bytes.append(contentsOf: Array("garbage".utf8))
        try bytes.write(to: URL(fileURLWithPath: der))
        let inspect = try mailsec("inspect", der)
        #expect(inspect.status == 2)
        #expect(inspect.stderr.contains("7 bytes follow the DER certificate"), "\(inspect.stderr)")
        let verify = try mailsec("verify", "--cert", der, "--host", "mail.example.com")
        #expect(verify.status != 0)
    }
}

extension HardeningTests {
    // Issue 12: a server that answers each step just inside --timeout kept a probe busy without end.
    @Test func aProbeHasAnOverallDeadline() throws {
        let server = try FakeSMTPServer(.slowReplies)
        // Each reply takes 1.2 s (within --timeout 2); the dialogue needs more than the 3 s allowed in all.
        let result = try mailsec("probe", "--json", "--timeout", "2", "--overall-timeout", "3", "--check-relay", "smtp://127.0.0.1:\(server.port)")
        #expect(result.status == 1)
        let checks = (((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]])?.first?["checks"] as? [[String: Any]]) ?? []
        let failed = checks.filter { $0["status"] as? String == "fail" }
        #expect(failed.count == 1, "\(checks)")
        #expect((failed.first?["message"] as? String)?.contains("overall time (3 s)") == true, "\(failed)")
        // The default is three steps' worth of --timeout.
        let defaulted = try mailsec("probe", "--json", "--timeout", "1.5", "--check-relay", "smtp://127.0.0.1:\(server.port)")
        #expect(defaulted.stdout.contains("overall time (4.5 s)"), "\(defaulted.stdout)")
    }
}
