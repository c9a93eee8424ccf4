import Foundation
import Testing

/// `mailsec ca create` and signing with it.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct CATests {
    @Test func createsACAAndSignsServerCertificatesOpenSSLVerifies() throws {
        let temp = try TemporaryDirectory()
        let created = try mailsec("ca", "create", "--root", temp.path, "--batch", "--key-type", "ec", "--organization", "Example Ltd", "office-ca")
        try #require(created.status == 0, "\(created.stderr)")
        let caKey = temp.file("etc/pki/CA/private/office-ca.key")
        let caCertificate = temp.file("etc/pki/CA/certs/office-ca.crt")
        #expect(try StatInfo(caKey).mode == 0o600)
        #expect(try StatInfo(caCertificate).mode == 0o644)
        #expect(created.stdout.contains("update-ca-trust") && created.stdout.contains("update-ca-certificates"))

        let text = try openssl("x509", "-in", caCertificate, "-noout", "-text")
        #expect(text.contains("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0"))
        #expect(text.contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"))
        #expect(text.contains("Subject: O = Example Ltd, CN = office-ca"))
        // Default lifetime: ten years.
        #expect(try validAfter(caCertificate, days: 3649))
        #expect(try !validAfter(caCertificate, days: 3651))

        let signed = try mailsec("genkey", "--root", temp.path, "--batch", "--ca", "office-ca", "mail.example.com")
        try #require(signed.status == 0, "\(signed.stderr)")
        let leaf = temp.file("etc/pki/tls/certs/mail.example.com.crt")
        #expect(try openssl("verify", "-CAfile", caCertificate, "-purpose", "sslserver", leaf).contains("OK"))
        let leafText = try openssl("x509", "-in", leaf, "-noout", "-text")
        #expect(leafText.contains("Issuer: O = Example Ltd, CN = office-ca"))
        #expect(leafText.contains("CA:FALSE"))
        // The leaf names its issuer's key.
        let caKeyID = try openssl("x509", "-in", caCertificate, "-noout", "-ext", "subjectKeyIdentifier")
            .split(separator: "\n").last!.trimmingCharacters(in: .whitespaces)
        #expect(leafText.contains(caKeyID))
    }

    @Test func genkeyWithAnUnknownCAExplainsHowToMakeIt() throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec("genkey", "--root", temp.path, "--batch", "--ca", "nope", "mail.example.com")
        #expect(result.status == 2)
        #expect(result.stderr.contains("no CA named 'nope'") && result.stderr.contains("mailsec ca create nope"))
        #expect(!FileManager.default.fileExists(atPath: temp.file("etc/pki/tls/private/mail.example.com.key")))
    }

    @Test func encryptedCAKeyIsUsedWithItsPassphrase() throws {
        let temp = try TemporaryDirectory()
        let pass = temp.file("pass")
        try Data("ca secret 1\n".utf8).write(to: URL(fileURLWithPath: pass))
        let created = try mailsec("ca", "create", "--root", temp.path, "--batch", "--key-type", "ec", "--encrypt", "--passphrase-file", pass, "locked-ca")
        try #require(created.status == 0, "\(created.stderr)")
        #expect(!created.stdout.contains("cannot start"), "an encrypted CA key is fine and gets no server warning")

        let withoutPassphrase = try shell("setsid '\(mailsecPath)' genkey --root '\(temp.path)' --batch --ca locked-ca mail.example.com < /dev/null")
        #expect(withoutPassphrase.status == 2)
        #expect(withoutPassphrase.stderr.contains("--ca-passphrase-file"))

        let wrong = temp.file("wrong")
        try Data("not it\n".utf8).write(to: URL(fileURLWithPath: wrong))
        let wrongResult = try mailsec("genkey", "--root", temp.path, "--batch", "--ca", "locked-ca", "--ca-passphrase-file", wrong, "mail.example.com")
        #expect(wrongResult.status == 2)
        #expect(wrongResult.stderr.contains("wrong passphrase"))

        let signed = try mailsec("genkey", "--root", temp.path, "--batch", "--ca", "locked-ca", "--ca-passphrase-file", pass, "mail.example.com")
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(try openssl("verify", "-CAfile", temp.file("etc/pki/CA/certs/locked-ca.crt"), temp.file("etc/pki/tls/certs/mail.example.com.crt")).contains("OK"))
    }

    @Test func refusesToReplaceAnExistingCA() throws {
        let temp = try TemporaryDirectory()
        try #require(try mailsec("ca", "create", "--root", temp.path, "--batch", "--key-type", "ec", "office-ca").status == 0)
        let key = try readFile(temp.file("etc/pki/CA/private/office-ca.key"))
        let again = try mailsec("ca", "create", "--root", temp.path, "--batch", "--key-type", "ec", "office-ca")
        #expect(again.status == 2)
        #expect(try readFile(temp.file("etc/pki/CA/private/office-ca.key")) == key)
    }

    @Test(arguments: ["../evil", "", ".hidden", "a/b"])
    func rejectsCANamesThatAreNotFileNames(_ name: String) throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec("ca", "create", "--root", temp.path, "--batch", name)
        #expect(result.status == 64)
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.path).isEmpty)
    }
}
