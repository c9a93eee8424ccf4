// Making a key and a self-signed certificate with the MailSec library, the
// way `mailsec genkey` does: swift run example-generate-certificate HOST [ROOT]
// (ROOT defaults to /tmp/staging: nothing outside it is touched).
import Glibc
import MailSec

// A MailSecError says what is wrong and how to fix it: print both, exit 2.
do {
    let arguments = CommandLine.arguments.dropFirst()
    let host = try Hostname.normalize(arguments.first ?? "mail.example.com")
    let locations = PKILayout.pki.locations(for: host, root: arguments.dropFirst().first ?? "/tmp/staging")

    let profile = CertificateProfile(
        subject: try DistinguishedName(parsing: "/O=Example Ltd/CN=\(host)"),
        subjectAlternativeNames: [.dns(host), try SubjectAlternativeName(parsing: "smtp.example.com")],
        days: 365
    )
    var request = IssuanceRequest(profile: profile, locations: locations, key: .generate(.ec(curve: .p256)))
    request.force = false   // never replace an existing key silently

    let result = try Issuer.run(request)
    print("key:", result.key.path, result.key.status?.octalMode ?? "?")
    print("certificate:", result.output.path)
    print("TLSA:", TLSARecord(usage: .daneEE, selector: .publicKey, matchingType: .sha256, data: result.spkiSHA256))
} catch let error as MailSecError {
    print("error:", error.message)
    if let remedy = error.remedy { print("fix:", remedy) }
    exit(2)
}
