import Foundation
import Testing

/// `mailsec inspect` on good and bad files.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct InspectTests {
    /// A CA, a leaf it signed, and a CSR, made with the openssl CLI so inspect reads files it did not write.
    final class Fixture {
        let temp: TemporaryDirectory
        var leaf: String { temp.file("leaf.crt") }
        var leafKey: String { temp.file("leaf.key") }
        var ca: String { temp.file("ca.crt") }
        var chain: String { temp.file("chain.pem") }
        var csr: String { temp.file("req.csr") }

        init() throws {
            temp = try TemporaryDirectory()
            let dir = temp.path
            let script = """
            set -e
            cd '\(dir)'
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 30 -subj '/O=Test CA/CN=Test Root' \
                -addext basicConstraints=critical,CA:TRUE 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.req -subj '/CN=mail.example.com' 2>/dev/null
            printf 'subjectAltName=DNS:mail.example.com,IP:192.0.2.7\\nextendedKeyUsage=serverAuth\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
            openssl x509 -req -in leaf.req -CA ca.crt -CAkey ca.key -CAcreateserial -days 10 -extfile ext.cnf -out leaf.crt 2>/dev/null
            cat leaf.crt ca.crt > chain.pem
            openssl req -new -key leaf.key -subj '/C=DE/CN=req.example.com' -addext subjectAltName=DNS:req.example.com -out req.csr
            """
            let result = try shell(script)
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: result.stderr]) }
        }
    }

    @Test func showsAWholeChainAsJSON() throws {
        let fixture = try Fixture()
        let result = try mailsec("inspect", "--json", fixture.chain)
        try #require(result.status == 0, "\(result.stderr)")
        let files = try #require(try parseJSON(result.stdout)["files"] as? [[String: Any]])
        let objects = try #require(files.first?["objects"] as? [[String: Any]])
        #expect(objects.count == 2)
        let leaf = objects[0], ca = objects[1]
        #expect(leaf["kind"] as? String == "certificate")
        #expect(leaf["line"] as? Int == 1)
        #expect(leaf["subject"] as? String == "CN=mail.example.com")
        #expect(leaf["issuer"] as? String == "O=Test CA, CN=Test Root")
        #expect(leaf["sans"] as? [String] == ["DNS:mail.example.com", "IP:192.0.2.7"])
        #expect(leaf["key_type"] as? String == "RSA")
        #expect(leaf["key_bits"] as? Int == 2048)
        #expect(leaf["signature_algorithm"] as? String == "ecdsa-with-SHA256")
        #expect(leaf["extended_key_usage"] as? [String] == ["serverAuth"])
        #expect(leaf["self_signed"] as? Bool == false)
        let days = try #require(leaf["days_left"] as? Int)
        #expect(days == 9 || days == 10)
        #expect(ca["ca"] as? Bool == true)
        #expect(ca["self_signed"] as? Bool == true)
        #expect(ca["key_curve"] as? String == "P-256")

        // Fingerprints and serial as openssl computes them.
        let fingerprint = try openssl("x509", "-in", fixture.leaf, "-noout", "-fingerprint", "-sha256")
        #expect(fingerprint.contains(try #require(leaf["sha256"] as? String)))
        let serial = try openssl("x509", "-in", fixture.leaf, "-noout", "-serial")
        #expect(serial.trimmingCharacters(in: .whitespacesAndNewlines) == "serial=\(try #require(leaf["serial"] as? String))")
        let spki = try shell("openssl x509 -in '\(fixture.leaf)' -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r")
        #expect(leaf["spki_sha256"] as? String == String(spki.stdout.prefix(64)))
    }

    @Test func readsDERCertificates() throws {
        let fixture = try Fixture()
        let der = fixture.temp.file("leaf.der")
        try openssl("x509", "-in", fixture.leaf, "-outform", "DER", "-out", der)
        let result = try mailsec("inspect", der)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("DNS:mail.example.com, IP:192.0.2.7"))
    }

    @Test func describesKeysWithoutPrintingThem() throws {
        let fixture = try Fixture()
        let result = try mailsec("inspect", fixture.leafKey)
        #expect(result.status == 0)
        #expect(result.stdout.contains("RSA 2048"))
        let keyBody = try String(contentsOfFile: fixture.leafKey, encoding: .utf8).split(separator: "\n")[1]
        #expect(!result.stdout.contains(keyBody))
        #expect(!result.stdout.contains("PRIVATE KEY-----"))

        // The key's TLSA value matches the certificate's: they belong together.
        let both = try parseJSON(try mailsec("inspect", "--json", fixture.leaf, fixture.leafKey).stdout)
        let files = try #require(both["files"] as? [[String: Any]])
        let tlsa = try files.map { try #require(($0["objects"] as? [[String: Any]])?.first?["tlsa"] as? String) }
        #expect(tlsa[0] == tlsa[1])
    }

    @Test func reportsAnEncryptedKeyWithoutAsking() throws {
        let fixture = try Fixture()
        let encrypted = fixture.temp.file("enc.key")
        try openssl("pkey", "-in", fixture.leafKey, "-aes256", "-passout", "pass:secret", "-out", encrypted)
        let result = try shell("setsid '\(mailsecPath)' inspect --json '\(encrypted)' < /dev/null")
        #expect(result.status == 0, "\(result.stderr)")
        let files = try #require(try parseJSON(result.stdout)["files"] as? [[String: Any]])
        let object = try #require((files.first?["objects"] as? [[String: Any]])?.first)
        #expect(object["kind"] as? String == "private_key")
        #expect(object["encrypted"] as? Bool == true)
        #expect(object["format"] as? String == "ENCRYPTED PRIVATE KEY")
    }

    @Test func showsCSRs() throws {
        let fixture = try Fixture()
        let result = try mailsec("inspect", "--json", fixture.csr)
        try #require(result.status == 0, "\(result.stderr)")
        let files = try #require(try parseJSON(result.stdout)["files"] as? [[String: Any]])
        let object = try #require((files.first?["objects"] as? [[String: Any]])?.first)
        #expect(object["kind"] as? String == "csr")
        #expect(object["subject"] as? String == "C=DE, CN=req.example.com")
        #expect(object["sans"] as? [String] == ["DNS:req.example.com"])
        #expect(object["signature_valid"] as? Bool == true)
    }

    @Test func badFilesExitTwoNamingTheFileAndTheProblem() throws {
        let fixture = try Fixture()
        let temp = fixture.temp
        let garbage = temp.file("garbage.pem"), empty = temp.file("empty.pem"), truncated = temp.file("truncated.pem")
        let corrupt = temp.file("corrupt.pem"), mismatched = temp.file("mismatched.pem")
        try Data("hello, this is not a certificate\n".utf8).write(to: URL(fileURLWithPath: garbage))
        try Data().write(to: URL(fileURLWithPath: empty))
        let pem = try String(contentsOfFile: fixture.leaf, encoding: .utf8)
        try Data(pem.prefix(200).utf8).write(to: URL(fileURLWithPath: truncated))
        var lines = pem.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[3] = "!!!!" + lines[3].dropFirst(4)
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: corrupt))
        try Data(pem.replacingOccurrences(of: "END CERTIFICATE", with: "END PRIVATE KEY").utf8).write(to: URL(fileURLWithPath: mismatched))

        let cases: [(String, String)] = [
            (garbage, "neither PEM"),
            (empty, "is empty"),
            (truncated, "has no END line"),
            (corrupt, "line 4, column 1"),
            (mismatched, "does not match BEGIN CERTIFICATE"),
            (temp.path, "is a directory"),
            (temp.file("missing.pem"), "no such file"),
        ]
        for (path, message) in cases {
            let result = try mailsec("inspect", path)
            #expect(result.status == 2, "\(path)")
            #expect(result.stderr.contains(path) && result.stderr.contains(message), "\(result.stderr)")
        }

        // A good file next to a bad one is still shown, and the exit code still says 2.
        let mixed = try mailsec("inspect", fixture.leaf, garbage)
        #expect(mixed.status == 2)
        #expect(mixed.stdout.contains("mail.example.com"))
    }

    @Test func unreadableFileIsReportedAsSuch() throws {
        try #require(runningAsRoot, "needs root to switch to an unprivileged user; CI runs as root")
        let fixture = try Fixture()
        chmod(fixture.temp.path, 0o755)
        chmod(fixture.leafKey, 0o600)
        let result = try shell("setpriv --reuid=65534 --regid=65534 --clear-groups '\(mailsecPath)' inspect '\(fixture.leafKey)'")
        #expect(result.status == 2)
        #expect(result.stderr.contains(fixture.leafKey) && result.stderr.contains("permission denied"))
    }

    @Test func versionAndHelpWork() throws {
        let version = try mailsec("--version")
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
        for command in [["--help"], ["genkey", "--help"], ["ca", "create", "--help"], ["inspect", "--help"]] {
            let help = try mailsec(arguments: command)
            #expect(help.status == 0 && help.stdout.contains("USAGE"), "\(command)")
        }
        let completion = try mailsec("--generate-completion-script", "bash")
        #expect(completion.status == 0 && completion.stdout.contains("genkey"))
    }
}
