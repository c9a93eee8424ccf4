import ArgumentParser
import MailSec

struct AuthCramMD5: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cram-md5",
        abstract: "Answer a CRAM-MD5 challenge (RFC 2195).",
        discussion: """
        Give the base64 text the server sent after 334.

        Example (RFC 2195's):
          mailsec auth cram-md5 --challenge PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+ tim
        """
    )

    @Option(help: ArgumentHelp("The server's challenge, base64, as sent after '334 '.", valueName: "base64"))
    var challenge: String

    @OptionGroup var credentials: UserAndPassword

    func run() throws {
        try runReportingErrors {
            let pass = try credentials.readPassword()
            let user = credentials.user
            print(try SASLMechanism.cramMD5(user: user, password: pass, challengeBase64: challenge).text)
        }
    }
}
