import Glibc

/// A mechanism Dovecot offers, with its flags (plaintext, dictionary, active, forward-secrecy, mutual-auth, private...).
public struct AuthMechanismInfo: Sendable, Equatable {
    /// The mechanism's name (`PLAIN`, `SCRAM-SHA-256`).
    public var name: String
    /// Dovecot's flags for it: `plaintext`, `anonymous`, `dictionary`, `active`, `forward-secrecy`, `mutual-auth`, `private`.
    public var flags: [String]
}

/// What Dovecot said when we connected.
public struct DovecotHandshake: Sendable {
    /// The auth protocol's major version (1).
    public var majorVersion: Int
    /// Its minor version: 2 for Dovecot 2.3, 3 or 4 for 2.4.
    public var minorVersion: Int
    /// The mechanisms offered, in Dovecot's order.
    public var mechanisms: [AuthMechanismInfo]
    /// `SPID`: the auth server's process id.
    public var serverPID: String?
    /// `CUID`: this connection's id at the server.
    public var connectionID: String?
}

/// How a batch ended: with a verdict for every credential, or with some left
/// unchecked (counted, never silently dropped) and why.
public struct BatchOutcome: Sendable {
    /// Credentials that got no verdict because checking had to stop.
    public var unchecked = 0
    /// Why checking stopped early, when it did.
    public var stopReason: MailSecError?

    /// An outcome with `unchecked` credentials left over, and why.
    public init(unchecked: Int = 0, stopReason: MailSecError? = nil) {
        self.unchecked = unchecked
        self.stopReason = stopReason
    }

    /// Counts what is left in `source` as unchecked (streaming: nothing is kept).
    mutating func giveUp<Source: IteratorProtocol>(_ source: inout Source, because reason: MailSecError) {
        while source.next() != nil { unchecked += 1 }
        stopReason = reason
    }
}

/// A client of Dovecot's auth-client socket, speaking to it as Postfix does
/// (`smtpd_sasl_type = dovecot`). Requests are pipelined over one connection.
public final class DovecotAuthClient {
    /// The socket connected to.
    public let address: SocketAddress
    /// What Dovecot said when the connection opened.
    public private(set) var handshake: DovecotHandshake
    let timeout: Duration
    private var connection: (socket: Socket, reader: LineReader)
    private var nextID: UInt32 = 1

    /// Handshakes longer than this are not Dovecot's (it offers a dozen mechanisms).
    static let maximumHandshakeLines = 1_000

    /// Connects and completes the handshake. We send our VERSION and CPID at
    /// once: Dovecot 2.3 speaks first and reads them later, 2.4 waits for them.
    public init(address: SocketAddress, timeout: Duration = .seconds(10)) throws {
        self.address = address
        self.timeout = timeout
        (connection, handshake) = try Self.connect(address, timeout: timeout)
    }

    private static func connect(_ address: SocketAddress, timeout: Duration) throws -> ((Socket, LineReader), DovecotHandshake) {
        let deadline = Deadline.after(timeout)
        let socket: Socket
        do {
            socket = try Socket.connect(to: address, deadline: deadline, peerName: "Dovecot")
        } catch var error as MailSecError {
            if error.code == .fileNotFound, case .unix(let path) = address {
                error.remedy = """
                make Dovecot listen there (conf.d/10-master.conf), then reload it:
                service auth {
                  unix_listener \(path) {
                    mode = 0660
                    user = postfix
                    group = postfix
                  }
                }
                """
            }
            throw error
        }
        let reader = LineReader(stream: socket, maximumLineLength: AuthProtocolLine.maximumLength)
        let hello = "VERSION\t1\t2\nCPID\t\(getpid())\n"
        try Array(hello.utf8).withUnsafeBytes { try socket.write($0, deadline: deadline) }
        var state = DovecotHandshakeParser(address: address)
        while true {
            let line: [UInt8]?
            do {
                line = try reader.readLine(deadline: deadline)
            } catch let error as MailSecError where error.code == .timeout {
                throw MailSecError(.timeout, "\(address): no complete handshake within \(timeout.shortDescription)" + (state.sawVersion ? "" : " (nothing was said)"),
                                   remedy: "check that this is Dovecot's auth-client socket and that Dovecot is healthy (doveadm log errors)")
            }
            guard let line else {
                throw MailSecError(.connectionClosed, "\(address): Dovecot closed the connection during the handshake" + (state.sawVersion ? "" : " before saying anything"),
                                   remedy: "look at Dovecot's log (doveadm log errors); a socket of another service closes like this too")
            }
            if let handshake = try state.add(line) { return ((socket, reader), handshake) }
        }
    }

