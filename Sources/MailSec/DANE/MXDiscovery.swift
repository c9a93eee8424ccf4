/// A mail domain's MX hosts as a sending server finds them.
public struct MXHosts: Sendable, Equatable {
    /// The mail domain asked about.
    public var domain: String
    /// Whether the MX answer validated (DNSSEC): DANE applies to its hosts only then.
    public var secure: Bool
    /// Most preferred first; the domain itself when it has no MX RRset (RFC 5321 section 5.1).
    public var records: [MXRecord]

    /// One SMTP target on `port` for each host, as a sender tries them.
    public func targets(port: UInt16 = 25) -> [ProbeTarget] {
        records.map { record in
            var target = ProbeTarget(mailProtocol: .smtp, host: record.exchange, port: port, mode: .starttls, requireTLS: false)
            target.mxOrigin = MXOrigin(domain: domain, preference: record.preference, secure: secure)
            return target
        }
    }
}

/// MX discovery as a sending MTA does it, with DNSSEC validation.
public enum MXDiscovery {
    /// Looks up `domain`'s MX RRset, validated. Throws when there is nothing
    /// to probe: the domain does not exist, the answer is bogus, or it
    /// publishes a null MX (RFC 7505).
    public static func lookUp(_ domain: String, resolver: DNSResolver, deadline: Deadline) throws -> MXHosts {
        let name = (domain.hasSuffix(".") ? String(domain.dropLast()) : domain).lowercased()
        let answer = try resolver.query(name, type: DNSType.mx, deadline: deadline)
        if case .bogus(let why) = answer.security {
            throw MailSecError(.hostNotFound, "the MX records of \(name) fail DNSSEC validation: \(why)",
                               remedy: "senders that validate defer mail to \(name): fix the zone's signatures or its DS record at the parent")
        }
        if answer.isNameError { throw MailSecError(.hostNotFound, "\(name) does not exist (NXDOMAIN)") }
        guard answer.rcode == 0 else { throw MailSecError(.hostNotFound, "looking up the MX records of \(name): DNS error \(answer.rcode)") }
        let secure = answer.security == .secure
        if answer.records.isEmpty {
            return MXHosts(domain: name, secure: secure, records: [MXRecord(preference: 0, exchange: name)])
        }
        let records = answer.records.compactMap(MXRecord.init(rdata:))
        guard !records.isEmpty else { throw MailSecError(.protocolViolation, "no MX record of \(name) could be read") }
        if records.contains(where: \.isNullMX) {
            throw MailSecError(.invalidInput, "\(name) accepts no mail: it publishes a null MX (RFC 7505)")
        }
        // Equal preferences keep their order; duplicates (one host listed twice) are probed once.
        var seen = Set<String>()
        let sorted = records.enumerated().sorted { ($0.element.preference, $0.offset) < ($1.element.preference, $1.offset) }.map(\.element)
        return MXHosts(domain: name, secure: secure, records: sorted.filter { seen.insert($0.exchange).inserted })
    }
}
