#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Speaks saslauthd's socket protocol directly (what `testsaslauthd` does):
/// four length-prefixed strings (login, password, service, realm) on a fresh
/// connection, answered by one length-prefixed `OK ...` or `NO ...`.
public final class SaslauthdClient {
    public static let defaultSocket = "/var/run/saslauthd/mux"

    public let path: String
    public let service: String
    public let realm: String
    let timeout: Double

    public init(path: String = SaslauthdClient.defaultSocket, service: String = "smtp", realm: String = "", timeout: Double = 10) throws {
        self.path = path
        self.service = service
        self.realm = realm
        self.timeout = timeout
        // Fail early, with the cause, when saslauthd is not there at all.
        do {
            _ = try LineSocket(connectingTo: .unix(path), timeout: timeout, maximumLineLength: 1024, peerName: "saslauthd")
        } catch var error as MailSecError {
            switch error.code {
            case .fileNotFound:
                error.message = "saslauthd is not running, or listens elsewhere: no socket at \(path)"
                error.remedy = "start it (Debian: START=yes in /etc/default/saslauthd, then systemctl restart saslauthd); Postfix in its chroot needs it under /var/spool/postfix/var/run/saslauthd (OPTIONS=\"-c -m /var/spool/postfix/var/run/saslauthd\")"
            case .io where error.message.contains("refused"):
                error.remedy = "saslauthd is not running (a stale socket); start it: systemctl restart saslauthd"
            default: break
            }
            throw error
        }
    }

    /// Checks one credential.
    public func check(user: String, password: SecureBytes) throws -> AuthVerdict {
        var verdict: AuthVerdict?
        try check([BatchCredential(line: 1, user: user, password: password)], concurrency: 1) { verdict = $0.verdict }
        return verdict!
    }

    /// Checks every credential, up to `concurrency` connections at once
    /// (saslauthd answers one request per connection, with several workers).
    public func check<Credentials: Sequence>(_ credentials: Credentials, concurrency: Int,
                                             onResult: (BatchResult) -> Void) throws where Credentials.Element == BatchCredential {
        var source = credentials.makeIterator()
        var active: [Request] = []
        var exhausted = false
        while true {
            while !exhausted && active.count < max(1, concurrency) {
                guard let credential = source.next() else { exhausted = true; break }
                active.append(try Request(credential: credential, client: self))
            }
            if active.isEmpty { return }
            var pollers = active.map { pollfd(fd: $0.socket.descriptor, events: Int16($0.pendingOutput ? POLLOUT : POLLIN), revents: 0) }
            let soonest = active.map(\.deadline).min()!
            let wait = max(0, soonest - Monotonic.milliseconds())
            _ = Glibc.poll(&pollers, nfds_t(pollers.count), Int32(min(wait, 60_000).rounded(.up)))
            var index = 0
            while index < active.count {
                let request = active[index]
                var done: AuthVerdict?
                if pollers[index].revents != 0 {
                    done = request.advance()
                } else if Monotonic.milliseconds() >= request.deadline {
                    done = AuthVerdict(outcome: .temporary, code: "timeout", reason: "saslauthd did not answer within \(Int(timeout)) s",
                                       milliseconds: Monotonic.milliseconds() - request.started)
                }
                if let done {
                    onResult(BatchResult(line: request.credential.line, user: request.credential.user, verdict: done))
                    active.remove(at: index)
                    pollers.remove(at: index)
                } else {
                    index += 1
                }
            }
        }
    }

    /// One request on its own connection.
    final class Request {
        let credential: BatchCredential
        let socket: LineSocket
        let started = Monotonic.milliseconds()
        let deadline: Double
        private var output: [UInt8] = []
        private var written = 0
        private var input: [UInt8] = []

        var pendingOutput: Bool { written < output.count }

        init(credential: BatchCredential, client: SaslauthdClient) throws {
            self.credential = credential
            deadline = started + client.timeout * 1000
            socket = try LineSocket(connectingTo: .unix(client.path), timeout: client.timeout, maximumLineLength: 1024, peerName: "saslauthd")
            for field in [SecureBytes(Array(credential.user.utf8)), credential.password,
                          SecureBytes(Array(client.service.utf8)), SecureBytes(Array(client.realm.utf8))] {
                guard field.count <= 65_535 else { throw MailSecError(.invalidInput, "a field longer than 65535 bytes cannot be sent to saslauthd") }
                output.append(UInt8(field.count >> 8))
                output.append(UInt8(field.count & 0xff))
                field.withUnsafeBytes { output.append(contentsOf: $0) }
            }
        }

        deinit {
            for index in output.indices { output[index] = 0 }
        }

        /// Moves the exchange on; returns the verdict when it is complete.
        func advance() -> AuthVerdict? {
            let elapsed = { Monotonic.milliseconds() - self.started }
            do {
                if pendingOutput {
                    written += try output[written...].withUnsafeBytes { try socket.writeAvailable($0) }
                    if !pendingOutput { for index in output.indices { output[index] = 0 } }
                    return nil
                }
                var chunk = [UInt8](repeating: 0, count: 1024)
                let count = Glibc.read(socket.descriptor, &chunk, chunk.count)
                if count < 0 {
                    if errno == EAGAIN || errno == EINTR { return nil }
                    throw MailSecError(.io, "reading from saslauthd: \(String(cString: strerror(errno)))")
                }
                if count > 0 { input.append(contentsOf: chunk[0..<count]) }
                if input.count >= 2 {
                    let length = Int(input[0]) << 8 | Int(input[1])
                    if input.count >= 2 + length {
                        let answer = String(decoding: input[2..<(2 + length)], as: UTF8.self)
                        return Self.verdict(answer, milliseconds: elapsed())
                    }
                }
                if count == 0 {
                    return AuthVerdict(outcome: .temporary, code: "disconnected", reason: "saslauthd closed the connection without an answer", milliseconds: elapsed())
                }
                return nil
            } catch {
                return AuthVerdict(outcome: .temporary, code: "io", reason: "\(error)", milliseconds: elapsed())
            }
        }

        static func verdict(_ answer: String, milliseconds: Double) -> AuthVerdict {
            let message = answer.dropFirst(2).trimmingPrefix(" ")
            let reason = message.hasPrefix("\"") && message.hasSuffix("\"") && message.count >= 2 ? String(message.dropFirst().dropLast()) : String(message)
            if answer.hasPrefix("OK") { return AuthVerdict(outcome: .success, milliseconds: milliseconds) }
            if answer.hasPrefix("NO") {
                return AuthVerdict(outcome: .rejected, reason: reason.isEmpty ? "authentication failed" : "saslauthd: \(reason)", milliseconds: milliseconds)
            }
            return AuthVerdict(outcome: .temporary, code: "malformed", reason: "saslauthd answered something unexpected: \(answer.prefix(80))", milliseconds: milliseconds)
        }
    }
}
