import ArgumentParser
import MailSec
import MailSecCLI

@main
struct MailSecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailsec",
        abstract: "TLS and SASL tools for Postfix and Dovecot mail servers.",
        discussion: """
        Exit codes: 0 success; 1 a check or an authentication failed; 2 the tool could not run \
        (bad input, I/O, protocol error, timeout); 64 usage error.
        """,
        version: MailSecVersion.current,
        subcommands: [GenKey.self, CA.self, Inspect.self, Verify.self, Auth.self, Probe.self, PreflightCommand.self, AuditCommand.self, DeployCommand.self, ExporterCommand.self, Dane.self]
    )

    /// Messages name mailsec's own options and commands from here on.
    static func main() {
        Vocabulary.bootstrap(.commandLine)
        main(nil)
    }
}
