#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `mailsec verify` is asked to check.
public struct VerifyRequest: Sendable {
    /// The certificate file: the leaf, optionally followed by intermediates (as Postfix's smtpd_tls_cert_file).
    public var certificatePath: String
    /// The private key file, when the key is to be checked too.
    public var keyPath: String?
    /// More intermediates.
    public var chainPath: String?
    /// Names clients connect to; one `hostname` finding each.
    public var hosts: [String] = []
    /// What the chain must lead to.
    public var trust: TrustAnchors = .system
    /// A certificate that expires within this many days is a warning.
    public var warnDays = 30
    /// The time to validate at (expiry, the chain, CRLs).
    public var now = Date()
    /// CRL files, PEM or DER: revocation is then checked for the whole chain.
    public var crlPaths: [String] = []
    /// The most certificates between the leaf and the anchor.
    public var maximumDepth: Int?

    /// A request for the certificate (and optionally key and chain) files and the host names clients use.
    public init(certificatePath: String, keyPath: String? = nil, chainPath: String? = nil, hosts: [String] = []) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.chainPath = chainPath
        self.hosts = hosts
    }
}

/// The findings, and the facts of the leaf certificate when it could be read.
public struct CertificateVerification: Sendable {
    /// The checks in `Finding/ID/verifyOrder`, each failure with its fix.
    public var report: Report
    /// The leaf's facts, when it could be read.
    public var certificate: CertificateFacts?
    /// The path that was built, leaf first (empty when there was no certificate).
    public var path: [PathCertificate] = []
}

