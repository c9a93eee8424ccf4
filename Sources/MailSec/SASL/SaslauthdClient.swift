/// Speaks saslauthd's socket protocol directly (what `testsaslauthd` does):
/// four length-prefixed strings (login, password, service, realm) on a fresh
/// connection, answered by one length-prefixed `OK ...` or `NO ...`.
public final class SaslauthdClient {
    /// Where Debian's saslauthd listens (Postfix's chroot has its own: `/var/spool/postfix/var/run/saslauthd/mux`).
    public static let defaultSocket = "/var/run/saslauthd/mux"

    /// The socket.
    public let path: String
    /// The service PAM is asked for (Postfix: `smtp`).
    public let service: String
    /// The realm sent (empty: none).
    public let realm: String
    let timeout: Duration

    /// A client for the socket at `path`; nothing is connected until a check (saslauthd answers one request per connection).
    public init(path: String = SaslauthdClient.defaultSocket, service: String = "smtp", realm: String = "", timeout: Duration = .seconds(10)) throws {
        self.path = path
        self.service = service
        self.realm = realm
        self.timeout = timeout
        // Fail early, with the cause, when saslauthd is not there at all.
        _ = try Self.connect(path, timeout: timeout)
    }

    private static func connect(_ path: String, timeout: Duration) throws -> Socket {
        do {
            return try Socket.connect(to: .unix(path), deadline: .after(timeout), peerName: "saslauthd")
        } catch var error as MailSecError {
            switch error.code {
            case .fileNotFound:
                error.message = "saslauthd is not running, or listens elsewhere: no socket at \(path)"
                error.remedy = "start it (Debian: START=yes in /etc/default/saslauthd, then systemctl restart saslauthd); Postfix in its chroot needs it under /var/spool/postfix/var/run/saslauthd (OPTIONS=\"-c -m /var/spool/postfix/var/run/saslauthd\")"
            case .connectionRefused:
                error.remedy = "saslauthd is not running (a stale socket); start it: systemctl restart saslauthd"
            default: break
            }
            throw error
        }
    }


    /// Checks every credential, up to `concurrency` connections at once
    /// (saslauthd answers one request per connection, with several workers).
    /// When the socket cannot be reached three times in a row, the rest are
    /// counted as unchecked instead of each failing the same way.
    @discardableResult
    public func check<Credentials: Sequence>(_ credentials: Credentials, concurrency: Int,
                                             onResult: (BatchResult) -> Void) throws -> BatchOutcome where Credentials.Element == BatchCredential {
        var source = credentials.makeIterator()
        var outcome = BatchOutcome()
        var active: [Request] = []
        var exhausted = false
        var failedConnects = 0
        while true {
            while !exhausted && active.count < max(1, concurrency) {
                guard let credential = source.next() else { exhausted = true; break }
                do {
                    active.append(try Request(credential: credential, client: self))
                    failedConnects = 0
                } catch let error as MailSecError where error.code != .invalidInput {
                    onResult(BatchResult(line: credential.line, user: credential.user,
                                         verdict: AuthVerdict(outcome: .temporary, code: "unreachable", reason: error.message, milliseconds: 0)))
                    failedConnects += 1
                    if failedConnects >= 3 {
                        exhausted = true
                        outcome.giveUp(&source, because: error)
                    }
                } catch let error as MailSecError {
                    onResult(BatchResult(line: credential.line, user: credential.user,
                                         verdict: AuthVerdict(outcome: .temporary, code: "invalid_input", reason: error.message, milliseconds: 0)))
                }
            }
            if active.isEmpty { return outcome }
            let soonest = active.map(\.deadline).min()!
            let ready = try Socket.poll(active.map { ($0.socket, $0.pendingOutput ? .writable : .readable) }, deadline: soonest)
            var remaining: [Request] = []
            for (request, events) in zip(active, ready) {
                var done: AuthVerdict?
                if !events.isEmpty {
                    done = request.advance()
                } else if request.deadline.hasPassed {
                    done = AuthVerdict(outcome: .temporary, code: "timeout", reason: "saslauthd did not answer within \(timeout.shortDescription)",
                                       milliseconds: (ContinuousClock.now - request.started).milliseconds)
                }
                if let done {
                    onResult(BatchResult(line: request.credential.line, user: request.credential.user, verdict: done))
                } else {
                    remaining.append(request)
                }
            }
            active = remaining
        }
    }

    /// One request on its own connection.
    final class Request {
        let credential: BatchCredential
        let socket: Socket
        let started = ContinuousClock.now
        let deadline: Deadline
        private var output: [UInt8] = []
        private var written = 0
        private var input: [UInt8] = []

        var pendingOutput: Bool { written < output.count }

        init(credential: BatchCredential, client: SaslauthdClient) throws {
            self.credential = credential
            deadline = .after(client.timeout)
            for field in [SecureBytes(Array(credential.user.utf8)), credential.password,
                          SecureBytes(Array(client.service.utf8)), SecureBytes(Array(client.realm.utf8))] {
                guard field.count <= 65_535 else { throw MailSecError(.invalidInput, "a field longer than 65535 bytes cannot be sent to saslauthd") }
            }
            socket = try SaslauthdClient.connect(client.path, timeout: client.timeout)
            for field in [SecureBytes(Array(credential.user.utf8)), credential.password,
                          SecureBytes(Array(client.service.utf8)), SecureBytes(Array(client.realm.utf8))] {
                output.append(UInt8(field.count >> 8))
                output.append(UInt8(field.count & 0xff))
                field.withUnsafeBytes { output.append(contentsOf: $0) }
            }
        }

        deinit {
            SecureMemory.wipe(&output)
        }

        /// Moves the exchange on; returns the verdict when it is complete.
        func advance() -> AuthVerdict? {
            let elapsed = { (ContinuousClock.now - self.started).milliseconds }
            do {
                if pendingOutput {
                    written += try output[written...].withUnsafeBytes { try socket.writeAvailable($0) }
                    if !pendingOutput { SecureMemory.wipe(&output) }
                    return nil
                }
                var chunk = [UInt8](repeating: 0, count: 1024)
                guard let count = try chunk.withUnsafeMutableBytes({ try socket.readAvailable(into: $0) }) else { return nil }
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
            } catch let error as MailSecError {
                return AuthVerdict(outcome: .temporary, code: error.code == .connectionClosed ? "disconnected" : "io", reason: error.message, milliseconds: elapsed())
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