    /// Checks one credential.
    public func authenticate(user: String, password: SecureBytes, request: AuthRequest) throws -> AuthVerdict {
        var verdict: AuthVerdict?
        let outcome = try check([BatchCredential(line: 1, user: user, password: password)], request: request, concurrency: 1) { verdict = $0.verdict }
        if let verdict { return verdict }
        throw outcome.stopReason ?? MailSecError(.io, "\(address): no verdict")
    }

    /// Checks every credential, up to `concurrency` requests in flight on this
    /// one connection, calling `onResult` as verdicts arrive (in any order).
    /// Credentials are pulled from the sequence as room frees up, so a huge
    /// file streams through in constant memory. If Dovecot drops the
    /// connection, the requests in flight are reported as temporary failures
    /// and the rest go over a new connection; if it cannot be reached again,
    /// or keeps dropping without answering, the rest are counted as unchecked.
    @discardableResult
    public func check<Credentials: Sequence>(_ credentials: Credentials, request: AuthRequest, concurrency: Int,
                                             onResult: (BatchResult) -> Void) throws -> BatchOutcome where Credentials.Element == BatchCredential {
        var source = credentials.makeIterator()
        var engine = Pipeline(request: request, concurrency: max(1, concurrency), timeout: timeout)
        var outcome = BatchOutcome()
        var fruitlessDrops = 0
        while true {
            var answered = 0
            let finished = try engine.run(connection: connection, source: &source, nextID: &nextID) { result in
                answered += 1
                onResult(result)
            }
            if finished { return outcome }
            // Dovecot closed the connection: reconnect for the rest, unless it answers nothing any more.
            fruitlessDrops = answered > engine.droppedInFlight ? 0 : fruitlessDrops + 1
            guard fruitlessDrops < 3 else {
                outcome.giveUp(&source, because: MailSecError(.connectionClosed, "\(address): Dovecot keeps closing the connection without answering; see its log (doveadm log errors)"))
                return outcome
            }
            do {
                (connection, handshake) = try Self.connect(address, timeout: timeout)
            } catch let error as MailSecError {
                outcome.giveUp(&source, because: error)
                return outcome
            }
            nextID = 1
        }
    }
}

/// Dovecot's side of the handshake, line by line: VERSION, MECH, SPID, CUID,
/// COOKIE, DONE. Bounded, so an endless MECH list cannot grow without end.
struct DovecotHandshakeParser {
    let address: SocketAddress
    private var handshake = DovecotHandshake(majorVersion: 0, minorVersion: 0, mechanisms: [])
    private(set) var sawVersion = false
    private var lines = 0

    init(address: SocketAddress) {
        self.address = address
    }

