import ArgumentParser

struct Auth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "SMTP AUTH strings, and credential checks against Dovecot's auth socket as Postfix makes them.",
        subcommands: [AuthPlain.self, AuthLogin.self, AuthCramMD5.self, AuthXOAuth2.self, AuthDecode.self,
                      AuthMechanisms.self, AuthTest.self]
    )
}
