import ArgumentParser
import MailSec

struct AuthXOAuth2: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xoauth2",
        abstract: "Make the XOAUTH2 initial response from a user and an OAuth 2.0 access token.",
        discussion: """
        Example:
          mailsec auth xoauth2 user@example.com < token.txt
        """
    )

    @Flag(help: "Print the SMTP command to type, not just the string.")
    var smtp = false

    @Argument(help: "User (e-mail address).")
    var user: String

    @Argument(help: "Access token (better: stdin, --password-file or the prompt).")
    var token: String?

    @OptionGroup var secret: SecretInput

    func run() throws {
        try runReportingErrors {
            let bearer = try secret.read(argument: token, what: "token", for: user)
            let encoded = try SASLMechanism.xoauth2(user: user, token: bearer)
            print(smtp ? "AUTH XOAUTH2 \(encoded.text)" : encoded.text)
        }
    }
}