    /// Takes one line; returns the handshake once DONE has come.
    mutating func add(_ line: [UInt8]) throws -> DovecotHandshake? {
        lines += 1
        guard lines <= DovecotAuthClient.maximumHandshakeLines else {
            throw MailSecError(.protocolViolation, "\(address): a handshake of more than \(DovecotAuthClient.maximumHandshakeLines) lines without DONE; this is not a healthy Dovecot")
        }
        let fields = AuthProtocolLine.fields(line)
        switch fields[0] {
        case "VERSION":
            guard fields.count >= 3, let major = Int(fields[1]), let minor = Int(fields[2]) else {
                throw MailSecError(.protocolViolation, "\(address): malformed VERSION line: \(AuthProtocolLine.sanitized(line))")
            }
            guard major == 1 else {
                throw MailSecError(.protocolViolation, "\(address): Dovecot speaks auth protocol \(major).\(minor); mailsec speaks 1.x")
            }
            handshake.majorVersion = major
            handshake.minorVersion = minor
            sawVersion = true
        case "MECH" where fields.count >= 2:
            handshake.mechanisms.append(AuthMechanismInfo(name: fields[1], flags: Array(fields.dropFirst(2).prefix(32))))
        case "SPID":
            handshake.serverPID = fields.count > 1 ? fields[1] : nil
            if handshake.mechanisms.isEmpty {
                throw MailSecError(.invalidInput, "\(address) is Dovecot's auth-master socket (it answers SPID without MECH), which looks up users; Postfix needs the auth-client socket",
                                   remedy: "use the unix_listener of `service auth` meant for clients, e.g. /var/spool/postfix/private/auth or /run/dovecot/auth-client, not auth-master or auth-userdb")
            }
        case "CUID":
            handshake.connectionID = fields.count > 1 ? fields[1] : nil
        case "COOKIE":
            break   // only for master requests; never shown
        case "DONE":
            guard sawVersion else { throw MailSecError(.protocolViolation, "\(address): DONE before VERSION; this is not a Dovecot auth socket") }
            return handshake
        default:
            guard sawVersion else {
                throw MailSecError(.invalidInput, "\(address) is not a Dovecot auth socket: it began with \(TextSanitizer.quoted(AuthProtocolLine.sanitized(line)))")
            }
        }
        return nil
    }
}

/// The request/reply bookkeeping of one connection.
private struct Pipeline {
    struct InFlight {
        var credential: BatchCredential
        var exchange: SASLExchange
        var started: ContinuousClock.Instant
    }

    let request: AuthRequest
    let concurrency: Int
    let timeout: Duration
    var inFlight: [UInt32: InFlight] = [:]
    /// Request ids in the order sent, for timeouts (oldest first).
    var sendOrder: [UInt32] = []
    var sendOrderHead = 0
    var output: [UInt8] = []
    var outputOffset = 0
    var exhausted = false
    /// How many requests the last dropped connection took with it.
    private(set) var droppedInFlight = 0

    init(request: AuthRequest, concurrency: Int, timeout: Duration) {
        self.request = request
        self.concurrency = concurrency
        self.timeout = timeout
    }

    /// Runs until every credential has a verdict (true) or the connection closed (false).
    mutating func run<Source: IteratorProtocol>(connection: (socket: Socket, reader: LineReader), source: inout Source, nextID: inout UInt32,
                                                onResult: (BatchResult) -> Void) throws -> Bool where Source.Element == BatchCredential {
        defer { wipeOutput() }
        let (socket, reader) = connection
        while true {
            while !exhausted && inFlight.count < concurrency {
                guard let credential = source.next() else { exhausted = true; break }
                let id = nextID
                nextID = nextID == UInt32.max ? 1 : nextID + 1
                do {
                    let exchange = try request.makeExchange(user: credential.user, password: credential.password)
                    try enqueueAuth(id: id, exchange: exchange)
                    inFlight[id] = InFlight(credential: credential, exchange: exchange, started: .now)
                } catch let error as MailSecError {
                    // A credential that cannot be sent (a NUL in it) gets its verdict;
                    // anything else (a missing libsasl2 plugin) stops the run.
                    guard error.code == .invalidInput else { throw error }
                    onResult(BatchResult(line: credential.line, user: credential.user,
                                         verdict: AuthVerdict(outcome: .temporary, code: "invalid_input", reason: error.message, milliseconds: 0)))
                    continue
                }
                sendOrder.append(id)
            }
            if exhausted && inFlight.isEmpty { return true }

            let wait = Deadline(oldestStart().map { $0.advanced(by: timeout) } ?? ContinuousClock.now.advanced(by: timeout))
            var open = true
            do {
                let ready = try socket.poll(outputOffset < output.count ? [.readable, .writable] : .readable, deadline: wait)
                if ready.contains(.readable) {
                    open = try reader.fillAvailable()
                    try handleLines(reader, socket, onResult: onResult)
                }
                if open && ready.contains(.writable) { try flush(socket) }
            } catch let error as MailSecError where error.code == .connectionClosed {
                open = false
            }
            if !open {
                // Answers Dovecot sent before it went away may still be queued
                // here (a write fails with EPIPE first): each is a verdict.
                try drainAnswers(reader, socket, onResult: onResult)
                droppedInFlight = inFlight.count
                failAll(reason: "Dovecot closed the connection with this request pending (a duplicate id, a missing service= or an unknown mechanism make it do that; see its log)", onResult: onResult)
                return false
            }
            expireTimedOut(onResult: onResult)
        }
    }

