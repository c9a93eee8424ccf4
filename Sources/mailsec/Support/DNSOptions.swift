import ArgumentParser
import MailSec

/// Where DANE's DNS lookups go: `--resolver` and `--trust-anchor`, shared by
/// every command that looks up TLSA or MX records.
struct DNSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Send every DNS lookup of the command to this server, ADDR or ADDR@PORT (default: the nameservers of /etc/resolv.conf).",
                               valueName: "addr"))
    var resolver: String?

    @Option(name: .customLong("trust-anchor"),
            help: ArgumentHelp("Validate from the DS or DNSKEY records (zone-file form) in FILE instead of the root's (repeatable; for private zones and tests).",
                               valueName: "file"))
    var trustAnchor: [String] = []

    func validate() throws {
        guard let resolver else { return }
        do { try DNSResolverOptions.validateForwarder(resolver) } catch let error as MailSecError { throw ValidationError("--resolver: " + error.message) }
    }

    /// The resolver options and one resolver made from them, to share: made
    /// here, so that an unreadable anchor or a bad resolver stops the command
    /// before any probe (exit 2).
    func makeResolver() throws -> (options: DNSResolverOptions, resolver: DNSResolver) {
        var options = DNSResolverOptions()
        options.forwarder = resolver
        options.trustAnchorFiles = trustAnchor
        return (options, try DNSResolver(options))
    }
}
