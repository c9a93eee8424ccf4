#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// A connected stream socket that reads and writes lines, each operation
/// bounded by a deadline, each line by a maximum length.
public final class LineSocket {
    public let address: SocketAddress
    let descriptor: Int32
    private var input: [UInt8] = []
    private var inputStart = 0
    public let maximumLineLength: Int
    /// What the peer is, for error messages ("Dovecot", "the SMTP server").
    public let peerName: String

    /// Connects within `timeout` seconds. Errors say what is at the address and how to fix it.
    public init(connectingTo address: SocketAddress, timeout: Double, maximumLineLength: Int, peerName: String) throws {
        self.address = address
        self.maximumLineLength = maximumLineLength
        self.peerName = peerName
        switch address {
        case .unix(let path):
            descriptor = try Self.connectUnix(path, peerName: peerName)
        case .inet(let host, let port):
            descriptor = try Self.connectInet(host: host, port: port, timeout: timeout, peerName: peerName)
        }
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
    }

    deinit {
        close(descriptor)
    }

    // MARK: Reading

    /// The next complete line without its LF (and CR), or nil at end of stream.
    /// Throws on timeout, on a line longer than the maximum, on errors.
    public func readLine(deadline: Date) throws -> [UInt8]? {
        while true {
            if let line = try takeBufferedLine() { return line }
            guard try fill(deadline: deadline) else {
                if inputStart < input.count {
                    throw MailSecError(.invalidInput, "\(peerName) closed the connection in the middle of a line")
                }
                return nil
            }
        }
    }

    /// A complete line already received, if any.
    public func takeBufferedLine() throws -> [UInt8]? {
        guard let newline = input[inputStart...].firstIndex(of: 0x0a) else {
            if input.count - inputStart > maximumLineLength {
                throw MailSecError(.invalidInput, "\(peerName) sent a line longer than \(maximumLineLength) bytes")
            }
            return nil
        }
        var end = newline
        if end > inputStart, input[end - 1] == 0x0d { end -= 1 }
        guard end - inputStart <= maximumLineLength else {
            throw MailSecError(.invalidInput, "\(peerName) sent a line longer than \(maximumLineLength) bytes")
        }
        let line = Array(input[inputStart..<end])
        inputStart = newline + 1
        if inputStart > 65_536 || inputStart == input.count {
            input.removeFirst(inputStart)
            inputStart = 0
        }
        return line
    }

    /// Reads what is available, waiting until `deadline`. False at end of stream.
    @discardableResult
    public func fill(deadline: Date) throws -> Bool {
        try wait(for: Int16(POLLIN), until: deadline)
        return try readAvailable()
    }