/// The checks of `mailsec verify`; `probe` and `preflight` reuse `certificateFindings`.
public enum CertificateVerifier {
    /// Runs every check. Throws only when it cannot run at all: a file that
    /// does not exist, a directory, no permission, an unusable --ca-file.
    public static func verify(_ request: VerifyRequest) throws -> CertificateVerification {
        let certificateBytes = try SecureFileSystem.read(request.certificatePath).withUnsafeBytes { Array($0) }
        let chainBytes = try request.chainPath.map { try SecureFileSystem.read($0).withUnsafeBytes { Array($0) } }
        let keyContents = try request.keyPath.map { try SecureFileSystem.read($0) }
        let store = try TrustStore(request.trust)
        var options = ChainValidationOptions()
        options.time = request.now
        options.maximumDepth = request.maximumDepth
        for path in request.crlPaths {
            let bytes = try SecureFileSystem.read(path, limit: 64 << 20, kind: "a CRL file (\(Vocabulary.name(.crlFiles)))").withUnsafeBytes { Array($0) }
            options.crls += try CertificateRevocationList.all(in: bytes, source: path)
        }

        var report = Report()
        var certificates: [Certificate] = []
        do {
            certificates = try Certificate.all(in: certificateBytes, source: request.certificatePath)
            if certificates.isEmpty {
                report.add(.fail("cert-readable", "\(request.certificatePath) holds no certificate",
                                 remedy: "point \(Vocabulary.name(.certificateFile)) (smtpd_tls_cert_file) at the PEM certificate"
                                    + Vocabulary.with(.inspect(path: request.certificatePath)) { "; `\($0)` shows what the file holds" }))
            }
        } catch let error as MailSecError {
            report.add(.fail("cert-readable", error.message,
                             remedy: "the file must hold the PEM certificate (-----BEGIN CERTIFICATE-----), leaf first; get a fresh copy from the CA"
                                + Vocabulary.with(.newPair(host: "HOSTNAME")) { " or make a new pair: \($0)" }))
        }
        var extra: [Certificate] = []
        if let chainBytes, let chainPath = request.chainPath {
            do {
                extra = try Certificate.all(in: chainBytes, source: chainPath)
                report.add(.pass("chain-readable", "\(chainPath): \(extra.count) certificate\(extra.count == 1 ? "" : "s")"))
            } catch let error as MailSecError {
                report.add(.fail("chain-readable", error.message, remedy: "\(Vocabulary.name(.chainFile)) must hold PEM intermediate certificates"))
            }
        }

        // The key, if any.
        var key: PrivateKey?
        if let keyPath = request.keyPath, let keyContents {
            let encrypted = keyContents.withUnsafeBytes { PEMDocument.looksEncrypted($0) }
            if encrypted {
                report.add(.fail("key-readable", "\(keyPath) is encrypted: Postfix and Dovecot cannot ask for its passphrase and will not start",
                                 remedy: "store it unencrypted, readable by root only:\n(umask 077; openssl pkey -in \(ShellQuoting.quote(keyPath)) -out \(ShellQuoting.quote(keyPath + ".new"))) && mv \(ShellQuoting.quote(keyPath + ".new")) \(ShellQuoting.quote(keyPath))"))
            } else {
                do {
                    key = try keyContents.withUnsafeBytes { try PrivateKey.first(in: $0, source: keyPath) }
                    report.add(.pass("key-readable", "\(keyPath): \(key!.keyDescription) private key, not encrypted"))
                } catch let error as MailSecError {
                    report.add(.fail("key-readable", error.message,
                                     remedy: "point \(Vocabulary.name(.keyFile)) (smtpd_tls_key_file) at the PEM private key"
                                        + Vocabulary.with(.inspect(path: keyPath)) { "; `\($0)` shows what the file holds" }))
                }
            }
        } else {
            report.add(.skip("key-readable", "no key given (\(Vocabulary.name(.keyFile)))"))
        }

        guard !certificates.isEmpty else {
            for id in Finding.ID.certificateChecks {
                report.add(.skip(id, "no certificate to check"))
            }
            report.add(keyPermissions(request.keyPath))
            return CertificateVerification(report: report, certificate: nil)
        }
        if report.findings(withID: "cert-readable").isEmpty {
            let more = certificates.count - 1
            report.add(.pass("cert-readable", "\(request.certificatePath): \(certificates[0].subject)" + (more > 0 ? " and \(more) more certificate\(more == 1 ? "" : "s")" : "")))
        }

        let leaf = findLeaf(certificates, key: key)
        if let key {
            report.add(keyMatch(key: key, leaf: leaf, request: request))
        } else {
            report.add(.skip("key-matches-cert", request.keyPath == nil ? "no key given (\(Vocabulary.name(.keyFile)))" : "the key could not be read"))
        }
        // Clients build a path from everything they were sent, in any order: a pool.
        let pool = certificates.filter { $0 !== leaf } + extra
        let (findings, path) = certificateChecks(leaf: leaf, pool: pool, hosts: request.hosts, store: store,
                                                 warnDays: request.warnDays, options: options)
        for finding in findings { report.add(finding) }
        // What Postfix and Dovecot send is the files' order: that is chain-order's business, not chain's.
        let sent = certificates.map { ($0, request.certificatePath) } + extra.map { ($0, request.chainPath ?? "") }
        report.add(chainOrder(sent: sent, leaf: leaf))
        report.add(keyPermissions(request.keyPath))
        // Present the findings in one stable order, whatever order they were computed in.
        report.sort(by: Finding.ID.verifyOrder)
        return CertificateVerification(report: report, certificate: try? CertificateFacts(leaf, now: request.now), path: path)
    }

    /// The checks that need only certificates, with verify's ids: for files
    /// (verify) and for what a server sent (probe picks its own from these).
    public static func certificateFindings(leaf: Certificate, intermediates: [Certificate], hosts: [String], store: TrustStore,
                                           warnDays: Int, now: Date = Date()) -> [Finding] {
        var options = ChainValidationOptions()
        options.time = now
        return certificateChecks(leaf: leaf, pool: intermediates, hosts: hosts, store: store, warnDays: warnDays, options: options).findings
    }

