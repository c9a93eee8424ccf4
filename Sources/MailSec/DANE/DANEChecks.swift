/// The check ids a probe with DANE adds, in report order.
enum DANECheckID {
    static let mx: Finding.ID = "dane-mx"
    static let tlsa: Finding.ID = "dane-tlsa"
    static let match: Finding.ID = "dane-match"
    static let rollover: Finding.ID = "dane-rollover"
}

/// Where a target came from when MX discovery found it: what `dane-mx` reports.
public struct MXOrigin: Sendable, Equatable {
    /// The mail domain whose MX RRset names the target.
    public var domain: String
    /// The MX record's preference (lower is tried first).
    public var preference: UInt16
    /// Whether the MX answer validated: senders apply DANE to the hosts of a secure MX RRset only.
    public var secure: Bool

    /// The origin of a target found as an MX of `domain`.
    public init(domain: String, preference: UInt16, secure: Bool) {
        self.domain = domain
        self.preference = preference
        self.secure = secure
    }
}

/// A service's TLSA RRset as a sending server sees it, and the checks on it:
/// `dane-tlsa` (the RRset and its DNSSEC status), `dane-match` (OpenSSL's DANE
/// verifier on the chain the server sent) and `dane-rollover` (whether a key
/// change is already published). RFC 7672 section 2.2 and 3.
struct DANELookup {
    let owner: String
    let answer: DNSAnswer
    /// Records a sender uses: DANE-TA(2) and DANE-EE(3) with known parameters.
    let usable: [TLSARecord]
    let unusable: Int

    init(host: String, port: UInt16, resolver: DNSResolver, deadline: Deadline) throws {
        let owner = TLSARecord.ownerName(host: host, port: port)
        self.init(owner: owner, answer: try resolver.query(owner, type: DNSType.tlsa, deadline: deadline))
    }

    init(owner: String, answer: DNSAnswer) {
        self.owner = owner
        self.answer = answer
        let parsed = answer.records.map(TLSARecord.init(rdata:))
        usable = parsed.compactMap { $0 }.filter { $0.usage == .daneEE || $0.usage == .daneTA }
        unusable = parsed.count - usable.count
    }

    /// What OpenSSL is to match the handshake against; nil when nothing can match.
    func expectation(referenceNames: [String]) -> DANEExpectation? {
        guard !usable.isEmpty, !answer.security.isBogus else { return nil }
        return DANEExpectation(records: usable, referenceNames: referenceNames)
    }

    /// `dane-tlsa`.
    var finding: Finding {
        let id = DANECheckID.tlsa
        if case .bogus(let why) = answer.security {
            return .fail(id, "the TLSA records at \(owner) fail DNSSEC validation: \(why)",
                         remedy: "senders that validate defer all mail to this server: fix the zone's signatures (re-sign it; check the DS record at the parent) or remove the records")
        }
        if answer.records.isEmpty {
            let denial = answer.security == .secure ? "a signed denial" : "an unsigned answer"
            return .skip(id, "no TLSA records at \(owner) (\(denial)\(answer.isNameError ? ", NXDOMAIN" : "")): DANE is not in use for this service")
        }
        let listed = answer.records.count == 1 ? "1 TLSA record" : "\(answer.records.count) TLSA records"
        if answer.security != .secure {
            return .fail(id, "\(owner) has \(listed), but the answer is insecure: no sender uses records it cannot validate",
                         remedy: "sign the zone (DNSSEC) and publish its DS record at the parent, or remove the records")
        }
        if usable.isEmpty {
            return .warn(id, "\(owner) has \(listed), none usable for SMTP (PKIX usages 0 and 1, or unknown parameters): senders fall back to unauthenticated TLS",
                         remedy: "publish DANE-EE records for the server's key (3 1 1)")
        }
        let skipped = unusable > 0 ? "; \(unusable) unusable, skipped" : ""
        return .pass(id, "\(owner): \(usable.map(\.description).joined(separator: ", ")) (secure, TTL \(answer.ttl) s\(skipped))")
    }

    /// `dane-match`, from what OpenSSL's verifier said about `chain`.
    func matchFinding(_ outcome: DANEOutcome, chain: [Certificate], host: String, port: UInt16) -> Finding {
        let id = DANECheckID.match
        if let (record, depth) = outcome.matched {
            if depth == 0 { return .pass(id, "the server's certificate matches \(record) (\(record.usage == .daneEE ? "its own key" : "its issuer"))") }
            let name = chain.indices.contains(depth) ? (chain[depth].subject.commonName ?? "the CA certificate") : "the CA certificate"
            return .pass(id, "\(name), at depth \(depth) of the chain the server sent, matches \(record)")
        }
        let publish = chain.first.flatMap { try? TLSARecord(usage: .daneEE, selector: .publicKey, matchingType: .sha256, certificate: $0) }
            .map { "publish the record of the key the server uses:\n  \($0.zoneLine(host: host, port: port))\nor serve the key the records pin (did a renewal change the key?)" }
        return .fail(id, "no usable TLSA record at \(owner) matches the chain the server sent (OpenSSL: \(outcome.failure ?? "no match")): senders that apply DANE defer all mail to it",
                     remedy: publish)
    }

    /// `dane-rollover`: whether a renewal with a new key would break the records.
    func rolloverFinding(chain: [Certificate], matched: Bool) -> Finding {
        let id = DANECheckID.rollover
        guard matched, let leaf = chain.first else { return .skip(id, "no record matches the key in use") }
        let current = usable.filter { $0.usage == .daneEE && $0.pins(leaf) }
        let issuers = usable.filter { $0.usage == .daneTA && $0.matches(chain: chain) }
        let others = usable.filter { !current.contains($0) && !issuers.contains($0) }
        let wait = "at least \(2 * Int(answer.ttl)) s (twice the TTL) before the renewal that starts using it"
        if !issuers.isEmpty {
            return .pass(id, "\(issuers[0]) pins the issuing CA: a new key from the same CA keeps matching")
        }
        if !others.isEmpty {
            return .pass(id, "\(others.count == 1 ? "a record" : "\(others.count) records") for another key (\(others.map(\.description).joined(separator: ", "))) published beside the current one: a rollover to it keeps mail flowing")
        }
        if current.allSatisfy({ $0.selector == .certificate }) {
            return .warn(id, "every TLSA record pins the whole certificate (selector 0): every renewal breaks them, even one that keeps the key",
                         remedy: "publish the key's record (3 1 1) beside them, wait twice the TTL (\(answer.ttl) s), then remove the 3 0 x records")
        }
        return .warn(id, "every TLSA record matches the current key only: a renewal with a new key breaks mail to this server until its record is published and cached",
                     remedy: "make the next key now and publish its 3 1 1 record beside the current one, \(wait)")
    }
}

extension DNSAnswer.Security {
    var isBogus: Bool {
        if case .bogus = self { return true }
        return false
    }
}

extension MXOrigin {
    /// `dane-mx`.
    func finding(host: String) -> Finding {
        let id = DANECheckID.mx
        if secure { return .pass(id, "\(host) is MX \(preference) of \(domain) (a secure answer)") }
        return .warn(id, "\(host) is MX \(preference) of \(domain), but the MX answer is insecure: senders apply DANE only to the hosts of a signed MX RRset",
                     remedy: "sign \(domain) (DNSSEC) and publish its DS record at the parent")
    }
}