    /// Reads without waiting. False at end of stream; true otherwise (even if nothing came).
    public func readAvailable() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = Glibc.read(descriptor, &chunk, chunk.count)
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return true }
            if errno == ECONNRESET { return false }
            throw MailSecError(.io, "reading from \(peerName) at \(address): \(String(cString: strerror(errno)))")
        }
        if count == 0 { return false }
        input.append(contentsOf: chunk[0..<count])
        return true
    }

    // MARK: Writing

    /// Writes all of `bytes` before `deadline`.
    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Date) throws {
        var offset = 0
        while offset < bytes.count {
            let written = try writeAvailable(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            offset += written
            if offset < bytes.count { try wait(for: Int16(POLLOUT), until: deadline) }
        }
    }

    /// Writes what the socket takes now; returns how much.
    public func writeAvailable(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        let written = send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        if written < 0 {
            if errno == EAGAIN || errno == EINTR { return 0 }
            if errno == EPIPE || errno == ECONNRESET {
                throw MailSecError(.io, "\(peerName) closed the connection")
            }
            throw MailSecError(.io, "writing to \(peerName) at \(address): \(String(cString: strerror(errno)))")
        }
        return written
    }

    /// Waits until the socket is ready for `events`, or throws at `deadline`.
    public func wait(for events: Int16, until deadline: Date) throws {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                throw MailSecError(.io, "timed out waiting for \(peerName) at \(address)")
            }
            var poller = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = Glibc.poll(&poller, 1, Int32(min(remaining * 1000, 3_600_000).rounded(.up)))
            if ready < 0 {
                if errno == EINTR { continue }
                throw MailSecError(.io, "waiting for \(peerName): \(String(cString: strerror(errno)))")
            }
            if ready > 0 { return }
        }
    }

    /// Waits for input or (when `wantWrite`) writability, up to `deadline`; returns (readable, writable).
    public func poll(wantWrite: Bool, until deadline: Date) throws -> (readable: Bool, writable: Bool) {
        let remaining = max(0, deadline.timeIntervalSinceNow)
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN) | (wantWrite ? Int16(POLLOUT) : 0), revents: 0)
        let ready = Glibc.poll(&poller, 1, Int32(min(remaining * 1000, 3_600_000).rounded(.up)))
        if ready < 0 {
            if errno == EINTR { return (false, false) }
            throw MailSecError(.io, "waiting for \(peerName): \(String(cString: strerror(errno)))")
        }
        let readable = poller.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0
        return (readable, poller.revents & Int16(POLLOUT) != 0)
    }

    // MARK: Connecting

    private static func connectUnix(_ path: String, peerName: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            throw MailSecError(.invalidInput, "the socket path \(path) is longer than \(capacity - 1) bytes, the limit for Unix sockets")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw MailSecError(.io, "cannot create a socket: \(String(cString: strerror(errno)))") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result != 0 else { return descriptor }
        let code = errno
        close(descriptor)
        throw unixConnectError(path, code, peerName: peerName)
    }

    /// Why a connect to a Unix socket failed. Only a failure pays for the stat
    /// calls that explain it (batches open thousands of connections).
    private static func unixConnectError(_ path: String, _ code: Int32, peerName: String) -> MailSecError {
        guard let status = FileStatus(path: path) else {
            if errno == EACCES {
                return MailSecError(.permission, "\(path): permission denied on a directory above the socket",
                                    remedy: "run as root or as the user Postfix runs as (postfix), or fix the directory permissions")
            }
            return MailSecError(.fileNotFound, "no socket at \(path)")
        }
        guard statusIsSocket(path) else {
            return MailSecError(.invalidInput, "\(path) is not a socket (it is a \(status.isDirectory ? "directory" : "regular file"))",
                                remedy: "remove it and let \(peerName) create the socket there, or give the right path")
        }
        switch code {
        case EACCES, EPERM:
            return MailSecError(.permission, "\(path): permission denied (socket mode \(status.octalMode), owner \(status.ownerDescription))",
                                remedy: "run as root or as a user the socket lets in; for Postfix the listener needs mode = 0660, user = postfix, group = postfix")
        case ECONNREFUSED:
            return MailSecError(.io, "\(path): nothing is listening (connection refused); \(peerName) is not running, or the socket is stale",
                                remedy: "start it (systemctl start dovecot) and look at its log (journalctl -u dovecot)")
        default:
            return MailSecError(.io, "cannot connect to \(path): \(String(cString: strerror(code)))")
        }
    }

    private static func statusIsSocket(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & S_IFMT == S_IFSOCK
    }

    private static func connectInet(host: String, port: UInt16, timeout: Double, peerName: String) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw MailSecError(.io, "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        let deadline = Date().addingTimeInterval(timeout)
        while let entry = candidate {
            candidate = entry.pointee.ai_next
            let descriptor = socket(entry.pointee.ai_family, entry.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), entry.pointee.ai_protocol)
            guard descriptor >= 0 else { continue }
            if Glibc.connect(descriptor, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0 { return descriptor }
            if errno == EINPROGRESS {
                var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                let remaining = max(0, deadline.timeIntervalSinceNow)
                if Glibc.poll(&poller, 1, Int32(remaining * 1000)) == 1 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
                    if error == 0 { return descriptor }
                    lastError = String(cString: strerror(error))
                } else {
                    lastError = "timed out after \(Int(timeout)) s"
                }
            } else {
                lastError = String(cString: strerror(errno))
            }
            close(descriptor)
        }
        throw MailSecError(.io, "cannot connect to \(peerName) at \(host):\(port): \(lastError)")
    }
}