    /// The certificate checks and the path they were judged on.
    public static func certificateChecks(leaf: Certificate, pool: [Certificate], hosts: [String], store: TrustStore,
                                         warnDays: Int, options: ChainValidationOptions) -> (findings: [Finding], path: [PathCertificate]) {
        let validation: ChainValidation?
        let chain: [Finding]
        do {
            let validated = try leaf.validateChain(pool: pool, store: store, options: options)
            validation = validated
            chain = chainFindings(leaf, validated, store: store)
        } catch {
            validation = nil
            chain = [.fail("chain", "the chain could not be checked: \(error)"), .skip("crl", "the chain could not be checked")]
        }
        let findings = hostFindings(leaf, hosts: hosts)
            + validityFindings(leaf, warnDays: warnDays, now: options.time)
            + chain
            + [keyStrength(leaf), signatureAlgorithms(leaf, intermediates: pool), keyUsage(leaf)]
        return (findings, validation?.path ?? [])
    }

    // MARK: The individual checks

    static func hostFindings(_ leaf: Certificate, hosts: [String]) -> [Finding] {
        let id: Finding.ID = "hostname"
        guard !hosts.isEmpty else { return [.skip(id, "no host name given (\(Vocabulary.name(.hosts)))")] }
        let names = leaf.subjectAlternativeNames.map(\.description).joined(separator: ", ")
        return hosts.map { host in
            switch leaf.match(host: host) {
            case .subjectAltName:
                return .pass(id, "\(host) is covered by the certificate's names")
            case .commonNameOnly:
                return .fail(id, "\(host) is only in the subject CN and the certificate has no subjectAltName: current mail clients refuse it (RFC 6125/9525; Postfix's own SMTP client would still accept it)",
                             remedy: "issue a certificate with the name in subjectAltName"
                                + Vocabulary.with(.renew(host: name(of: leaf), addingName: nil)) { ": \($0) (self-signed)" }
                                + Vocabulary.with(.requestSignature(host: name(of: leaf))) { " or \($0) for a CA" })
            case .none:
                let covered = names.isEmpty ? "no subjectAltName at all; CN=\(leaf.subject.commonName ?? "none")" : names
                return .fail(id, "\(host) is not covered by the certificate (it names: \(covered))",
                             remedy: "connect with a name the certificate has, or issue one that covers \(host)"
                                + Vocabulary.with(.renew(host: name(of: leaf), addingName: host)) { ": \($0)" })
            }
        }
    }

    /// Compared to the second, notAfter inclusive (RFC 5280 4.1.2.5): a
    /// certificate is valid through the whole of its last second.
    static func validityFindings(_ leaf: Certificate, warnDays: Int, now exact: Date) -> [Finding] {
        let now = Date(timeIntervalSince1970: exact.timeIntervalSince1970.rounded(.down))
        let notBefore = leaf.notBefore, notAfter = leaf.notAfter
        let days = UTCTime.daysLeft(until: notAfter, from: now)
        let renew = "renew it" + Vocabulary.with(.renew(host: name(of: leaf), addingName: nil)) { ": \($0) (self-signed, keeps DANE 3 1 1 records)" } + ", or ask your CA"
        var findings: [Finding] = []
        if now < notBefore {
            findings.append(.fail("validity", "not valid before \(UTCTime.human(notBefore)); clients reject it until then",
                                  remedy: "check this machine's clock (timedatectl), or wait; a certificate dated in the future usually means a wrong clock where it was made"))
        } else if now > notAfter {
            findings.append(.fail("validity", "expired on \(UTCTime.human(notAfter)), \(-days) day\(-days == 1 ? "" : "s") ago", remedy: renew))
        } else {
            findings.append(.pass("validity", "valid from \(UTCTime.human(notBefore)) until \(UTCTime.human(notAfter))"))
        }
        if now > notAfter {
            findings.append(.skip("expiry", "already expired (see validity)"))
        } else if days < warnDays {
            findings.append(.warn("expiry", "expires in \(days) day\(days == 1 ? "" : "s") (\(UTCTime.human(notAfter))), within the \(warnDays)-day warning period", remedy: renew))
        } else {
            findings.append(.pass("expiry", "expires in \(days) days"))
        }
        return findings
    }

