import ArgumentParser
import MailSec

struct AuthLogin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Make the two base64 lines of AUTH LOGIN (user name, password).",
        discussion: """
        Prints the two lines only, for scripts; --smtp prints the whole exchange with the 334 challenges.

        Example:
          mailsec auth login --smtp test
        """
    )

    @Flag(help: "Print the exchange to type, with the server's 334 challenges.")
    var smtp = false

    @OptionGroup var credentials: UserAndPassword

    func run() throws {
        try runReportingErrors {
            let pass = try credentials.readPassword()
            let user = credentials.user
            let lines = try SASLMechanism.login(user: user, password: pass)
            if smtp {
                print("C: AUTH LOGIN")
                print("S: 334 VXNlcm5hbWU6        (\"Username:\")")
                print("C: \(lines.user)")
                print("S: 334 UGFzc3dvcmQ6        (\"Password:\")")
                print("C: \(lines.password.text)")
                print("S: 235 2.7.0 Authentication successful")
            } else {
                print(lines.user)
                print(lines.password.text)
            }
        }
    }
}
