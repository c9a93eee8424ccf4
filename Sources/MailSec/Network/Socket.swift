import Glibc

/// What poll(2) should wait for, or found.
struct PollEvents: OptionSet, Sendable {
    let rawValue: Int16
    static let readable = PollEvents(rawValue: Int16(POLLIN))
    static let writable = PollEvents(rawValue: Int16(POLLOUT))

    /// What a returned `revents` means for a caller: hang-up and error wake a reader.
    init(returned revents: Int16) {
        var events: PollEvents = []
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { events.insert(.readable) }
        if revents & Int16(POLLOUT | POLLERR) != 0 { events.insert(.writable) }
        self = events
    }

    init(rawValue: Int16) {
        self.rawValue = rawValue
    }
}

/// Bytes in both directions with deadlines: a plain socket or a TLS session on one.
/// Protocol code reads through a `LineReader` and never sees a descriptor.
protocol ByteStream: AnyObject {
    /// Who is at the other end, for messages ("the server", "Dovecot").
    var peerName: String { get }
    /// Reads what is there without waiting: the count, 0 at end of stream, nil when nothing has arrived yet.
    func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws -> Int?
    /// Reads at least one byte, waiting until `deadline`; 0 at end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws -> Int
    /// Writes every byte before `deadline`.
    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws
}

/// A connected stream socket that owns its descriptor. Non-blocking: every
/// wait is a poll(2) bounded by a deadline. Sends never raise SIGPIPE
/// (MSG_NOSIGNAL), so a peer that closes is an error value, not a dead process.
final class Socket: ByteStream {
    private let descriptor: Int32
    let address: SocketAddress
    let peerName: String
    /// The errno of the last failed read or write; the TLS layer reads it to say why a record failed.
    private(set) var lastError: Errno?

    private init(descriptor: Int32, address: SocketAddress, peerName: String) {
        self.descriptor = descriptor
        self.address = address
        self.peerName = peerName
    }

    deinit {
        close(descriptor)
    }

    /// Connects before `deadline`, from `source` when given (an address of this
    /// machine, as swaks' --local-interface). Errors say what is at the address.
    static func connect(to address: SocketAddress, source: String? = nil, deadline: Deadline, peerName: String) throws -> Socket {
        switch address {
        case .unix(let path):
            return Socket(descriptor: try connectUnix(path, deadline: deadline, peerName: peerName), address: address, peerName: peerName)
        case .inet(let host, let port):
            let socket = Socket(descriptor: try connectInet(host: host, port: port, source: source, deadline: deadline, peerName: peerName),
                                address: address, peerName: peerName)
            socket.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            return socket
        }
    }

    // MARK: Reading and writing

