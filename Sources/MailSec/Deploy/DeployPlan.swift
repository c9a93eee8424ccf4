#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// What a deploy will change: the files to write, the maps to rebuild, the
/// reloads to run and the listeners that must then serve the new certificate.
struct DeployPlan {
    /// One file to write: a certificate file, a key file, or one holding both (SNI maps, smtpd_tls_chain_files).
    struct File {
        /// As the configuration names it.
        var path: String
        /// Where it is written: under --root, symbolic links resolved (a link keeps pointing at the new content).
        var destination: String
        var contents: SecureBytes
        var holdsKey: Bool
        var mode: FilePermissions
        var owner: FileOwner?
        /// There is a file there now (else rollback removes the new one).
        var exists: Bool
        /// Its content is already the new one, or it is the ACME client's own file: nothing to write.
        var unchanged: Bool
        var reason: String?
    }

    /// A certificate being replaced, for names-kept.
    struct Replaced {
        var path: String
        var names: [String]
    }

    var files: [File] = []
    var replaced: [Replaced] = []
    var endpoints: [AuditEndpoint] = []
    var rebuilds: [[String]] = []
    var reloads: [[String]] = []
    /// What was read: `postfix: /etc/postfix`, `dovecot: doveconf -n ...`.
    var sources: [String] = []

    var changed: [File] { files.filter { !$0.unchanged } }

    /// The DNS names of a certificate's subjectAltName.
    static func dnsNames(_ certificate: Certificate) -> [String] {
        certificate.subjectAlternativeNames.compactMap { if case .dns(let name) = $0 { return name.lowercased() } else { return nil } }
    }

    /// The pairs to replace, found in the configuration (or given), and the files they become.
    static func make(_ request: DeployRequest, leaf: Certificate, chain: [UInt8], key: SecureBytes) throws -> DeployPlan {
        var plan = DeployPlan()
        let newNames = dnsNames(leaf)
        var audit = AuditRequest()
        audit.root = request.root
        audit.postfixDirectory = request.postfixDirectory
        audit.dovecotConfig = request.dovecotConfig
        var configured: [AuditEndpoint] = []
        do {
            let found = try Audit.configuredEndpoints(audit)
            configured = found.endpoints
            plan.sources = found.sources
        } catch let error as MailSecError where error.code == .fileNotFound && !request.installPairs.isEmpty {
            // Explicit files on a machine without Postfix or Dovecot: nothing to reload or confirm but the commands given.
        }

        var pairs: [AuditEndpoint.CertificatePair] = []
        if request.installPairs.isEmpty {
            for endpoint in configured {
                // The endpoint's pairs whose certificate shares a name with the new one; of an RSA and an EC
                // pair (Postfix's eccert, Dovecot's alt_cert), only the one of the new key's type.
                let sharing = endpoint.pairs.filter { pair in
                    guard let current = currentLeaf(pair.certificate, root: request.root) else { return false }
                    return dnsNames(current).contains { name in newNames.contains(name) || leaf.match(host: name) == .subjectAltName }
                }
                let sameType = sharing.filter { currentLeaf($0.certificate, root: request.root)?.publicKeyDescription.type == leaf.publicKeyDescription.type }
                let chosen = endpoint.pairs.count > 1 ? sameType : sharing
                guard !chosen.isEmpty else { continue }
                plan.endpoints.append(endpoint)
                for pair in chosen where !pairs.contains(pair) { pairs.append(pair) }
            }
        } else {
            pairs = request.installPairs
            plan.endpoints = configured.filter { endpoint in endpoint.pairs.contains { request.installPairs.contains($0) } }
        }
        guard !pairs.isEmpty else {
            throw MailSecError(.invalidInput, "no configured certificate shares a name with the new one (\(newNames.joined(separator: ", ")))" +
                               (plan.sources.isEmpty ? "" : "; read \(plan.sources.joined(separator: ", "))"),
                               remedy: "name the files to replace with \(Vocabulary.name(.installPairs))")
        }

        let newSource = SecureFileSystem.realPath(request.certificatePath)
        let newKeySource = SecureFileSystem.realPath(request.keyPath)
        for pair in pairs {
            if let current = currentLeaf(pair.certificate, root: request.root) {
                plan.replaced.append(Replaced(path: pair.certificate, names: dnsNames(current)))
            }
            if pair.certificate == pair.key {
                var both = SecureBytes(capacity: key.count + chain.count + 1)
                key.withUnsafeBytes { both.append(contentsOf: $0) }
                if key.count > 0, !key.withUnsafeBytes({ $0.last == 0x0a }) { both.append(0x0a) }
                both.append(contentsOf: chain)
                try plan.add(file(pair.certificate, contents: both, holdsKey: true, root: request.root, source: nil))
            } else {
                try plan.add(file(pair.certificate, contents: SecureBytes(chain), holdsKey: false, root: request.root, source: newSource))
                try plan.add(file(pair.key, contents: key, holdsKey: true, root: request.root, source: newKeySource))
            }
        }

        // postmap -F for every SNI map naming one of the files; a reload per server of the endpoints affected.
        let paths = Set(plan.files.map(\.path))
        for endpoint in plan.endpoints {
            if let rebuild = endpoint.rebuildArguments, endpoint.pairs.contains(where: { paths.contains($0.certificate) || paths.contains($0.key) }),
               !plan.rebuilds.contains(rebuild) {
                plan.rebuilds.append(rebuild)
            }
            if !plan.reloads.contains(endpoint.reloadArguments) { plan.reloads.append(endpoint.reloadArguments) }
        }
        return plan
    }

