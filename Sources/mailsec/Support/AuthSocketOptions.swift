import ArgumentParser
import MailSec

/// `--socket` and `--timeout`, shared by the commands that talk to Dovecot.
struct AuthSocketOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Dovecot's auth-client socket: a path (Postfix's is /var/spool/postfix/private/auth), or inet:HOST:PORT.", valueName: "socket"))
    var socket = "/var/spool/postfix/private/auth"

    @Option(help: ArgumentHelp("Seconds to wait for each answer (Postfix waits 10).", valueName: "seconds"))
    var timeout: Double = 10

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
        do { _ = try SocketAddress(parsing: socket) } catch let error as MailSecError { throw ValidationError(error.message) }
    }

    var address: SocketAddress { (try? SocketAddress(parsing: socket)) ?? .unix(socket) }
}