    /// The host name to put in a suggested command: the first DNS name, else the CN.
    /// The certificate's host name, for a suggested `mailsec genkey` command:
    /// only a name genkey would accept (a SAN such as `$(touch x)` or an empty
    /// CN is untrusted text, not a host), else the placeholder HOSTNAME.
    static func name(of leaf: Certificate) -> String {
        let candidates = leaf.subjectAlternativeNames.compactMap { name -> String? in
            if case .dns(let dns) = name, !dns.hasPrefix("*") { return dns }
            return nil
        } + [leaf.subject.commonName].compactMap { $0 }
        return candidates.lazy.compactMap { try? Hostname.normalize($0) }.first ?? "HOSTNAME"
    }

    /// `chain`, with the path built, certificate by certificate; and `crl`.
    static func chainFindings(_ leaf: Certificate, _ validation: ChainValidation, store: TrustStore) -> [Finding] {
        let path = validation.path.enumerated().map { depth, certificate in
            "\(depth == 0 ? "" : "→ ")\(certificate.subject) (\(certificate.key), until \(certificate.notAfter)\(certificate.anchor ? ", trust anchor" : ""))"
        }.joined(separator: " ")
        let serious = validation.problems.filter { $0.kind != .noCRL }
        var crl: Finding
        if !validation.checkedRevocation {
            crl = .skip("crl", "no CRL given (\(Vocabulary.name(.crlFiles))): revocation not checked")
        } else if let revoked = serious.first(where: { $0.kind == .revoked }) {
            crl = .fail("crl", revoked.rule, remedy: revoked.remedy)
        } else if let unusable = serious.first(where: { $0.kind == .crlUnusable }) {
            crl = .fail("crl", unusable.rule, remedy: unusable.remedy)
        } else {
            let missing = validation.problems.filter { $0.kind == .noCRL }
            crl = missing.isEmpty ? .pass("crl", "no certificate on the path is revoked")
                                  : .warn("crl", missing.map(\.rule).joined(separator: "; "), remedy: missing[0].remedy)
        }
        let chainProblems = serious.filter { $0.kind != .revoked && $0.kind != .crlUnusable && !$0.reportedByLeafCheck }
        if chainProblems.isEmpty {
            let anchor = validation.path.last.map { $0.anchor ? "trusted by \(store.description)" : "" } ?? ""
            return [.pass("chain", "\(path); \(anchor)"), crl]
        }
        if chainProblems.count == 1, chainProblems[0].kind == .selfSignedLeaf {
            return [.warn("chain", "self-signed: fine for your own clients and servers, but mail clients will ask users to trust it",
                          remedy: "get it signed by a CA" + Vocabulary.with(.requestSignature(host: name(of: leaf))) { " (\($0))" }
                                  + ", or install it as trusted on the clients; to check against it here, pass it with \(Vocabulary.name(.trustedCAFile))"),
                    crl]
        }
        let described = chainProblems.map { problem in
            "\(problem.rule)\(problem.code != 0 ? " [OpenSSL: \(problem.reason)]" : " [\(problem.reason)]")"
        }.joined(separator: "; ")
        return [.fail("chain", "\(described). Path built: \(path)", remedy: chainProblems[0].remedy), crl]
    }

