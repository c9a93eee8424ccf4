import Testing
import Glibc
@testable import MailSec

@Suite struct KeyAndCertificateTests {
    static let specs: [KeySpec] = [.rsa(bits: 2048), .ec(curve: .p256), .ec(curve: .p384), .ed25519]

    @Test(arguments: specs)
    func generatedKeysAreDescribedAndRoundTripThroughPEM(_ spec: KeySpec) throws {
        let key = try PrivateKey.generate(spec)
        switch spec {
        case .rsa(let bits): #expect(key.keyDescription == KeyDescription(type: .rsa, bits: bits, curve: nil))
        case .ec(let curve): #expect(key.keyDescription.curve == curve.rawValue)
        case .ed25519: #expect(key.keyDescription.type == .ed25519)
        }
        let pem = try key.pkcs8PEM()
        let reread = try pem.withUnsafeBytes { try PrivateKey(pem: $0) }
        #expect(try reread.subjectPublicKeyInfo() == key.subjectPublicKeyInfo())
    }

    @Test(arguments: specs)
    func selfSignedCertificateCarriesTheProfile(_ spec: KeySpec) throws {
        let key = try PrivateKey.generate(spec)
        let profile = CertificateProfile(subject: DistinguishedName([.init("O", "Example"), .init("CN", "mail.example.com")]),
                                         subjectAlternativeNames: [.dns("mail.example.com"), .ip("192.0.2.1")], days: 30)
        let certificate = try Certificate(profile: profile, subjectKey: key)
        #expect(certificate.subject.description == "O=Example, CN=mail.example.com")
        #expect(certificate.issuer == certificate.subject)
        #expect(certificate.subjectAlternativeNames == [.dns("mail.example.com"), .ip("192.0.2.1")])
        #expect(certificate.isSelfSigned)
        #expect(key.matches(certificate))
        #expect(certificate.basicConstraints == BasicConstraints(isCA: false, pathLength: nil, critical: true))
        #expect(certificate.extendedKeyUsage == ["serverAuth"])
        #expect(certificate.keyUsage?.contains(.digitalSignature) == true)
        #expect(certificate.keyUsage?.contains(.keyEncipherment) == (key.keyDescription.type == .rsa))
        #expect(UTCTime.daysLeft(until: certificate.notAfter, from: certificate.notBefore) == 30)
        #expect(abs(certificate.notBefore.timeIntervalSinceNow) < 60)
        #expect(certificate.serialNumber.count == 32)

        let der = try certificate.derBytes()
        #expect(try Certificate(der: der).sha256Fingerprint() == certificate.sha256Fingerprint())
    }

    @Test func aDifferentKeyDoesNotMatch() throws {
        let key = try PrivateKey.generate(.ec(curve: .p256))
        let other = try PrivateKey.generate(.ec(curve: .p256))
        let certificate = try Certificate(profile: CertificateProfile(subject: DistinguishedName([.init("CN", "x")]), days: 1), subjectKey: key)
        #expect(!other.matches(certificate))
    }

    @Test func authoritySignsLeavesThatChainToIt() throws {
        let caKey = try PrivateKey.generate(.ec(curve: .p256))
        let ca = try Certificate(profile: CertificateProfile(subject: DistinguishedName([.init("CN", "Test CA")]), days: 10, role: .authority), subjectKey: caKey)
        #expect(ca.basicConstraints == BasicConstraints(isCA: true, pathLength: 0, critical: true))
        #expect(ca.keyUsage == [.keyCertSign, .cRLSign])
        #expect(ca.keyUsage?.names == ["keyCertSign", "cRLSign"])

        let leafKey = try PrivateKey.generate(.rsa(bits: 2048))
        let leaf = try Certificate(profile: CertificateProfile(subject: DistinguishedName([.init("CN", "mail.example.com")]),
                                                               subjectAlternativeNames: [.dns("mail.example.com")], days: 5),
                                   subjectKey: leafKey, issuer: (ca, caKey))
        #expect(leaf.isIssued(by: ca))
        #expect(!leaf.isSelfSigned)
        #expect(leaf.issuer.description == "CN=Test CA")
        #expect(leaf.signatureAlgorithm == "ecdsa-with-SHA256")

        let stranger = try PrivateKey.generate(.ec(curve: .p256))
        #expect(throws: MailSecError.self) { try Certificate(profile: CertificateProfile(subject: DistinguishedName([.init("CN", "x")]), days: 1), subjectKey: leafKey, issuer: (ca, stranger)) }
    }

