/// The mail protocols a probe speaks.
public enum MailProtocol: String, Sendable, Codable, CaseIterable {
    /// SMTP (Postfix: 25, 465, 587).
    case smtp
    /// IMAP (Dovecot: 143, 993).
    case imap
    /// POP3 (Dovecot: 110, 995).
    case pop3
    /// ManageSieve (Dovecot: 4190).
    case sieve

    /// What the server usually is, for remedies.
    var server: String { self == .smtp ? "Postfix" : "Dovecot" }
}

/// What to probe, and how the connection starts.
public struct ProbeTarget: Sendable, Equatable, CustomStringConvertible {
    /// How TLS starts on the connection.
    public enum Mode: String, Sendable {
        /// TLS from the first byte (465, 993, 995).
        case implicit
        /// Clear text, then STARTTLS (STLS for POP3); `requireTLS` says whether it must be offered.
        case starttls
        /// No TLS at all.
        case plain
    }

    /// The protocol spoken.
    public var mailProtocol: MailProtocol
    /// The host name or address to connect to.
    public var host: String
    /// The port.
    public var port: UInt16
    /// Implicit TLS, STARTTLS, or none.
    public var mode: Mode
    /// STARTTLS must be offered (submission, imap, pop3, sieve), rather than merely used when offered (smtp on 25).
    public var requireTLS: Bool
    /// Set when MX discovery found the target: the probe reports the MX answer (`dane-mx`).
    public var mxOrigin: MXOrigin?

    /// A target by its parts; `requireTLS` makes a STARTTLS service that does not offer it a failure.
    public init(mailProtocol: MailProtocol = .smtp, host: String, port: UInt16, mode: Mode, requireTLS: Bool = true) {
        self.mailProtocol = mailProtocol
        self.host = host
        self.port = port
        self.mode = mode
        self.requireTLS = requireTLS
    }

    /// The schemes and what each means (RFC 8314's implicit-TLS ports, the STARTTLS ports).
    static let schemes: [(scheme: String, protocol: MailProtocol, mode: Mode, port: UInt16, requireTLS: Bool)] = [
        ("smtps", .smtp, .implicit, 465, true), ("submissions", .smtp, .implicit, 465, true),
        ("submission", .smtp, .starttls, 587, true), ("smtp", .smtp, .starttls, 25, false),
        ("imaps", .imap, .implicit, 993, true), ("imap", .imap, .starttls, 143, true),
        ("pop3s", .pop3, .implicit, 995, true), ("pop3", .pop3, .starttls, 110, true),
        ("sieve", .sieve, .starttls, 4190, true),
    ]

    /// Parses `SCHEME://HOST[:PORT]` (smtps, submissions, submission, smtp,
    /// imaps, imap, pop3s, pop3, sieve) or `HOST:PORT`, where a well-known port
    /// picks the protocol and TLS mode (465 smtps, 993 imaps, 143 imap, 995
    /// pop3s, 110 pop3, 4190 sieve; any other SMTP with STARTTLS). `mode` overrides.
    public init(parsing text: String, mode override: Mode? = nil) throws {
        var rest = Substring(text)
        var chosen: (scheme: String, protocol: MailProtocol, mode: Mode, port: UInt16, requireTLS: Bool)?
        if let separator = rest.firstRange(of: "://") {
            let scheme = rest[..<separator.lowerBound].lowercased()
            guard let known = Self.schemes.first(where: { $0.scheme == scheme }) else {
                throw MailSecError(.invalidInput, "target \(TextSanitizer.quoted(text)): unknown scheme \(TextSanitizer.quoted(scheme)); use \(Self.schemes.map { $0.scheme + "://" }.joined(separator: ", "))")
            }
            chosen = known
            rest = rest[separator.upperBound...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host = rest
        var port = chosen?.port
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { port = UInt16(after.dropFirst()) ?? 0 }
        } else if let colon = rest.lastIndex(of: ":"), rest.filter({ $0 == ":" }).count == 1 {
            host = rest[..<colon]
            port = UInt16(rest[rest.index(after: colon)...]) ?? 0
        }
        guard !host.isEmpty else { throw MailSecError(.invalidInput, "target \(TextSanitizer.quoted(text)): no host") }
        guard let number = port, number > 0 else {
            throw MailSecError(.invalidInput, "target \(TextSanitizer.quoted(text)): give a port (HOST:PORT) or a scheme: smtps://, submission://, smtp://, imaps://, imap://, pop3s://, pop3://, sieve://")
        }
        if IPAddress.normalize(String(host)) == nil { _ = try Hostname.normalize(String(host), field: "target host") }
        let byPort = Self.schemes.first { $0.port == number && $0.scheme != "submissions" && $0.scheme != "smtp" }
        let settled = chosen ?? byPort ?? ("smtp", .smtp, .starttls, number, true)
        self.init(mailProtocol: settled.protocol, host: String(host), port: number, mode: override ?? settled.mode, requireTLS: settled.requireTLS)
    }

    /// The target as a URL: `smtps://mail.example.com:465`.
    public var description: String {
        let scheme: String
        switch (mailProtocol, mode) {
        case (.smtp, .implicit): scheme = "smtps"
        case (.smtp, .plain): scheme = "smtp"
        case (.smtp, .starttls): scheme = requireTLS ? "submission" : "smtp"
        case (.imap, .implicit): scheme = "imaps"
        case (.pop3, .implicit): scheme = "pop3s"
        case (let other, _): scheme = other.rawValue
        }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(shownHost):\(port)"
    }
}
