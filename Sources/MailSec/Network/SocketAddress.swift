/// Where a stream service listens: a Unix socket path, or `inet:HOST:PORT`.
public enum SocketAddress: Sendable, Equatable, CustomStringConvertible {
    /// A Unix socket by path (`/var/spool/postfix/private/auth`).
    case unix(String)
    /// A TCP address: a host name or IP address, and a port.
    case inet(host: String, port: UInt16)

    /// Parses `inet:HOST:PORT`, `inet:[v6]:PORT`, or a path.
    public init(parsing text: String) throws {
        guard text.hasPrefix("inet:") else {
            guard !text.isEmpty else { throw MailSecError(.invalidInput, "empty socket path") }
            self = .unix(text)
            return
        }
        let rest = text.dropFirst(5)
        var host: Substring
        var port: Substring
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            port = rest[close...].dropFirst()
            guard port.hasPrefix(":") else { throw MailSecError(.invalidInput, "'\(text)': expected inet:[ADDRESS]:PORT") }
            port = port.dropFirst()
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw MailSecError(.invalidInput, "'\(text)': expected inet:HOST:PORT") }
            host = rest[..<colon]
            port = rest[rest.index(after: colon)...]
        }
        guard !host.isEmpty, let number = UInt16(port), number > 0 else {
            throw MailSecError(.invalidInput, "'\(text)': expected inet:HOST:PORT with a port from 1 to 65535")
        }
        self = .inet(host: String(host), port: number)
    }

    /// As given on the command line: the path, or `inet:HOST:PORT` (`inet:[::1]:PORT` for IPv6).
    public var description: String {
        switch self {
        case .unix(let path): path
        case .inet(let host, let port): host.contains(":") ? "inet:[\(host)]:\(port)" : "inet:\(host):\(port)"
        }
    }
}