    /// The order a server sends: its files as written. It must be the leaf,
    /// then each certificate's issuer; certificates that belong to no path
    /// are named too. `sent` pairs each certificate with the file it is in.
    static func chainOrder(sent: [(certificate: Certificate, file: String)], leaf: Certificate) -> Finding {
        let certificates = sent.map(\.certificate)
        guard certificates.count > 1 else { return .pass("chain-order", "a single certificate, nothing to order") }
        var ordered = [leaf]
        var remaining = certificates.filter { $0 !== leaf }
        while let next = remaining.firstIndex(where: { ordered.last!.isIssued(by: $0) && ordered.last! !== $0 }) {
            ordered.append(remaining.remove(at: next))
        }
        let surplus = remaining
        ordered += remaining
        let inOrder = zip(certificates, ordered).allSatisfy { $0 === $1 }
        var files: [String] = []
        for (_, file) in sent where !file.isEmpty && !files.contains(file) { files.append(file) }
        let named = files.joined(separator: " + ")
        if inOrder {
            return surplus.isEmpty ? .pass("chain-order", "leaf first, each certificate followed by its issuer")
                : .warn("chain-order", "leaf first and in order, but \(named) also holds \(surplus.map { $0.subject.description }.joined(separator: ", ")), which is not on the path: servers send it for nothing",
                        remedy: "remove the certificates that are not the leaf's issuers from \(named)")
        }
        let wanted = ordered.map { certificate in
            "  \(certificate.subject)" + (files.count > 1 ? " (from \(sent.first { $0.certificate === certificate }?.file ?? "?"))" : "")
        }.joined(separator: "\n")
        let problem = certificates.first !== leaf ? "the leaf is not first" : "the intermediates are out of order"
        return .fail("chain-order", "\(problem) in \(named): servers send the files in their order and some clients reject a scrambled chain",
                     remedy: "rewrite it as leaf first, then each issuer:\n\(wanted)\ne.g. cat leaf.crt intermediate.crt > \(ShellQuoting.quote(files.first ?? "fullchain.pem"))")
    }

    static func keyStrength(_ leaf: Certificate) -> Finding {
        let key = leaf.publicKeyDescription
        if !key.isDecodable {
            return .fail("key-strength", "the certificate carries \(key): no client can use it",
                         remedy: "reissue the certificate for a valid key" + Vocabulary.with(.replaceKey(host: name(of: leaf), choosingKey: false)) { ": \($0)" })
        }
        let weak = (key.type == .rsa && key.bits < 2048) || (key.type == .ec && key.bits < 256)
        if weak {
            return .fail("key-strength", "\(key) is too weak: clients and OpenSSL's default security level refuse it",
                         remedy: "make a new key (RSA 2048 or more, or EC)" + Vocabulary.with(.replaceKey(host: name(of: leaf), choosingKey: true)) { ": \($0)" })
        }
        return .pass("key-strength", "\(key) key")
    }

    static func signatureAlgorithms(_ leaf: Certificate, intermediates: [Certificate]) -> Finding {
        // A trust anchor's own signature is never checked by clients, so it may be SHA-1.
        let signed = [leaf] + intermediates.filter { !$0.isSelfSigned }
        let weak = signed.filter { ["MD5", "SHA1", "MD4", "MD2"].contains($0.signatureDigest ?? "") }
        if let first = weak.first {
            let names = weak.map { "\($0.subject) (\($0.signatureAlgorithm))" }.joined(separator: ", ")
            return .fail("signature-algorithm", "signed with a broken hash: \(names)",
                         remedy: first === leaf ? "reissue it with SHA-256" + Vocabulary.with(.renew(host: name(of: leaf), addingName: nil)) { ": \($0)" } + ", or ask the CA"
                                              : "get the current intermediate from your CA")
        }
        return .pass("signature-algorithm", leaf.signatureAlgorithm)
    }

    static func keyUsage(_ leaf: Certificate) -> Finding {
        if leaf.basicConstraints?.isCA == true {
            return .fail("key-usage", "the certificate is a CA (basicConstraints CA:TRUE), not a server certificate",
                         remedy: "use the server certificate as the leaf; a CA certificate belongs after it or on the clients only")
        }
        if let usages = leaf.extendedKeyUsage, !usages.contains("serverAuth"), !usages.contains("anyExtendedKeyUsage") {
            return .fail("key-usage", "extendedKeyUsage is \(usages.joined(separator: ", ")) without serverAuth: clients refuse it for a server",
                         remedy: "issue a server certificate (extendedKeyUsage serverAuth)" + Vocabulary.with(.renew(host: name(of: leaf), addingName: nil)) { ": \($0)" }
                                + ", or ask the CA for a TLS server certificate")
        }
        if let bits = leaf.keyUsage, !bits.contains(.digitalSignature) {
            let isRSA = leaf.publicKeyDescription.type == .rsa
            let message = "keyUsage lacks digitalSignature (has \(bits)): TLS 1.3 and ECDHE need it"
            let remedy = "reissue with keyUsage digitalSignature" + Vocabulary.with(.renew(host: name(of: leaf), addingName: nil)) { ": \($0)" }
            return isRSA && bits.contains(.keyEncipherment) ? .warn("key-usage", message, remedy: remedy) : .fail("key-usage", message, remedy: remedy)
        }
        return .pass("key-usage", "usable for a TLS server" + (leaf.extendedKeyUsage.map { " (\($0.joined(separator: ", ")))" } ?? ""))
    }