    /// Reads what is left after the peer closed, until end of stream.
    private mutating func drainAnswers(_ reader: LineReader, _ socket: Socket, onResult: (BatchResult) -> Void) throws {
        while !inFlight.isEmpty {
            let before = reader.totalReceived
            let open = (try? reader.fillAvailable()) ?? false
            do {
                try handleLines(reader, socket, onResult: onResult)
            } catch let error as MailSecError where error.code == .connectionClosed {
                return   // a CONT answer that can no longer be sent
            }
            if !open || reader.totalReceived == before { return }
        }
    }

    private mutating func enqueueAuth(id: UInt32, exchange: SASLExchange) throws {
        var line = "AUTH\t\(id)\t\(exchange.mechanism)\tservice=\(AuthProtocolLine.escape(request.service))"
        if request.secured { line += "\tsecured" }
        if request.noLogin { line += "\tnologin" }
        if request.noPenalty { line += "\tno-penalty" }
        if let local = request.localIP { line += "\tlip=\(AuthProtocolLine.escape(local))" }
        if let remote = request.remoteIP { line += "\trip=\(AuthProtocolLine.escape(remote))" }
        if let initial = try exchange.start() {
            // resp= goes last; an empty value is an empty initial response.
            output.append(contentsOf: (line + "\tresp=").utf8)
            initial.withUnsafeBytes { Base64.encodeSecure($0) }.withUnsafeBytes { output.append(contentsOf: $0) }
        } else {
            output.append(contentsOf: line.utf8)
        }
        output.append(0x0a)
        guard output.count - outputOffset <= 64 * 1024 * 1024 else { throw MailSecError(.io, "output buffer overflow") }
    }

    private mutating func flush(_ socket: Socket) throws {
        let written = try output[outputOffset...].withUnsafeBytes { try socket.writeAvailable($0) }
        outputOffset += written
        if outputOffset == output.count { wipeOutput() }
    }

    /// The output holds passwords in base64: zero it before letting go.
    private mutating func wipeOutput() {
        SecureMemory.wipe(&output)
        output.removeAll(keepingCapacity: true)
        outputOffset = 0
    }

    private mutating func handleLines(_ reader: LineReader, _ socket: Socket, onResult: (BatchResult) -> Void) throws {
        while let line = try reader.takeBufferedLine() {
            let fields = AuthProtocolLine.fields(line)
            guard ["OK", "FAIL", "CONT"].contains(fields[0]) else { continue }
            guard fields.count >= 2, let id = UInt32(fields[1]) else {
                throw MailSecError(.protocolViolation, "malformed reply from Dovecot: \(AuthProtocolLine.sanitized(line))")
            }
            guard let pending = inFlight[id] else { continue }   // a late answer to a request that timed out
            let parameters = AuthProtocolLine.parameters(fields.dropFirst(2))
            let elapsed = (ContinuousClock.now - pending.started).milliseconds
            switch fields[0] {
            case "CONT":
                let challenge = fields.count > 2 ? (try? Base64.decode(Array(fields[2].utf8))) : []
                let answer: SecureBytes
                do {
                    guard let challenge else { throw MailSecError(.protocolViolation, "Dovecot sent a challenge that is not base64") }
                    answer = try pending.exchange.respond(to: challenge)
                } catch let error as MailSecError {
                    finish(id, AuthVerdict(outcome: .temporary, code: "protocol", reason: error.message, milliseconds: elapsed), onResult)
                    continue
                }
                output.append(contentsOf: "CONT\t\(id)\t".utf8)
                answer.withUnsafeBytes { Base64.encodeSecure($0) }.withUnsafeBytes { output.append(contentsOf: $0) }
                output.append(0x0a)
                try flush(socket)
            case "OK":
                finish(id, Self.acceptance(parameters, exchange: pending.exchange, milliseconds: elapsed), onResult)
            default: // FAIL
                let code = parameters["code"] ?? (parameters["temp"] != nil ? "temp_fail" : nil)
                let temporary = code == "temp_fail"
                var reason = parameters["reason"]
                if reason == nil {
                    switch code {
                    case "temp_fail": reason = "temporary failure in Dovecot (a database or passdb error; see its log)"
                    case "user_disabled": reason = "the account is disabled"
                    case "pass_expired": reason = "the password has expired"
                    case "authz_fail": reason = "the authorization identity is not allowed for this user"
                    case "invalid_base64": reason = "Dovecot could not decode the request"
                    default:
                        reason = "wrong user name or password"
                        if !["PLAIN", "LOGIN"].contains(pending.exchange.mechanism) {
                            reason! += " (or the password is stored as a hash \(pending.exchange.mechanism) cannot use: it needs the plain password or a hash of its own scheme in the passdb)"
                        }
                    }
                }
                finish(id, AuthVerdict(outcome: temporary ? .temporary : .rejected, user: parameters["user"], code: code,
                                       reason: reason, milliseconds: elapsed), onResult)
            }
        }
    }

