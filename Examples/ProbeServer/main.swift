// Probing mail services the way clients connect to them:
// swift run example-probe-server smtps://mail.example.com imaps://mail.example.com
import Glibc
import MailSec

// A MailSecError says what is wrong and how to fix it: print both, exit 2.
do {
    var options = ProbeOptions()
    options.timeout = .seconds(10)
    var failed = false
    for text in CommandLine.arguments.dropFirst() {
        let result = MailProbe.run(try ProbeTarget(parsing: text), options: options)
        print(result.target, result.report.ok ? "ok" : "FAILED")
        for finding in result.report.findings where finding.status == .fail || finding.status == .warn {
            print("  \(finding.status.rawValue) \(finding.id): \(finding.message)")
        }
        failed = failed || !result.report.ok
    }
    exit(failed ? 1 : 0)
} catch let error as MailSecError {
    print("error:", error.message)
    if let remedy = error.remedy { print("fix:", remedy) }
    exit(2)
}
