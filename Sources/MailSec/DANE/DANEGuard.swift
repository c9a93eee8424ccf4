/// `deploy --dane`: before a new certificate is installed, the TLSA records
/// of every name and port it will serve must already match it; otherwise
/// every sender that applies DANE would defer mail from the moment of the
/// reload until new records are published and cached.
enum DANEGuard {
    /// The `dane` check. `names` are the DNS names the server is reached by,
    /// `ports` the listeners that will serve `chain` (leaf first).
    static func check(chain: [Certificate], names: [String], ports: [UInt16], dns: DNSResolverOptions, timeout: Duration) throws -> Finding {
        let resolver = try DNSResolver(dns)
        var matching: [String] = [], unused: [String] = [], refusals: [(lookup: DANELookup, name: String, port: UInt16)] = []
        for name in names {
            for port in ports {
                let lookup: DANELookup
                do {
                    lookup = try DANELookup(host: name, port: port, resolver: resolver, deadline: .after(timeout))
                } catch let error as MailSecError {
                    return .fail("dane", "cannot look up \(TLSARecord.ownerName(host: name, port: port)): \(error.message); nothing was touched",
                                 remedy: "check that the resolver answers and validates (\(dns.forwarder ?? "/etc/resolv.conf")), then deploy again")
                }
                if case .bogus(let why) = lookup.answer.security {
                    return .fail("dane", "the TLSA records at \(lookup.owner) fail DNSSEC validation (\(why)); nothing was touched",
                                 remedy: "fix the zone's signatures first: senders that validate defer mail to this server already")
                }
                // Unsigned or absent records are no sender's business: DANE is not in use there.
                guard lookup.answer.security == .secure, !lookup.usable.isEmpty else {
                    unused.append(lookup.owner)
                    continue
                }
                if lookup.usable.contains(where: { $0.matches(chain: chain) }) {
                    matching.append(lookup.owner)
                } else {
                    refusals.append((lookup, name, port))
                }
            }
        }
        if !refusals.isEmpty, let leaf = chain.first {
            let record = try TLSARecord(usage: .daneEE, selector: .publicKey, matchingType: .sha256, certificate: leaf)
            let wait = 2 * Int(refusals.map(\.lookup.answer.ttl).max() ?? 0)
            let published = refusals.map { "\($0.lookup.owner) (\($0.lookup.usable.map(\.description).joined(separator: ", ")))" }.joined(separator: "; ")
            return .fail("dane", "the new certificate's key matches none of the TLSA records at \(published): after the reload, senders that apply DANE would defer all mail; nothing was touched",
                         remedy: "publish beside the current records:\n" + refusals.map { "  " + record.zoneLine(host: $0.name, port: $0.port) }.joined(separator: "\n")
                             + "\nthen wait \(wait) s (twice the TTL) for senders' caches, and deploy again")
        }
        if matching.isEmpty {
            return .pass("dane", "no signed TLSA records for \(unused.joined(separator: ", ")): DANE is not in use, nothing to keep in step")
        }
        return .pass("dane", "the new certificate matches the published TLSA records at \(matching.joined(separator: ", "))"
                     + (unused.isEmpty ? "" : "; none at \(unused.joined(separator: ", "))"))
    }
}
