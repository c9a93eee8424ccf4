// Deploying a renewed certificate to Postfix and Dovecot, proven served or
// rolled back, with the DANE guard on: swift run example-deploy-renewal FULLCHAIN KEY
import Glibc
import MailSec

// A MailSecError says what is wrong and how to fix it: print both, exit 2.
do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.count == 2 else {
        print("usage: example-deploy-renewal FULLCHAIN KEY")
        exit(2)
    }
    var request = DeployRequest(certificatePath: arguments[0], keyPath: arguments[1])
    request.dane = DNSResolverOptions()   // refuse when the published TLSA records would not match
    let deployed = try Deploy.run(request)
    for finding in deployed.report.findings { print(finding.status.rawValue, finding.id, finding.message) }
    exit(deployed.ok ? 0 : 1)
} catch let error as MailSecError {
    print("error:", error.message)
    if let remedy = error.remedy { print("fix:", remedy) }
    exit(2)
}
