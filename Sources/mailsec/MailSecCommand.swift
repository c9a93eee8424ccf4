import ArgumentParser

@main
struct MailSecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mailsec", version: "0.1.0")
}
