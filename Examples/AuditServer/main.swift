// Auditing every TLS listener of this machine's Postfix and Dovecot:
// swift run example-audit-server mail.example.com
import Glibc
import MailSec

// A MailSecError says what is wrong and how to fix it: print both, exit 2.
do {
    var request = AuditRequest()
    request.hosts = Array(CommandLine.arguments.dropFirst())
    let audit = try Audit.run(request)
    for endpoint in audit.endpoints {
        print(endpoint.endpoint.label, endpoint.report.ok ? "ok" : "FAILED")
        for finding in endpoint.report.findings where finding.status == .fail {
            print("  \(finding.id): \(finding.message)")
        }
    }
    exit(audit.ok ? 0 : 1)
} catch let error as MailSecError {
    print("error:", error.message)
    if let remedy = error.remedy { print("fix:", remedy) }
    exit(2)
}
