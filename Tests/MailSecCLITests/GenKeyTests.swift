import Foundation
import Testing

/// `mailsec genkey`, end to end, with every file cross-checked by the openssl CLI.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct GenKeyTests {
    struct KeyCase: CustomTestStringConvertible, Sendable {
        let options: [String]
        let opensslKeyText: String
        let keyUsage: String
        var testDescription: String { options.isEmpty ? "rsa default" : options.joined(separator: " ") }
    }

    static let keyCases = [
        KeyCase(options: [], opensslKeyText: "Public-Key: (2048 bit)", keyUsage: "Digital Signature, Key Encipherment"),
        KeyCase(options: ["--bits", "3072"], opensslKeyText: "Public-Key: (3072 bit)", keyUsage: "Digital Signature, Key Encipherment"),
        KeyCase(options: ["--key-type", "ec"], opensslKeyText: "NIST CURVE: P-256", keyUsage: "Digital Signature"),
        KeyCase(options: ["--key-type", "ec", "--curve", "P-384"], opensslKeyText: "NIST CURVE: P-384", keyUsage: "Digital Signature"),
        KeyCase(options: ["--key-type", "ed25519"], opensslKeyText: "ED25519 Public-Key", keyUsage: "Digital Signature"),
    ]

    @Test(arguments: keyCases)
    func writesKeyAndCertificateThatOpenSSLAccepts(_ keyCase: KeyCase) throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec(arguments: ["genkey", "--root", temp.path, "--batch",
                                             "--san", "smtp.example.com", "--san", "*.mx.example.com", "--san", "IP:192.0.2.25",
                                             "--san", "IP:2001:db8::25"] + keyCase.options + ["mail.example.com"])
        #expect(result.status == 0, "\(result.stderr)")
        let key = temp.file("etc/pki/tls/private/mail.example.com.key")
        let certificate = temp.file("etc/pki/tls/certs/mail.example.com.crt")

        // Every name the certificate should cover, as openssl checks it.
        for host in ["mail.example.com", "smtp.example.com", "a.mx.example.com"] {
            #expect(try openssl("x509", "-in", certificate, "-noout", "-checkhost", host).contains("does match"), "\(host)")
        }
        #expect(try openssl("x509", "-in", certificate, "-noout", "-checkhost", "other.example.com").contains("does NOT match"))
        #expect(try openssl("x509", "-in", certificate, "-noout", "-checkhost", "a.b.mx.example.com").contains("does NOT match"))
        #expect(try openssl("x509", "-in", certificate, "-noout", "-checkip", "192.0.2.25").contains("does match"))
        #expect(try openssl("x509", "-in", certificate, "-noout", "-checkip", "2001:db8::25").contains("does match"))

        // The key belongs to the certificate.
        let fromCertificate = try openssl("x509", "-in", certificate, "-noout", "-pubkey")
        let fromKey = try openssl("pkey", "-in", key, "-pubout")
        #expect(fromCertificate == fromKey)
        #expect(try openssl("pkey", "-in", key, "-check", "-noout").contains("Key is valid"))

        // Self-signed, so it verifies against itself.
        #expect(try openssl("verify", "-CAfile", certificate, certificate).contains("OK"))

        let text = try openssl("x509", "-in", certificate, "-noout", "-text")
        #expect(text.contains("Version: 3 (0x2)"))
        #expect(text.contains(keyCase.opensslKeyText))
        #expect(text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"))
        #expect(text.contains("X509v3 Key Usage: critical\n                \(keyCase.keyUsage)\n"))
        #expect(text.contains("TLS Web Server Authentication"))
        #expect(text.contains("X509v3 Subject Key Identifier"))
        #expect(text.contains("DNS:mail.example.com, DNS:smtp.example.com, DNS:*.mx.example.com, IP Address:192.0.2.25, IP Address:2001:DB8:0:0:0:0:0:25"))
        #expect(text.contains("Subject: CN = mail.example.com"))
        if keyCase.options.contains("ed25519") {
            #expect(text.contains("Signature Algorithm: ED25519"))
        } else {
            #expect(text.contains("sha256With") || text.contains("ecdsa-with-SHA256"))
        }
        // A 128-bit serial: 16 octets.
        let serial = try openssl("x509", "-in", certificate, "-noout", "-serial")
        #expect(serial.trimmingCharacters(in: .whitespacesAndNewlines).count == "serial=".count + 32)
    }

    @Test func createsFilesWithExactModesAndOwners() throws {
        let temp = try TemporaryDirectory()
        try #require(try mailsec("genkey", "--root", temp.path, "--batch", "mail.example.com").status == 0)
        let key = try StatInfo(temp.file("etc/pki/tls/private/mail.example.com.key"))
        let certificate = try StatInfo(temp.file("etc/pki/tls/certs/mail.example.com.crt"))
        #expect(key.mode == 0o600)
        #expect(certificate.mode == 0o644)
        #expect(try StatInfo(temp.file("etc/pki/tls/private")).mode == 0o700)
        #expect(try StatInfo(temp.file("etc/pki/tls/certs")).mode == 0o755)
        #expect(key.uid == geteuid() && certificate.uid == geteuid())
        if runningAsRoot {
            #expect(key.gid == 0 && certificate.gid == 0)
        }
    }

    @Test func keepsExactModesUnderAPermissiveUmask() throws {
        let temp = try TemporaryDirectory()
        let result = try shell("umask 000; exec '\(mailsecPath)' genkey --root '\(temp.path)' --batch --key-type ec mail.example.com")
        try #require(result.status == 0, "\(result.stderr)")
        #expect(try StatInfo(temp.file("etc/pki/tls/private/mail.example.com.key")).mode == 0o600)
        #expect(try StatInfo(temp.file("etc/pki/tls/certs/mail.example.com.crt")).mode == 0o644)
        #expect(try StatInfo(temp.file("etc/pki/tls/private")).mode == 0o700)
        #expect(try StatInfo(temp.file("etc/pki/tls/certs")).mode == 0o755)
        #expect(try StatInfo(temp.file("etc/pki")).mode == 0o755)
    }

    @Test func keepsExactModesUnderARestrictiveUmask() throws {
        let temp = try TemporaryDirectory()
        let result = try shell("umask 777; exec '\(mailsecPath)' genkey --root '\(temp.path)' --batch --key-type ec mail.example.com")
        try #require(result.status == 0, "\(result.stderr)")
        #expect(try StatInfo(temp.file("etc/pki/tls/private/mail.example.com.key")).mode == 0o600)
        #expect(try StatInfo(temp.file("etc/pki/tls/certs/mail.example.com.crt")).mode == 0o644)
    }

    @Test func usesTheDebianLayoutWithTheSslCertGroup() throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--layout", "debian", "--key-type", "ec", "mail.example.com")
        try #require(result.status == 0, "\(result.stderr)")
        let key = try StatInfo(temp.file("etc/ssl/private/mail.example.com.key"))
        let certificate = try StatInfo(temp.file("etc/ssl/certs/mail.example.com.crt"))
        #expect(certificate.mode == 0o644)
        if runningAsRoot {
            // Scripts/bootstrap installs Debian's ssl-cert package, which creates the group.
            let group = try #require(getgrnam("ssl-cert"), "the ssl-cert group should exist (Scripts/bootstrap installs ssl-cert)")
            #expect(key.mode == 0o640)
            #expect(key.uid == 0 && key.gid == group.pointee.gr_gid)
            let directory = try StatInfo(temp.file("etc/ssl/private"))
            #expect(directory.mode == 0o710 && directory.gid == group.pointee.gr_gid)
        } else {
            #expect(key.mode == 0o600)
        }
    }

    @Test func writesToExplicitPaths() throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec("genkey", "--batch", "--key-type", "ec", "--key-out", temp.file("keys/k.pem"),
                                 "--cert-out", temp.file("c.pem"), "--root", temp.file("unused"), "mail.example.com")
        try #require(result.status == 0, "\(result.stderr)")
        #expect(try StatInfo(temp.file("keys/k.pem")).mode == 0o600)
        #expect(try StatInfo(temp.file("keys")).mode == 0o700)
        #expect(try openssl("x509", "-in", temp.file("c.pem"), "-noout", "-checkhost", "mail.example.com").contains("does match"))
        #expect(!FileManager.default.fileExists(atPath: temp.file("unused/etc/pki/tls/private/mail.example.com.key")))
    }

    @Test func refusesToOverwriteAnExistingKey() throws {
        let temp = try TemporaryDirectory()
        try #require(try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "mail.example.com").status == 0)
        let keyPath = temp.file("etc/pki/tls/private/mail.example.com.key")
        let certificatePath = temp.file("etc/pki/tls/certs/mail.example.com.crt")
        let key = try readFile(keyPath)
        let certificate = try readFile(certificatePath)

        let again = try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "mail.example.com")
        #expect(again.status == 2)
        #expect(again.stderr.contains(keyPath) && again.stderr.contains("--force"))
        #expect(try readFile(keyPath) == key)
        #expect(try readFile(certificatePath) == certificate)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: temp.file("etc/pki/tls/private"))
        #expect(leftovers == ["mail.example.com.key"])
    }

    @Test func refusesToOverwriteAnExistingCertificateWithoutKey() throws {
        let temp = try TemporaryDirectory()
        let certificatePath = temp.file("etc/pki/tls/certs/mail.example.com.crt")
        try FileManager.default.createDirectory(atPath: temp.file("etc/pki/tls/certs"), withIntermediateDirectories: true)
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: certificatePath))
        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "mail.example.com")
        #expect(result.status == 2)
        #expect(result.stderr.contains(certificatePath))
        #expect(try readFile(certificatePath) == Data("precious\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: temp.file("etc/pki/tls/private/mail.example.com.key")))
    }

    @Test func forceKeepsBackupsOfTheOldFiles() throws {
        let temp = try TemporaryDirectory()
        try #require(try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "mail.example.com").status == 0)
        let keyPath = temp.file("etc/pki/tls/private/mail.example.com.key")
        let oldKey = try readFile(keyPath)
        let oldCertificate = try readFile(temp.file("etc/pki/tls/certs/mail.example.com.crt"))

        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "--force", "--json", "mail.example.com")
        try #require(result.status == 0, "\(result.stderr)")
        let json = try parseJSON(result.stdout)
        let keyBackup = try #require((json["key"] as? [String: Any])?["file"] as? [String: Any])["backup"] as? String
        let certificateBackup = try #require(json["certificate_file"] as? [String: Any])["backup"] as? String
        #expect(try readFile(try #require(keyBackup)) == oldKey)
        #expect(try readFile(try #require(certificateBackup)) == oldCertificate)
        #expect(try StatInfo(try #require(keyBackup)).mode == 0o600)
        #expect(try readFile(keyPath) != oldKey)
        #expect(try StatInfo(keyPath).mode == 0o600)
    }

    @Test func reuseKeyRenewsTheCertificateForTheSameKey() throws {
        let temp = try TemporaryDirectory()
        try #require(try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "--san", "smtp.example.com",
                                 "--organization", "Example", "mail.example.com").status == 0)
        let keyPath = temp.file("etc/pki/tls/private/mail.example.com.key")
        let certificatePath = temp.file("etc/pki/tls/certs/mail.example.com.crt")
        let key = try readFile(keyPath)
        let oldSerial = try openssl("x509", "-in", certificatePath, "-noout", "-serial")
        let oldSPKI = try openssl("x509", "-in", certificatePath, "-noout", "-pubkey")

        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--reuse-key", "--days", "90", "mail.example.com")
        try #require(result.status == 0, "\(result.stderr)")
        #expect(try readFile(keyPath) == key)
        #expect(try openssl("x509", "-in", certificatePath, "-noout", "-serial") != oldSerial)
        #expect(try openssl("x509", "-in", certificatePath, "-noout", "-pubkey") == oldSPKI)
        // The renewal keeps the names and subject of the certificate it replaces.
        #expect(try openssl("x509", "-in", certificatePath, "-noout", "-checkhost", "smtp.example.com").contains("does match"))
        #expect(try openssl("x509", "-in", certificatePath, "-noout", "-subject").contains("O = Example"))
        #expect(try validAfter(certificatePath, days: 89))
        #expect(try !validAfter(certificatePath, days: 91))
    }

    @Test func reuseKeyWithoutAKeyFails() throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--reuse-key", "mail.example.com")
        #expect(result.status == 2)
        #expect(result.stderr.contains("no key to reuse"))
    }

    @Test func csrCarriesSubjectAndRequestedNames() throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--csr", "--subject", "/C=de/ST=Berlin/O=Example Inc/OU=Mail",
                                 "--san", "smtp.example.com", "mail.example.com")
        try #require(result.status == 0, "\(result.stderr)")
        let csr = temp.file("etc/pki/tls/certs/mail.example.com.csr")
        #expect(try StatInfo(csr).mode == 0o644)
        #expect(!FileManager.default.fileExists(atPath: temp.file("etc/pki/tls/certs/mail.example.com.crt")))
        #expect(try openssl("req", "-in", csr, "-noout", "-verify").contains("verify OK"))
        let text = try openssl("req", "-in", csr, "-noout", "-text")
        #expect(text.contains("Subject: C = DE, ST = Berlin, O = Example Inc, OU = Mail, CN = mail.example.com"))
        #expect(text.contains("DNS:mail.example.com, DNS:smtp.example.com"))
        let fromRequest = try openssl("req", "-in", csr, "-noout", "-pubkey")
        let fromKey = try openssl("pkey", "-in", temp.file("etc/pki/tls/private/mail.example.com.key"), "-pubout")
        #expect(fromRequest == fromKey)
    }

    @Test func encryptedKeyNeedsThePassphraseAndWarns() throws {
        let temp = try TemporaryDirectory()
        let passphraseFile = temp.file("pass")
        try Data("correct horse\n".utf8).write(to: URL(fileURLWithPath: passphraseFile))
        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "--encrypt",
                                 "--passphrase-file", passphraseFile, "mail.example.com")
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Postfix and Dovecot cannot"))
        let key = temp.file("etc/pki/tls/private/mail.example.com.key")
        #expect(try String(contentsOfFile: key, encoding: .utf8).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        #expect(try run("/usr/bin/openssl", ["pkey", "-in", key, "-passin", "pass:wrong", "-noout"]).status != 0)
        #expect(try openssl("pkey", "-in", key, "-passin", "file:\(passphraseFile)", "-pubout").contains("PUBLIC KEY"))
        let cipher = try openssl("asn1parse", "-in", key)
        #expect(cipher.contains("aes-256-cbc"))
        #expect(!result.stdout.contains("correct horse") && !result.stderr.contains("correct horse"))

        // Renewing an encrypted key needs its passphrase.
        let renewed = try mailsec("genkey", "--root", temp.path, "--batch", "--reuse-key", "--passphrase-file", passphraseFile, "mail.example.com")
        #expect(renewed.status == 0, "\(renewed.stderr)")
    }

    @Test func encryptWithoutATerminalOrFileFails() throws {
        let temp = try TemporaryDirectory()
        let result = try shell("setsid '\(mailsecPath)' genkey --root '\(temp.path)' --batch --encrypt --key-type ec mail.example.com < /dev/null")
        #expect(result.status == 2)
        #expect(result.stderr.contains("--passphrase-file"))
        #expect(!FileManager.default.fileExists(atPath: temp.file("etc/pki/tls/private/mail.example.com.key")))
    }

    @Test func refusesAPrivateDirectoryOthersCanWrite() throws {
        let temp = try TemporaryDirectory()
        let directory = temp.file("etc/pki/tls/private")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o777)
        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "mail.example.com")
        #expect(result.status == 2)
        #expect(result.stderr.contains(directory) && result.stderr.contains("chmod go-w"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test func printsPasteableConfigurationAndDANERecords() throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "--json", "mail.example.com")
        try #require(result.status == 0)
        let json = try parseJSON(result.stdout)
        let spki = try openssl("x509", "-in", temp.file("etc/pki/tls/certs/mail.example.com.crt"), "-noout", "-pubkey")
        let der = try run("/bin/sh", ["-c", "openssl x509 -in '\(temp.file("etc/pki/tls/certs/mail.example.com.crt"))' -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r"])
        let digest = String(der.stdout.prefix(64))
        #expect(!spki.isEmpty && digest.count == 64)
        let tlsa = try #require(json["tlsa"] as? [String])
        #expect(tlsa == ["_25._tcp.mail.example.com. IN TLSA 3 1 1 \(digest)", "_465._tcp.mail.example.com. IN TLSA 3 1 1 \(digest)"])
        let postfix = try #require(json["postfix"] as? [String: String])
        // Configuration lines name the paths as the server sees them, without --root.
        #expect(postfix["smtpd_tls_cert_file"] == "/etc/pki/tls/certs/mail.example.com.crt")
        #expect(postfix["smtpd_tls_key_file"] == "/etc/pki/tls/private/mail.example.com.key")
        let dovecot = try #require(json["dovecot"] as? [String: String])
        #expect(dovecot["ssl_cert"] == "</etc/pki/tls/certs/mail.example.com.crt")
        let certificate = try #require(json["certificate"] as? [String: Any])
        #expect(certificate["days_left"] as? Int == 365)
        #expect(certificate["key_type"] as? String == "EC")

        let human = try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "--force", "mail.example.com")
        #expect(human.stdout.contains("smtpd_tls_key_file = /etc/pki/tls/private/mail.example.com.key"))
        #expect(human.stdout.contains("ssl_key = </etc/pki/tls/private/mail.example.com.key"))
        #expect(human.stdout.contains("_465._tcp.mail.example.com. IN TLSA 3 1 1 "))
        #expect(human.stdout.contains("0600"))
        #expect(!human.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")
    }

    @Test func asksForSubjectFieldsOnATerminal() throws {
        let temp = try TemporaryDirectory()
        // script(1) gives mailsec a pseudo-terminal; the answers arrive as typed lines.
        let command = "'\(mailsecPath)' genkey --root '\(temp.path)' --key-type ec mail.example.com"
        let answers = "DE\nBerlin\n\nExample Ltd\nMail\n\n"
        let result = try shell("sleep 0.2; script -qec \"\(command)\" /dev/null", input: answers)
        try #require(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("Country Name"))
        let subject = try openssl("x509", "-in", temp.file("etc/pki/tls/certs/mail.example.com.crt"), "-noout", "-subject")
        #expect(subject.contains("C = DE, ST = Berlin, O = Example Ltd, OU = Mail, CN = mail.example.com"))
    }

    @Test func neverPromptsWithoutATerminal() throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec("genkey", "--root", temp.path, "--key-type", "ec", "mail.example.com", input: "XX\n")
        try #require(result.status == 0)
        #expect(!result.stderr.contains("Country"))
        let subject = try openssl("x509", "-in", temp.file("etc/pki/tls/certs/mail.example.com.crt"), "-noout", "-subject")
        #expect(subject.trimmingCharacters(in: .whitespacesAndNewlines) == "subject=CN = mail.example.com")
    }

    @Test func showsKeyGenerationProgressOnlyOnATerminal() throws {
        let temp = try TemporaryDirectory()
        let command = "'\(mailsecPath)' genkey --batch --root '\(temp.path)' --bits 3072 mail.example.com"
        let onTerminal = try shell("script -qec \"\(command)\" /dev/null < /dev/null")
        try #require(onTerminal.status == 0, "\(onTerminal.stdout)")
        #expect(onTerminal.stdout.contains("Generating an RSA 3072 key"))
        #expect(onTerminal.stdout.contains("done"))

        let piped = try mailsec("genkey", "--batch", "--root", temp.path, "--bits", "3072", "--force", "mail.example.com")
        try #require(piped.status == 0)
        #expect(!piped.stderr.contains("Generating"))
    }

    /// A DANE rollover in two steps: the next key beside the current one with
    /// both records to publish, then the switch, with nothing of the old key lost.
    @Test func aNextKeyIsMadeBesideTheCurrentOneThenPromoted() throws {
        let temp = try TemporaryDirectory()
        #expect(try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "mail.example.com").status == 0)
        let key = temp.file("etc/pki/tls/private/mail.example.com.key")
        let next = temp.file("etc/pki/tls/private/mail.example.com.next.key")
        let certificate = temp.file("etc/pki/tls/certs/mail.example.com.crt")
        let before = try Data(contentsOf: URL(fileURLWithPath: key))
        let certificateBefore = try Data(contentsOf: URL(fileURLWithPath: certificate))

        let made = try mailsec("genkey", "--root", temp.path, "--key-type", "ec", "--next-key", "--json", "mail.example.com")
        #expect(made.status == 0, "\(made.stderr)")
        var info = stat()
        #expect(stat(next, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == before && (try Data(contentsOf: URL(fileURLWithPath: certificate))) == certificateBefore,
                "the current key and certificate are untouched")
        let records = (try parseJSON(made.stdout)["tlsa"] as? [[String: Any]]) ?? []
        let current = try DaneProbeTests.spkiSHA256(certificate: certificate)
        let upcoming = try DaneProbeTests.spkiSHA256(key: next)
        #expect(Set(records.map { "\($0["role"]!) \($0["name"]!) \($0["data"]!)" }) == [
            "current _25._tcp.mail.example.com. \(current)", "current _465._tcp.mail.example.com. \(current)",
            "next _25._tcp.mail.example.com. \(upcoming)", "next _465._tcp.mail.example.com. \(upcoming)",
        ], "\(made.stdout)")
        #expect(!made.stdout.contains("PRIVATE KEY"))

        // A second next key would throw away the one whose record may be published already.
        let again = try mailsec("genkey", "--root", temp.path, "--key-type", "ec", "--next-key", "mail.example.com")
        #expect(again.status == 2 && again.stderr.contains("already exists"))
        let nextBytes = try Data(contentsOf: URL(fileURLWithPath: next))

        let promoted = try mailsec("genkey", "--root", temp.path, "--batch", "--reuse-key", "--promote-next", "mail.example.com")
        #expect(promoted.status == 0, "\(promoted.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == nextBytes, "the next key, byte for byte, is the current one")
        #expect(!FileManager.default.fileExists(atPath: next))
        #expect(stat(key, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try DaneProbeTests.spkiSHA256(certificate: certificate) == upcoming, "the new certificate is for the promoted key")
        let backups = try FileManager.default.contentsOfDirectory(atPath: temp.file("etc/pki/tls/private")).filter { $0.hasPrefix("mail.example.com.key.") && $0.hasSuffix(".bak") }
        #expect(backups.count == 1)
        #expect(try backups.first.map { try Data(contentsOf: URL(fileURLWithPath: temp.file("etc/pki/tls/private/" + $0))) } == before, "the old key is kept")

        let nothing = try mailsec("genkey", "--root", temp.path, "--batch", "--promote-next", "mail.example.com")
        #expect(nothing.status == 2 && nothing.stderr.contains("no next key"), "\(nothing.stderr)")
    }
}
