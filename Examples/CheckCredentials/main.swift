// Checking a user's password on Dovecot's auth socket exactly as Postfix does:
// swift run example-check-credentials SOCKET USER < password
import Glibc
import MailSec

// A MailSecError says what is wrong and how to fix it: print both, exit 2.
do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.count == 2, let line = readLine(strippingNewline: true) else {
        print("usage: example-check-credentials SOCKET USER < password")
        exit(2)
    }
    let client = try DovecotAuthClient(address: .unix(arguments[0]))
    var request = AuthRequest()
    request.mechanism = "PLAIN"
    let verdict = try client.authenticate(user: arguments[1], password: SecureBytes(Array(line.utf8)), request: request)
    print(verdict.outcome.rawValue)
    exit(verdict.outcome == .success ? 0 : 1)
} catch let error as MailSecError {
    print("error:", error.message)
    if let remedy = error.remedy { print("fix:", remedy) }
    exit(2)
}
