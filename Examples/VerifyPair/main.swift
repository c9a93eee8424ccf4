// Verifying a certificate and key as clients judge them:
// swift run example-verify-pair CERT KEY HOST...
import Glibc
import MailSec

// A MailSecError says what is wrong and how to fix it: print both, exit 2.
do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.count >= 3 else {
        print("usage: example-verify-pair CERT KEY HOST...")
        exit(2)
    }
    var request = VerifyRequest(certificatePath: arguments[0], keyPath: arguments[1], hosts: Array(arguments[2...]))
    request.warnDays = 21
    let verification = try CertificateVerifier.verify(request)
    for finding in verification.report.findings {
        print(finding.status.rawValue, finding.id, finding.message)
        if let remedy = finding.remedy, finding.status != .pass { print("  fix:", remedy) }
    }
    exit(verification.report.ok ? 0 : 1)
} catch let error as MailSecError {
    print("error:", error.message)
    if let remedy = error.remedy { print("fix:", remedy) }
    exit(2)
}
