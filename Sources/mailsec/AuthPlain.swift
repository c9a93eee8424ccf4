import ArgumentParser
import MailSec

struct AuthPlain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plain",
        abstract: "Make the base64 string for AUTH PLAIN (RFC 4616).",
        discussion: """
        Prints only the string, for scripts. The password comes from the argument, stdin, \
        --password-file, or a prompt.

        Example:
          mailsec auth plain test test1234      # AHRlc3QAdGVzdDEyMzQ=
          mailsec auth plain --smtp test < pw   # the AUTH PLAIN line to type
        """
    )

    @Option(help: ArgumentHelp("Authorization identity (act as this user); usually empty.", valueName: "id"))
    var authzid = ""

    @Flag(help: "Print the SMTP command to type, not just the string.")
    var smtp = false

    @OptionGroup var credentials: UserAndPassword

    func run() throws {
        try runReportingErrors {
            let pass = try credentials.readPassword()
            let user = credentials.user
            let encoded = try SASLMechanism.plain(authzid: authzid, user: user, password: pass)
            if smtp {
                print("AUTH PLAIN \(encoded.text)")
                Terminal.printError("(the server answers 235 2.7.0 on success, 535 5.7.8 for wrong credentials)")
            } else {
                print(encoded.text)
            }
        }
    }
}
