// Making a key and a self-signed certificate with the MailSec library, the
// way `mailsec genkey` does, into a staging directory. Add MailSec as a
// dependency and call `makeMailCertificate()` from your own code.
import MailSec

func makeMailCertificate() throws {
    let host = try Hostname.normalize("mail.example.com")
    let locations = PKILayout.pki.locations(for: host, root: "/tmp/staging")

    let profile = CertificateProfile(
        subject: try DistinguishedName(parsing: "/C=DE/O=Example Ltd/CN=\(host)"),
        subjectAlternativeNames: [.dns(host), try SubjectAlternativeName(parsing: "smtp.example.com")],
        days: 365
    )
    var request = IssuanceRequest(profile: profile, locations: locations, key: .generate(.ec(curve: .p256)))
    request.force = false   // never replace an existing key silently

    let result = try Issuer.run(request)
    print("key:", result.key.path, result.key.status?.octalMode ?? "?")
    print("certificate:", result.output.path)
    print("TLSA 3 1 1:", Hex.encode(result.spkiSHA256))
}