    @Test func signingRequestVerifiesAndCarriesNames() throws {
        let key = try PrivateKey.generate(.ec(curve: .p256))
        let request = try CertificateSigningRequest(profile: CertificateProfile(subject: DistinguishedName([.init("CN", "mail.example.com")]),
                                                                                subjectAlternativeNames: [.dns("mail.example.com"), .dns("smtp.example.com")], days: 1), key: key)
        #expect(request.hasValidSignature)
        #expect(request.requestedSubjectAlternativeNames == [.dns("mail.example.com"), .dns("smtp.example.com")])
        #expect(try request.subjectPublicKeyInfo() == key.subjectPublicKeyInfo())
    }

    @Test func encryptedKeyNeedsTheRightPassphrase() throws {
        let key = try PrivateKey.generate(.ec(curve: .p256))
        let pem = try key.pkcs8PEM(passphrase: SecureBytes(Array("s3cret-pass".utf8)))
        try pem.withUnsafeBytes { bytes in
            #expect(PEMDocument.looksEncrypted(bytes))
            #expect { try PrivateKey(pem: bytes) } throws: { ($0 as? MailSecError)?.code == .passphrase }
            #expect { try PrivateKey(pem: bytes, passphrase: SecureBytes(Array("wrong".utf8))) } throws: { ($0 as? MailSecError)?.code == .passphrase }
            let key2 = try PrivateKey(pem: bytes, passphrase: SecureBytes(Array("s3cret-pass".utf8)))
            #expect(try key2.subjectPublicKeyInfo() == key.subjectPublicKeyInfo())
        }
    }

    @Test func refusesRSAKeysUnder2048Bits() {
        #expect(throws: MailSecError.self) { try PrivateKey.generate(.rsa(bits: 1024)) }
    }

    @Test func opensslErrorsAreDrainedIntoTheMessage() {
        do {
            _ = try Certificate(der: [0x30, 0x03, 0x02, 0x01, 0x01])
            Issue.record("expected an error")
        } catch let error as MailSecError {
            #expect(error.code == .openSSL)
            #expect(error.message.contains("not a DER X.509 certificate:"))
            #expect(OpenSSLErrorQueue.drain().isEmpty, "nothing left behind for the next caller")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite struct PEMDocumentTests {
    @Test func findsBlocksWithLinesAndHeaders() throws {
        let text = "junk\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\r\nZm9v\r\n-----END CERTIFICATE-----\r\n"
        let blocks = try Array(text.utf8).withUnsafeBytes { try PEMDocument.blocks(in: $0, source: "t.pem") }
        #expect(blocks.map(\.label) == ["RSA PRIVATE KEY", "CERTIFICATE"])
        #expect(blocks.map(\.line) == [2, 8])
        #expect(blocks[0].isEncrypted && blocks[0].isPrivateKey)
        #expect(!blocks[1].isEncrypted)
        let body = try Array(text.utf8).withUnsafeBytes { try PEMDocument.decodeBody(of: blocks[1], in: $0, source: "t.pem") }
        #expect(body == Array("foo".utf8))
    }

    @Test(arguments: [
        ("-----BEGIN CERTIFICATE-----\nZm9v\n", "has no END line"),
        ("-----BEGIN CERTIFICATE-----\nZm9v\n-----END X509 CRL-----\n", "does not match"),
        ("Zm9v\n-----END CERTIFICATE-----\n", "without a BEGIN"),
        ("-----BEGIN CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n", "END line is missing"),
    ])
    func reportsBrokenStructure(_ text: String, _ message: String) {
        #expect { try Array(text.utf8).withUnsafeBytes { try PEMDocument.blocks(in: $0, source: "t.pem") } } throws: {
            ($0 as? MailSecError)?.message.contains(message) == true
        }
    }

    @Test func namesTheLineOfBadBase64() throws {
        let text = "-----BEGIN CERTIFICATE-----\nZm9v\nZm*v\n-----END CERTIFICATE-----\n"
        let blocks = try Array(text.utf8).withUnsafeBytes { try PEMDocument.blocks(in: $0, source: "t.pem") }
        #expect { try Array(text.utf8).withUnsafeBytes { try PEMDocument.decodeBody(of: blocks[0], in: $0, source: "t.pem") } } throws: {
            ($0 as? MailSecError)?.message.contains("t.pem: line 3, column 3") == true
        }
    }
}