    static func keyMatch(key: PrivateKey, leaf: Certificate, request: VerifyRequest) -> Finding {
        let keySPKI = (try? key.subjectPublicKeyInfo()) ?? []
        let certificateSPKI = (try? leaf.subjectPublicKeyInfo()) ?? []
        if !keySPKI.isEmpty, keySPKI == certificateSPKI {
            return .pass("key-matches-cert", "the key belongs to the certificate (SPKI SHA-256 \(Hex.encode(Digest.sha256(keySPKI)).prefix(16))…)")
        }
        let host = name(of: leaf)
        return .fail("key-matches-cert", "the key does not belong to the certificate: certificate SPKI SHA-256 \(Hex.encode(Digest.sha256(certificateSPKI))), key \(Hex.encode(Digest.sha256(keySPKI)))",
                     remedy: "find the key this certificate was made for" + Vocabulary.with(.inspect(path: nil)) { " (`\($0)` shows each file's SPKI SHA-256)" }
                        + ", or issue a certificate for this key"
                        + Vocabulary.with(.renewFiles(keyFile: request.keyPath ?? "KEY", certificateFile: request.certificatePath, host: host)) { ": \($0)" })
    }

    static func keyPermissions(_ path: String?) -> Finding {
        guard let path else { return .skip("key-file-permissions", "no key given (\(Vocabulary.name(.keyFile)))") }
        guard let status = FileStatus(path: path) else { return .skip("key-file-permissions", "\(path) cannot be examined") }
        // What a chmod would change is the file the path leads to: name that one,
        // and suggest nothing for what is not a key file (a link to /tmp, say).
        let real = SecureFileSystem.realPath(path) ?? path
        let target = ShellQuoting.quote(real)
        let via = real == path ? "" : " (through the link \(path))"
        guard status.isRegularFile else {
            return .fail("key-file-permissions", "\(real)\(via) is not a regular file", remedy: "point the key option at the private key file itself")
        }
        let mode = status.mode, shown = "\(status.octalMode) \(status.ownerDescription)"
        if !mode.isDisjoint(with: .others) {
            return .fail("key-file-permissions", "\(real)\(via) is \(mode.contains(.otherRead) ? "readable" : "accessible") by every user (\(shown))",
                         remedy: "chmod 600 \(target)  (then consider the key compromised and make a new one)")
        }
        if mode.contains(.groupWrite) {
            return .fail("key-file-permissions", "\(real)\(via) is writable by its group (\(shown))", remedy: "chmod g-w \(target)")
        }
        if mode.contains(.groupRead) {
            let group = FileOwner.groupName(status.owner.gid)
            if status.owner.gid != 0 && group != "ssl-cert" {
                return .warn("key-file-permissions", "\(real)\(via) is readable by the group \(group) (\(shown))",
                             remedy: "chmod 600 \(target), or chgrp ssl-cert \(target) if that group's members (Postfix, Dovecot) need it")
            }
        }
        return .pass("key-file-permissions", "\(path) is \(shown)")
    }

    /// The certificate in the list that the key belongs to; else the first one
    /// that issued none of the others and is not a CA; else the first.
    static func findLeaf(_ certificates: [Certificate], key: PrivateKey?) -> Certificate {
        if let key, let owned = certificates.first(where: { key.matches($0) }) { return owned }
        let issuers = certificates.filter { candidate in certificates.contains { $0 !== candidate && $0.isIssued(by: candidate) } }
        return certificates.first { certificate in
            certificate.basicConstraints?.isCA != true && !issuers.contains { $0 === certificate }
        } ?? certificates[0]
    }
}
