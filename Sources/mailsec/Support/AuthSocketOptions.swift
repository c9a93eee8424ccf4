import ArgumentParser
import MailSec

/// `--socket` and `--timeout`, shared by the commands that talk to Dovecot.
struct AuthSocketOptions: ParsableArguments {
    @Option(name: .customLong("socket"), help: ArgumentHelp("Dovecot's auth-client socket, a path or inet:HOST:PORT (default Postfix's /var/spool/postfix/private/auth); with --saslauthd, saslauthd's socket (default /var/run/saslauthd/mux).", valueName: "socket"))
    var socketOption: String?

    static let dovecotDefault = "/var/spool/postfix/private/auth"

    var socket: String { socketOption ?? Self.dovecotDefault }

    @Option(name: .customLong("timeout"), help: ArgumentHelp("Seconds to wait for each answer (Postfix waits 10).", valueName: "seconds"))
    var timeoutSeconds: Double = 10

    var timeout: Duration { .seconds(timeoutSeconds) }

    func validate() throws {
        guard timeoutSeconds > 0, timeoutSeconds <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
        if let socketOption {
            do { _ = try SocketAddress(parsing: socketOption) } catch let error as MailSecError { throw ValidationError(error.message) }
        }
    }

    var address: SocketAddress { (try? SocketAddress(parsing: socket)) ?? .unix(socket) }
}
