/// What to probe, and how the connection starts.
public struct ProbeTarget: Sendable, Equatable, CustomStringConvertible {
    public enum Mode: String, Sendable {
        /// TLS from the first byte (port 465, smtps://).
        case implicit
        /// Clear text, then STARTTLS; `submission://` requires it, `smtp://` uses it if offered.
        case starttls
        /// No TLS at all.
        case plain
    }

    public var host: String
    public var port: UInt16
    public var mode: Mode
    /// STARTTLS must be offered (submission), rather than merely used when offered (smtp).
    public var requireTLS: Bool

    public init(host: String, port: UInt16, mode: Mode, requireTLS: Bool = true) {
        self.host = host
        self.port = port
        self.mode = mode
        self.requireTLS = requireTLS
    }

    /// Parses `smtps://HOST[:465]`, `submission://HOST[:587]`, `smtp://HOST[:25]` or
    /// `HOST:PORT` (465 means implicit TLS, anything else STARTTLS); `mode` overrides.
    public init(parsing text: String, mode override: Mode? = nil) throws {
        var rest = Substring(text)
        var mode: Mode = .starttls
        var requireTLS = true
        var defaultPort: UInt16?
        for (scheme, schemeMode, port, required) in [("smtps://", Mode.implicit, UInt16(465), true), ("submissions://", .implicit, 465, true),
                                                      ("submission://", .starttls, 587, true), ("smtp://", .starttls, 25, false)] where rest.hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
            mode = schemeMode
            defaultPort = port
            requireTLS = required
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host = rest
        var port = defaultPort
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { port = UInt16(after.dropFirst()) ?? 0 }
        } else if let colon = rest.lastIndex(of: ":"), rest.filter({ $0 == ":" }).count == 1 {
            host = rest[..<colon]
            port = UInt16(rest[rest.index(after: colon)...]) ?? 0
        }
        guard !host.isEmpty else { throw MailSecError(.invalidInput, "target '\(text)': no host") }
        guard let chosen = port, chosen > 0 else {
            throw MailSecError(.invalidInput, "target '\(text)': give a port (HOST:PORT) or a scheme: smtps://, submission://, smtp://")
        }
        if defaultPort == nil { mode = chosen == 465 ? .implicit : .starttls }
        if IPAddress.normalize(String(host)) == nil { _ = try Hostname.normalize(String(host), field: "target host") }
        self.init(host: String(host), port: chosen, mode: override ?? mode, requireTLS: requireTLS)
    }

    public var description: String {
        let scheme = mode == .implicit ? "smtps" : (mode == .plain ? "smtp" : (requireTLS ? "submission" : "smtp"))
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(shownHost):\(port)"
    }
}
