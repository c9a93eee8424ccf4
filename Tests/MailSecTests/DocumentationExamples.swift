import Foundation
import MailSec
import Testing

/// The first DocC article (Sources/MailSec/MailSec.docc), run against the
/// public API only (no @testable), into a temporary root; every article's
/// code is also a program under Examples/, which swift build compiles.
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
}
