/// How to probe.
public struct ProbeOptions: Sendable {
    /// SNI to send (default: the target host).
    public var serverName: String?
    /// The name the certificate must cover (default: the target host).
    public var verifyHost: String?
    /// What the served chain must lead to: the system's anchors, or files.
    public var trust: TrustAnchors = .system
    /// The name sent with EHLO (SMTP).
    public var ehloName = "mailsec.invalid"
    /// Log in as this user; nil: no login is tried.
    public var authUser: String?
    /// The password or token for `authUser`.
    public var password: SecureBytes?
    /// A mechanism, or "auto": the strongest the server offers that we have.
    public var mechanism = "auto"
    /// SMTP: also check that mail to a foreign domain is refused (`relay-denied`).
    public var checkRelay = false
    /// Allowed for each network step.
    public var timeout: Duration = .seconds(10)
    /// Allowed for the whole probe of one target (default: three steps' worth),
    /// so a server that answers each step just in time cannot hold it for long.
    public var overallTimeout: Duration?
    /// A certificate that expires within this many days is a warning.
    public var warnDays = 30
    /// The local address to connect from (as swaks' --local-interface).
    public var source: String?
    /// Log in even when the certificate did not verify (the password may go to whoever is in the middle).
    public var allowUnverifiedAuth = false
    /// Check the target's TLSA records as a DANE sender does (RFC 7672):
    /// dane-tlsa, dane-match and dane-rollover.
    public var dane = false
    /// Where DANE's lookups go and the anchors they are validated from. With
    /// a forwarder, every lookup of the probe goes there, the target's addresses too.
    public var dns = DNSResolverOptions()
    /// One resolver made from `dns` and shared by every probe that has these
    /// options (its cache of validated keys too); nil: each probe makes its own.
    public var resolver: DNSResolver?

    /// Probe options with every default: system trust, no login, 10 s a step.
    public init() {}

    var effectiveOverallTimeout: Duration { overallTimeout ?? timeout * 3 }

    /// Whether the target's addresses come from libunbound rather than getaddrinfo.
    var resolvesThroughForwarder: Bool { dns.forwarder != nil }

    /// An EHLO argument must be a domain or an address literal: anything else,
    /// a CR or LF above all, would let the caller inject SMTP commands.
    public static func validateEHLO(_ name: String) throws {
        if name.hasPrefix("["), name.hasSuffix("]") {
            let inner = String(name.dropFirst().dropLast())
            let address = inner.lowercased().hasPrefix("ipv6:") ? String(inner.dropFirst(5)) : inner
            guard IPAddress.normalize(address) != nil else {
                throw MailSecError(.invalidInput, "\(Vocabulary.name(.ehloName)) \(TextSanitizer.quoted(name)): an address literal must hold an IPv4 or IPv6:-prefixed IPv6 address")
            }
            return
        }
        do {
            _ = try Hostname.normalize(name, field: "EHLO name")
        } catch let error as MailSecError {
            throw MailSecError(.invalidInput, error.message, remedy: "give a domain (mail.example.com) or an address literal ([192.0.2.1])")
        }
    }
}

/// The findings for one target, and the facts behind them.
public struct ProbeResult: Sendable {
    /// What was probed.
    public var target: ProbeTarget
    /// The checks, in the protocol's order; a check not reached is skipped with the reason.
    public var report: Report
    /// The leaf certificate the server sent, when TLS came up.
    public var certificate: CertificateFacts?
    /// What the handshake settled on, when TLS came up.
    public var tls: TLSDetails?
    /// The session as `C:`/`S:` lines, secrets masked.
    public var transcript: [String]
}

/// A live check of any mail service: SMTP, IMAP, POP3 or ManageSieve, by the target's scheme.
public enum MailProbe {
    /// Probes `target` with the protocol its scheme names: connects, speaks the protocol's greeting, upgrades or starts TLS, judges the certificate sent, and logs in when asked. Failures are findings; this never throws.
    public static func run(_ target: ProbeTarget, options: ProbeOptions) -> ProbeResult {
        switch target.mailProtocol {
        case .smtp: SMTPProbe.run(target, options: options)
        case .imap: IMAPProbe.run(target, options: options)
        case .pop3: POP3Probe.run(target, options: options)
        case .sieve: SieveProbe.run(target, options: options)
        }
    }
}

