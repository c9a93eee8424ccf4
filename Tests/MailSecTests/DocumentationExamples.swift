import Foundation
import MailSec
import Testing

/// The code of the DocC articles (Sources/MailSec/MailSec.docc), compiled here
/// against the public API only (no @testable), so an article cannot drift from it.
/// The key-and-certificate one also runs, into a temporary root.
@Suite struct DocumentationExamples {
    @Test func generatingAKeyAndCertificate() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mailsec-doc-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let locations = PKILayout.pki.locations(for: "mail.example.com", root: root)
        let profile = CertificateProfile(
            subject: DistinguishedName([.init("CN", "mail.example.com")]),
            subjectAlternativeNames: [.dns("mail.example.com"), .dns("smtp.example.com")],
            days: 365)
        let request = IssuanceRequest(profile: profile, locations: locations, key: .generate(.ec(curve: .p256)))
        let result = try Issuer.run(request)
        #expect(result.key.path.hasSuffix("private/mail.example.com.key") && result.output.path.hasSuffix("certs/mail.example.com.crt"))

        var verify = VerifyRequest(certificatePath: result.output.path, keyPath: result.key.path, hosts: ["smtp.example.com"])
        verify.warnDays = 21
        let verification = try CertificateVerifier.verify(verify)
        #expect(verification.report.findings.contains { $0.id == "key-matches-cert" && $0.status == .pass })
    }

    // Compiled, not run: they need a Dovecot socket, a server, a configuration.
    func checkingCredentials() throws {
        let client = try DovecotAuthClient(address: .unix("/var/spool/postfix/private/auth"))
        var request = AuthRequest()
        request.mechanism = "PLAIN"
        let verdict = try client.authenticate(user: "alice", password: SecureBytes(Array("secret".utf8)), request: request)
        print(verdict.outcome)
    }

    func probingAServer() throws {
        let target = try ProbeTarget(parsing: "submission://mail.example.com")
        var options = ProbeOptions()
        options.timeout = .seconds(10)
        options.dane = true
        let result = MailProbe.run(target, options: options)
        print(result.report.ok ? "ok" : "failed", result.report.findings.map(\.id))
    }

    func auditingAServer() throws {
        var request = AuditRequest()
        request.hosts = ["mail.example.com"]
        let audit = try Audit.run(request)
        for endpoint in audit.endpoints where !endpoint.report.ok {
            print(endpoint.endpoint.label, endpoint.report.findings.filter { $0.status == .fail }.map(\.message))
        }
    }

    func deployingARenewal() throws {
        var request = DeployRequest(certificatePath: "/etc/letsencrypt/live/mail.example.com/fullchain.pem",
                                    keyPath: "/etc/letsencrypt/live/mail.example.com/privkey.pem")
        request.dane = DNSResolverOptions()
        let deployed = try Deploy.run(request)
        print(deployed.ok ? "deployed and served" : "not deployed", deployed.report.findings.map(\.id))
    }
}