    mutating func add(_ file: File) throws {
        if let existing = files.first(where: { $0.destination == file.destination }) {
            guard existing.contents.isEqual(to: file.contents) else {
                throw MailSecError(.invalidInput, "\(file.path) is configured both as a certificate file and as a key file of different pairs",
                                   remedy: "give the pairs to replace with \(Vocabulary.name(.installPairs))")
            }
            return
        }
        files.append(file)
    }

    /// The leaf of a configured certificate file, when it can be read.
    static func currentLeaf(_ path: String, root: String) -> Certificate? {
        guard let bytes = try? SecureFileSystem.read(RootedPath.join(root, path)).withUnsafeBytes({ Array($0) }) else { return nil }
        return (try? Certificate.all(in: bytes, source: path))?.first
    }

    /// The file to write at `path`: its owner and mode kept, a key never more open than 0600 (or Debian's 0640 root:ssl-cert).
    static func file(_ path: String, contents: SecureBytes, holdsKey: Bool, root: String, source: String?) throws -> File {
        guard !path.contains("\n"), !path.contains("\t"), path.hasPrefix("/") else {
            throw MailSecError(.invalidInput, "cannot deploy to \(TextSanitizer.quoted(path)): not an absolute path without tabs or newlines")
        }
        let rooted = RootedPath.join(root, path)
        let destination = SecureFileSystem.realPath(rooted) ?? rooted
        var file = File(path: path, destination: destination, contents: contents, holdsKey: holdsKey,
                        mode: holdsKey ? 0o600 : 0o644, owner: nil, exists: false, unchanged: false)
        guard let status = FileStatus(path: destination) else { return file }
        guard status.isRegularFile else {
            throw MailSecError(.invalidInput, "\(path) is not a regular file", remedy: "point the configuration at a certificate or key file")
        }
        file.exists = true
        file.owner = status.owner
        file.mode = holdsKey ? keyMode(status) : status.mode
        if let source, source == destination {
            file.unchanged = true
            file.reason = "is the ACME client's own file"
        } else if let current = try? SecureFileSystem.read(destination), current.isEqual(to: contents) {
            file.unchanged = true
            file.reason = "already holds the new content"
        }
        return file
    }

    /// 0600 or tighter stays; 0640 root:ssl-cert stays (Debian lets the group read keys); anything else becomes 0600.
    static func keyMode(_ status: FileStatus) -> FilePermissions {
        if status.mode.isSubset(of: 0o600) { return status.mode }
        if status.mode == 0o640, status.owner.uid == 0, let sslCert = FileOwner.groupID(named: "ssl-cert"), status.owner.gid == sslCert { return 0o640 }
        return 0o600
    }
}
