/// What `dane tlsa` publishes: records for the key in use, then for the keys
/// that will replace it, so a rollover is in DNS (and cached by senders)
/// before the new key serves mail.
public struct TLSAPlan: Sendable {
    /// One record to publish and what it stands for.
    public struct Entry: Sendable, Equatable {
        /// The key that serves now, or one that will.
        public enum Role: String, Sendable {
            /// The key in use now.
            case current
            /// A key that will replace it (`HOST.next.key`).
            case next
        }
        /// Whether the record is for the current key or a next one.
        public var role: Role
        /// The file the record was made from.
        public var source: String
        /// The record.
        public var record: TLSARecord
    }

    /// The current records first, then the next keys'.
    public var entries: [Entry]

    /// The records for the current certificate or key, then for each next key; a key that is not the certificate's, a next key equal to the current one, or a usage SMTP ignores is refused.
    ///
    /// - certificate: the leaf (with its chain for usage 2), PEM or DER.
    /// - key: the current private key; alone it makes `3 1 x` records.
    /// - nextKeys: private keys to pre-publish (selector 1, usage 3 only).
    public init(certificate: String?, key: String?, nextKeys: [String], usage: TLSARecord.Usage,
                selector: TLSARecord.Selector, matchingType: TLSARecord.MatchingType) throws {
        guard usage == .daneEE || usage == .daneTA else {
            throw MailSecError(.invalidInput, "usage \(usage.rawValue) is PKIX, which SMTP senders ignore (RFC 7672 section 3.1.3)",
                               remedy: "publish usage 3 (DANE-EE, the server's own key) or 2 (DANE-TA, the issuing CA)")
        }
        guard certificate != nil || key != nil || !nextKeys.isEmpty else {
            throw MailSecError(.invalidInput, "nothing to make records for", remedy: "name the certificate, the key, or both (and any next keys)")
        }
        var entries: [Entry] = []
        let chain = try certificate.map { path in (path, try Certificate.all(in: try Self.read(path, kind: "a certificate file"), source: path)) }
        let current = try key.map { path in (path, try Self.loadKey(path)) }
        if let (path, certificates) = chain, certificates.isEmpty {
            throw MailSecError(.invalidInput, "\(path) holds no certificate")
        }
        if let (certificatePath, certificates) = chain, let (keyPath, privateKey) = current, !privateKey.matches(certificates[0]) {
            throw MailSecError(.invalidInput, "\(keyPath) is not the key of \(certificatePath)",
                               remedy: "name the key the certificate was issued for; records for a key no certificate uses would break mail")
        }
        switch usage {
        case .daneTA:
            guard let (path, certificates) = chain else {
                throw MailSecError(.invalidInput, "a DANE-TA (usage 2) record pins a CA certificate", remedy: "name the certificate file with its chain")
            }
            let issuers = certificates.dropFirst().filter { $0.basicConstraints?.isCA == true }
            guard !issuers.isEmpty else {
                throw MailSecError(.invalidInput, "\(path) holds only the leaf; a DANE-TA (usage 2) record needs the CA certificate the server sends in its chain",
                                   remedy: "name the full chain (fullchain.pem), or publish usage 3 for the server's own key")
            }
            guard nextKeys.isEmpty else {
                throw MailSecError(.invalidInput, "next keys are the server's own: pre-publish them as usage 3 records")
            }
            for issuer in issuers {
                entries.append(Entry(role: .current, source: path, record: try TLSARecord(usage: usage, selector: selector, matchingType: matchingType, certificate: issuer)))
            }
        default:
            if let (path, certificates) = chain {
                entries.append(Entry(role: .current, source: path, record: try TLSARecord(usage: usage, selector: selector, matchingType: matchingType, certificate: certificates[0])))
            } else if let (path, privateKey) = current {
                guard selector == .publicKey else {
                    throw MailSecError(.invalidInput, "a selector 0 record pins the whole certificate, which \(path) alone does not give",
                                       remedy: "name the certificate too, or prefer selector 1 (3 1 1), which survives renewals that keep the key")
                }
                entries.append(Entry(role: .current, source: path, record: try TLSARecord(usage: usage, matchingType: matchingType, key: privateKey)))
            }
            for path in nextKeys {
                guard selector == .publicKey else {
                    throw MailSecError(.invalidInput, "a next key has no certificate yet, so only a selector 1 record can be published for it",
                                       remedy: "publish it with selector 1 (3 1 1)")
                }
                let record = try TLSARecord(usage: usage, matchingType: matchingType, key: try Self.loadKey(path))
                guard !entries.contains(where: { $0.record == record }) else {
                    throw MailSecError(.invalidInput, "\(path) is the key already in use, not a next one")
                }
                entries.append(Entry(role: .next, source: path, record: record))
            }
        }
        self.entries = entries
    }

    private static func read(_ path: String, kind: String) throws -> [UInt8] {
        try SecureFileSystem.read(path, kind: kind).withUnsafeBytes { Array($0) }
    }

    static func loadKey(_ path: String) throws -> PrivateKey {
        try SecureFileSystem.read(path, kind: "a private key file").withUnsafeBytes { try PrivateKey.first(in: $0, source: path) }
    }
}