    /// The verdict for an OK: success, unless Postfix would still refuse it.
    private static func acceptance(_ parameters: [String: String], exchange: SASLExchange, milliseconds: Double) -> AuthVerdict {
        func refused(_ code: String, _ reason: String) -> AuthVerdict {
            AuthVerdict(outcome: .rejected, user: parameters["user"], code: code, reason: reason, milliseconds: milliseconds)
        }
        if let final = parameters["resp"], let data = try? Base64.decode(Array(final.utf8)) {
            // SCRAM's server signature: proof that the server knows the password too.
            do {
                try exchange.finish(serverData: data)
            } catch {
                return refused("server_signature", "Dovecot accepted, but its final message did not verify (mutual authentication failed): \(error)")
            }
        }
        if parameters["nologin"] != nil {
            return refused("nologin", parameters["reason"] ?? "the password is right, but the account may not log in (nologin)")
        }
        if parameters["proxy"] != nil {
            return refused("proxy", "the password is right, but Dovecot would proxy this login\(parameters["host"].map { " to \($0)" } ?? ""); Postfix treats that as a failure")
        }
        return AuthVerdict(outcome: .success, user: parameters["user"], milliseconds: milliseconds)
    }

    private mutating func finish(_ id: UInt32, _ verdict: AuthVerdict, _ onResult: (BatchResult) -> Void) {
        guard let pending = inFlight.removeValue(forKey: id) else { return }
        onResult(BatchResult(line: pending.credential.line, user: pending.credential.user, verdict: verdict))
    }

    private mutating func oldestStart() -> ContinuousClock.Instant? {
        while sendOrderHead < sendOrder.count, inFlight[sendOrder[sendOrderHead]] == nil { sendOrderHead += 1 }
        if sendOrderHead > 4096 {
            sendOrder.removeFirst(sendOrderHead)
            sendOrderHead = 0
        }
        return sendOrderHead < sendOrder.count ? inFlight[sendOrder[sendOrderHead]]!.started : nil
    }

    private mutating func expireTimedOut(onResult: (BatchResult) -> Void) {
        let now = ContinuousClock.now
        while let started = oldestStart(), now - started >= timeout {
            let id = sendOrder[sendOrderHead]
            finish(id, AuthVerdict(outcome: .temporary, code: "timeout",
                                   reason: "no answer within \(timeout.shortDescription) (Postfix would have given up after 10 s with 454 4.7.0)",
                                   milliseconds: (now - started).milliseconds), onResult)
        }
    }

    private mutating func failAll(reason: String, onResult: (BatchResult) -> Void) {
        let now = ContinuousClock.now
        for id in sendOrder[sendOrderHead...] where inFlight[id] != nil {
            let started = inFlight[id]!.started
            finish(id, AuthVerdict(outcome: .temporary, code: "disconnected", reason: reason, milliseconds: (now - started).milliseconds), onResult)
        }
        sendOrder.removeAll()
        sendOrderHead = 0
    }
}
