import ArgumentParser
import MailSec

struct AuthMechanisms: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mechanisms",
        abstract: "List the mechanisms Dovecot offers on its auth socket, with their flags.",
        discussion: """
        Example:
          mailsec auth mechanisms --socket /var/spool/postfix/private/auth
        """
    )

    @OptionGroup var connection: AuthSocketOptions

    @Flag(help: "Print one JSON document.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let client = try DovecotAuthClient(address: connection.address, timeout: connection.timeout)
            let handshake = client.handshake
            if json {
                try JSONOutput.print(MechanismsJSON(socket: connection.socket, version: "\(handshake.majorVersion).\(handshake.minorVersion)",
                                                    mechanisms: handshake.mechanisms.map { .init(name: $0.name, flags: $0.flags) }))
                return
            }
            let renderer = HumanRenderer()
            print(renderer.heading("\(connection.socket): Dovecot auth protocol \(handshake.majorVersion).\(handshake.minorVersion)"))
            let width = (handshake.mechanisms.map(\.name.count).max() ?? 0) + 2
            for mechanism in handshake.mechanisms {
                let flags = mechanism.flags.isEmpty ? "" : renderer.style.dim(mechanism.flags.joined(separator: ", "))
                print("  \(mechanism.name.padded(to: width))\(flags)")
            }
            let plaintext = handshake.mechanisms.filter { $0.flags.contains("plaintext") }.map(\.name)
            if !plaintext.isEmpty {
                print()
                print("\(plaintext.joined(separator: ", ")) send the password in the clear: offer them only after TLS (smtpd_tls_auth_only = yes, or port 465).")
            }
        }
    }
}

struct MechanismsJSON: Encodable {
    struct Mechanism: Encodable {
        let name: String
        let flags: [String]
    }
    let socket: String
    let version: String
    let mechanisms: [Mechanism]
}