    func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        armQuickAck()
        do {
            let count = try SystemCall.nonBlocking { recv(descriptor, buffer.baseAddress, buffer.count, 0) }
            lastError = nil
            return count
        } catch {
            lastError = error
            // A reset is how many servers end a session: the stream is over.
            if error.meansPeerClosed { return 0 }
            throw MailSecError(.io, "reading from \(peerName) at \(address): \(error)", systemError: error)
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws -> Int {
        while true {
            if let count = try readAvailable(into: buffer) { return count }
            try wait(for: .readable, deadline: deadline)
        }
    }

    /// Writes what the socket takes now; returns how much (0 when it would block).
    func writeAvailable(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        do {
            let written = try SystemCall.nonBlocking { send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) } ?? 0
            lastError = nil
            return written
        } catch {
            lastError = error
            if error.meansPeerClosed {
                throw MailSecError(.connectionClosed, "\(peerName) closed the connection", systemError: error)
            }
            throw MailSecError(.io, "writing to \(peerName) at \(address): \(error)", systemError: error)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws {
        var offset = 0
        while offset < bytes.count {
            offset += try writeAvailable(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            if offset < bytes.count { try wait(for: .writable, deadline: deadline) }
        }
    }

    // MARK: Waiting

    /// Waits until the socket is ready for `events`; throws `.timeout` at `deadline`.
    func wait(for events: PollEvents, deadline: Deadline) throws {
        while true {
            if try !poll(events, deadline: deadline).isEmpty { return }
            if deadline.hasPassed {
                throw MailSecError(.timeout, "no answer from \(peerName) at \(address) \(deadline.withinDescription)")
            }
        }
    }

    /// One poll: what of `events` is ready, empty when `deadline` came first.
    func poll(_ events: PollEvents, deadline: Deadline) throws -> PollEvents {
        if events.contains(.readable) { armQuickAck() }
        var entry = pollfd(fd: descriptor, events: events.rawValue, revents: 0)
        do {
            try SystemCall.check { Glibc.poll(&entry, 1, deadline.pollMilliseconds) }
        } catch {
            throw MailSecError(.io, "waiting for \(peerName): \(error)", systemError: error)
        }
        return PollEvents(returned: entry.revents).intersection(events.union(.readable))
    }

    /// Waits on several sockets at once until one is ready or `deadline`; the
    /// events found for each, in order.
    static func poll(_ sockets: [(Socket, PollEvents)], deadline: Deadline) throws -> [PollEvents] {
        var entries = sockets.map { pollfd(fd: $0.0.descriptor, events: $0.1.rawValue, revents: 0) }
        do {
            try SystemCall.check { Glibc.poll(&entries, nfds_t(entries.count), deadline.pollMilliseconds) }
        } catch {
            throw MailSecError(.io, "waiting for \(sockets.first?.0.peerName ?? "the network"): \(error)", systemError: error)
        }
        return entries.map { PollEvents(returned: $0.revents) }
    }

    // MARK: Options

    /// Linux's delayed ACK holds the client's ACK for up to 40 ms; a server
    /// whose next reply waits behind Nagle's algorithm for that ACK then
    /// stalls (the greeting after a TLS handshake, for one). TCP_QUICKACK
    /// turns it off, but Linux clears it again, so it is re-armed before reads.
    private func armQuickAck() {
        if case .inet = address { setOption(Int32(IPPROTO_TCP), TCP_QUICKACK, 1) }
    }

    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Runs `body` with the descriptor, for the TLS layer's BIO only.
    func withDescriptor<R>(_ body: (Int32) throws -> R) rethrows -> R {
        try body(descriptor)
    }

    // MARK: Connecting

    private static func connectUnix(_ path: String, deadline: Deadline, peerName: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            throw MailSecError(.invalidInput, "the socket path \(path) is longer than \(capacity - 1) bytes, the limit for Unix sockets")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { throw MailSecError(.io, "cannot create a socket: \(Errno.current)", systemError: .current) }
        // A non-blocking connect to a Unix socket whose listen queue is full
        // fails with EAGAIN at once rather than waiting (a blocking one would
        // wait forever): retry, backing off, until the deadline.
        var pause: Int32 = 2
        while true {
            do {
                try SystemCall.check {
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                    }
                }
                return descriptor
            } catch where error == .wouldBlock && !deadline.hasPassed {
                _ = Glibc.poll(nil, 0, min(pause, deadline.pollMilliseconds))
                pause = min(pause * 2, 50)
            } catch {
                close(descriptor)
                if error == .wouldBlock {
                    throw MailSecError(.timeout, "\(path): \(peerName) accepts no connections (its listen queue stayed full \(deadline.withinDescription))",
                                       remedy: "\(peerName) is overloaded or hung; look at its log and restart it", systemError: error)
                }
                throw unixConnectError(path, error, peerName: peerName)
            }
        }
    }

    /// Why a connect to a Unix socket failed. Only a failure pays for the stat
    /// calls that explain it (batches open thousands of connections).
    private static func unixConnectError(_ path: String, _ code: Errno, peerName: String) -> MailSecError {
        guard let status = FileStatus(path: path) else {
            if Errno.current == .accessDenied {
                return MailSecError(.permission, "\(path): permission denied on a directory above the socket",
                                    remedy: "run as root or as the user Postfix runs as (postfix), or fix the directory permissions", systemError: code)
            }
            return MailSecError(.fileNotFound, "no socket at \(path)", systemError: code)
        }
        guard status.isSocket else {
            return MailSecError(.invalidInput, "\(path) is not a socket (it is a \(status.isDirectory ? "directory" : "regular file"))",
                                remedy: "remove it and let \(peerName) create the socket there, or give the right path", systemError: code)
        }
        switch code {
        case .accessDenied, .notPermitted:
            return MailSecError(.permission, "\(path): permission denied (socket mode \(status.octalMode), owner \(status.ownerDescription))",
                                remedy: "run as root or as a user the socket lets in; for Postfix the listener needs mode = 0660, user = postfix, group = postfix",
                                systemError: code)
        case .connectionRefused:
            return MailSecError(.connectionRefused, "\(path): nothing is listening (connection refused); \(peerName) is not running, or the socket is stale",
                                remedy: "start it (systemctl start dovecot) and look at its log (journalctl -u dovecot)", systemError: code)
        default:
            return MailSecError(.io, "cannot connect to \(path): \(code)", systemError: code)
        }
    }

    private static func connectInet(host: String, port: UInt16, source: String?, deadline: Deadline, peerName: String) throws -> Int32 {
        let candidates = try Resolver.resolve(host, port: port, deadline: deadline)
        let local = try source.map { try Resolver.resolve($0, port: 0, deadline: deadline, passive: true) }
        var failure: MailSecError?
        for candidate in candidates {
            var bindTo: ResolvedAddress?
            if let local {
                guard let match = local.first(where: { $0.family == candidate.family }) else {
                    failure = failure ?? MailSecError(.invalidInput, "the source address \(source!) and \(host) (\(candidate.numericHost)) are of different address families")
                    continue
                }
                bindTo = match
            }
            let descriptor = socket(candidate.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard descriptor >= 0 else { continue }
            do {
                if let bindTo {
                    do {
                        try SystemCall.check { bindTo.withSockaddr { Glibc.bind(descriptor, $0, $1) } }
                    } catch {
                        throw MailSecError(.invalidInput, "cannot use \(source!) as the source address: \(error)",
                                           remedy: "give an address of this machine (ip -brief address)", systemError: error)
                    }
                }
                try connectInProgress(descriptor, to: candidate, deadline: deadline, peer: "\(peerName) at \(host):\(port)")
                return descriptor
            } catch let error as MailSecError {
                close(descriptor)
                failure = error
                if error.code == .invalidInput || deadline.hasPassed { break }
            }
        }
        throw failure ?? MailSecError(.hostNotFound, "\(host) has no address to connect to")
    }

    /// A non-blocking connect: started, then waited for until `deadline`.
    private static func connectInProgress(_ descriptor: Int32, to candidate: ResolvedAddress, deadline: Deadline, peer: String) throws {
        let shown = "\(peer) (\(candidate.numericHost))"
        do {
            try SystemCall.check { candidate.withSockaddr { Glibc.connect(descriptor, $0, $1) } }
            return
        } catch where error == .inProgress {
            // Waited for below.
        } catch {
            throw connectError(error, shown)
        }
        var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        while true {
            let ready = (try? SystemCall.check { Glibc.poll(&entry, 1, deadline.pollMilliseconds) }) ?? 0
            if ready > 0 { break }
            if deadline.hasPassed {
                throw MailSecError(.timeout, "cannot connect to \(shown): no answer \(deadline.withinDescription)")
            }
        }
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length)
        if code != 0 { throw connectError(Errno(code), shown) }
    }

    private static func connectError(_ error: Errno, _ shown: String) -> MailSecError {
        let code: MailSecError.Code = error == .connectionRefused ? .connectionRefused : (error == .timedOut ? .timeout : .io)
        return MailSecError(code, "cannot connect to \(shown): \(error)", systemError: error)
    }
}
