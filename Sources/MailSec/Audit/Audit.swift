/// What `mailsec audit` is asked to look at.
public struct AuditRequest: Sendable {
    /// Every file is read under this prefix, those the configuration names included.
    public var root = "/"
    /// The Postfix configuration directory as the server sees it; nil: /etc/postfix when it exists.
    public var postfixDirectory: String?
    /// Dovecot's main configuration file as the server sees it; nil: /etc/dovecot/dovecot.conf when it exists.
    public var dovecotConfig: String?
    /// The names clients use; each endpoint's certificate must cover them (an SNI endpoint: its own name).
    public var hosts: [String] = []
    /// Connect to every listener and compare what it serves with its files.
    public var probe = true
    /// What served chains must lead to.
    public var trust: TrustAnchors = .system
    /// The local address to probe from (Dovecot treats a client on its own address as secure).
    public var source: String?
    /// A certificate that expires within this many days is a warning.
    public var warnDays = 30
    /// Allowed for each network step of each probe.
    public var timeout: Duration = .seconds(10)
    /// Listeners probed at once.
    public var concurrency = 16

    /// The live system's Postfix and Dovecot, probed, system trust.
    public init() {}
}

/// One endpoint's findings, and the certificates behind them.
public struct AuditedEndpoint: Sendable {
    /// The listener: its service, address, protocol and files.
    public var endpoint: AuditEndpoint
    /// Its checks, in `endpointOrder`.
    public var report: Report
    /// The leaf the listener served, when it was probed.
    public var served: CertificateFacts?
    /// The leaf of each configured certificate file.
    public var configured: [CertificateFacts]
    /// The name its certificate must cover.
    public var name: String?
}

/// Every listener's findings and the checks across them.
public struct AuditResult: Sendable {
    /// One entry per TLS listener found in the configuration.
    public var endpoints: [AuditedEndpoint]
    /// The checks across endpoints: same-certificate, placeholder-certificate.
    public var report: Report
    /// What was read, and how: `postfix: /etc/postfix`, `dovecot: doveconf -n -c ...`.
    public var sources: [String]

    /// Nothing failed anywhere.
    public var ok: Bool { report.ok && endpoints.allSatisfy(\.report.ok) }
}

/// Every TLS listener of a Postfix + Dovecot server, from its configuration to what it serves.
public enum Audit {
    /// The ids of each endpoint's report, in order.
    public static let endpointOrder = Finding.ID.auditEndpointOrder

    /// Reads Postfix's and Dovecot's configuration (through `postconf` and `doveconf` on a live system), finds every TLS listener and the files it names, checks the files, and probes each listener to compare what it serves with them. Throws only when neither configuration can be read.
    public static func run(_ request: AuditRequest) throws -> AuditResult {
        let (endpoints, sources, myhostname) = try configuredEndpoints(request)
        let store = try TrustStore(request.trust)
        let names = request.hosts.isEmpty ? myhostname.map { [$0] } ?? [] : request.hosts
        let audited = BoundedPool.map(endpoints, concurrency: request.concurrency) { endpoint in
            audit(endpoint, request: request, names: names, store: store)
        }
        return AuditResult(endpoints: audited, report: crossChecks(audited, root: request.root), sources: sources)
    }

    /// The listeners the configuration describes, what was read, and Postfix's myhostname.
    static func configuredEndpoints(_ request: AuditRequest) throws -> (endpoints: [AuditEndpoint], sources: [String], myhostname: String?) {
        var endpoints: [AuditEndpoint] = []
        var sources: [String] = []
        var myhostname: String?
        let postfix = request.postfixDirectory ?? "/etc/postfix"
        if request.postfixDirectory != nil || FileStatus(path: RootedPath.join(request.root, postfix + "/main.cf")) != nil {
            let read = try PostfixEndpoints(directory: postfix, root: request.root)
            endpoints += read.endpoints
            myhostname = read.myhostname
            sources.append("postfix: \(postfix)")
        }
        let dovecot = request.dovecotConfig ?? "/etc/dovecot/dovecot.conf"
        if request.dovecotConfig != nil || FileStatus(path: RootedPath.join(request.root, dovecot)) != nil {
            let read = try DovecotEndpoints(path: dovecot, root: request.root)
            endpoints += read.endpoints
            sources.append("dovecot: \(read.readBy)")
        }
        guard !sources.isEmpty else {
            throw MailSecError(.fileNotFound, "no Postfix (\(postfix)/main.cf) or Dovecot (\(dovecot)) configuration under \(request.root)",
                               remedy: "give \(Vocabulary.name(.postfixDirectory)) and/or \(Vocabulary.name(.dovecotConfig))")
        }
        return (endpoints, sources, myhostname)
    }

    static func audit(_ endpoint: AuditEndpoint, request: AuditRequest, names: [String], store: TrustStore) -> AuditedEndpoint {
        let name = endpoint.serverName ?? names.first
        var report = Report()
        var configured: [CertificateFacts] = []
        // tls-files: verify's checks on each configured pair, their ids carried in the message.
        var fileFindings: [Finding] = []
        for pair in endpoint.pairs {
            var verify = VerifyRequest(certificatePath: RootedPath.join(request.root, pair.certificate), keyPath: RootedPath.join(request.root, pair.key),
                                       hosts: name.map { [$0] } ?? [])
            verify.trust = request.trust
            verify.warnDays = request.warnDays
            do {
                let verification = try CertificateVerifier.verify(verify)
                if let facts = verification.certificate { configured.append(facts) }
                fileFindings += verification.report.findings.filter { $0.status == .fail || $0.status == .warn }.map { finding in
                    Finding(id: "tls-files", status: finding.status, message: "\(pair.certificate): \(finding.id): \(finding.message)", remedy: finding.remedy)
                }
            } catch let error as MailSecError {
                fileFindings.append(.fail("tls-files", "\(error.message) (configured at \(endpoint.source))", remedy: error.remedy ?? "point the setting at \(endpoint.source) at files that exist"))
            } catch {
                fileFindings.append(.fail("tls-files", "\(error)"))
            }
        }
        if let problem = endpoint.mapProblem {
            fileFindings.append(.fail("tls-files", "\(problem): the name \(endpoint.serverName ?? "") is served with what the map held when it was compiled",
                                      remedy: endpoint.reload))
        }
        if fileFindings.isEmpty {
            let files = endpoint.pairs.map { "\($0.certificate) + \($0.key)" }.joined(separator: ", ")
            report.add(.pass("tls-files", "\(files) pass verify\(name.map { " for \($0)" } ?? "")" + (configured.first.map { " (\($0.subject), expires in \($0.daysLeft) days)" } ?? "")))
        } else {
            fileFindings.forEach { report.add($0) }
        }
        var served: CertificateFacts?
        if request.probe {
            var options = ProbeOptions()
            options.serverName = endpoint.serverName
            options.verifyHost = name
            options.trust = request.trust
            options.timeout = request.timeout
            options.warnDays = request.warnDays
            options.source = request.source
            let probe = MailProbe.run(endpoint.target, options: options)
            served = probe.certificate
            report.add(servedMatches(endpoint, served: served, configured: configured, probe: probe))
            for id in Finding.ID.servedCertificateChecks {
                guard var finding = probe.report.findings(withID: id).first else { continue }
                if id == "certificate-hostname", name == nil {
                    finding = .skip(id, "no name to check (give \(Vocabulary.name(.hosts)))")
                }
                if id == "certificate-chain", finding.status == .fail {
                    finding.remedy = "the listener must send the leaf and every intermediate: point the setting at \(endpoint.source) at the full chain (certbot: fullchain.pem beside cert.pem), then \(endpoint.reload)"
                }
                report.add(finding)
            }
        } else {
            report.add(.skip("served-matches-file", "not probed (\(Vocabulary.name(.noProbe)))"))
            for id in Finding.ID.servedCertificateChecks { report.add(.skip(id, "not probed (\(Vocabulary.name(.noProbe)))")) }
        }
        report.sort(by: endpointOrder)
        return AuditedEndpoint(endpoint: endpoint, report: report, served: served, configured: configured, name: name)
    }

    /// The listener serves the certificate its configuration names, or it has not reloaded since the file changed.
    static func servedMatches(_ endpoint: AuditEndpoint, served: CertificateFacts?, configured: [CertificateFacts], probe: ProbeResult) -> Finding {
        let id: Finding.ID = "served-matches-file"
        guard let served else {
            let why = probe.report.findings.first { $0.status == .fail }.map { "\($0.id): \($0.message)" } ?? "no certificate was served"
            return .fail(id, "could not get the served certificate: \(why)", remedy: "see why by probing it" + Vocabulary.with(.probe(target: endpoint.target.description)) { ": \($0)" })
        }
        guard !configured.isEmpty else { return .skip(id, "the configured certificate could not be read (see tls-files)") }
        if configured.contains(where: { $0.sha256 == served.sha256 }) {
            return .pass(id, "serves the configured certificate (\(served.subject), until \(served.notAfter), SHA-256 \(served.sha256.prefix(23))…)")
        }
        let file = configured[0]
        let older = served.notAfter < file.notAfter
        return .fail(id, "serves \(served.subject) (until \(served.notAfter), SHA-256 \(served.sha256.prefix(23))…), but \(endpoint.pairs[0].certificate) holds \(file.subject) (until \(file.notAfter), SHA-256 \(file.sha256.prefix(23))…)"
                         + (older ? ": the file was renewed and the server not reloaded" : ""),
                     remedy: "\(endpoint.reload) (or systemctl reload \(endpoint.service.hasPrefix("postfix") ? "postfix" : "dovecot")), then audit again")
    }

    /// same-certificate and placeholder-certificate.
    static func crossChecks(_ endpoints: [AuditedEndpoint], root: String) -> Report {
        var report = Report()
        // Listeners that answer for the same name must serve the same certificate.
        var byName: [String: [AuditedEndpoint]] = [:]
        for endpoint in endpoints where endpoint.served != nil { byName[endpoint.name ?? "", default: []].append(endpoint) }
        var differing: [Finding] = []
        for (name, group) in byName.sorted(by: { $0.key < $1.key }) {
            let fingerprints = Set(group.compactMap { $0.served?.sha256 })
            guard fingerprints.count > 1 else { continue }
            let listing = group.map { "\($0.endpoint.label): \($0.served!.subject) until \($0.served!.notAfter)" }.joined(separator: "; ")
            let bad = group.contains { placeholderReason($0, among: endpoints) != nil || $0.report.findings(withID: "certificate-hostname").first?.status == .fail }
            let message = "listeners for \(name.isEmpty ? "the same host" : name) serve \(fingerprints.count) different certificates: \(listing)"
            let remedy = "point Postfix (smtpd_tls_cert_file / smtpd_tls_chain_files) and Dovecot (ssl_cert / ssl_server_cert_file) at the same current files, then reload both"
            differing.append(bad ? .fail("same-certificate", message, remedy: remedy) : .warn("same-certificate", message, remedy: remedy))
        }
        if differing.isEmpty {
            report.add(endpoints.contains { $0.served != nil } ? .pass("same-certificate", "every name is served the same certificate by all its listeners")
                                                             : .skip("same-certificate", "nothing was probed"))
        } else {
            differing.forEach { report.add($0) }
        }
        let placeholders = endpoints.compactMap { endpoint in placeholderReason(endpoint, among: endpoints).map { (endpoint, $0) } }
        if placeholders.isEmpty {
            report.add(.pass("placeholder-certificate", "no listener serves or is configured with a placeholder certificate"))
        } else {
            for (endpoint, reason) in placeholders {
                report.add(.fail("placeholder-certificate", "\(endpoint.endpoint.label): \(reason)",
                                 remedy: "point the setting at \(endpoint.endpoint.source) at the server's real certificate and key, then \(endpoint.endpoint.reload)"))
            }
        }
        return report
    }

    /// Why an endpoint's certificate is a placeholder: Debian's snakeoil,
    /// Dovecot's example, CN=localhost, or self-signed where others chain to a CA.
    static func placeholderReason(_ audited: AuditedEndpoint, among all: [AuditedEndpoint]) -> String? {
        let files = audited.endpoint.pairs.map(\.certificate)
        if let snakeoil = files.first(where: { $0.contains("snakeoil") }) { return "configured with Debian's placeholder \(snakeoil)" }
        for facts in [audited.served].compactMap({ $0 }) + audited.configured {
            let subject = facts.subject.lowercased()
            if subject.contains("o=dovecot mail server") { return "\(facts.subject) is Dovecot's example certificate" }
            if subject == "cn=localhost" || subject.hasSuffix("cn=localhost") || subject.contains("cn=localhost.localdomain") {
                return "\(facts.subject) is a placeholder for localhost"
            }
        }
        let selfSigned = (audited.served ?? audited.configured.first)?.selfSigned == true
        let othersChain = all.contains { other in
            other.endpoint != audited.endpoint && (other.served ?? other.configured.first)?.selfSigned == false
        }
        if selfSigned, othersChain {
            return "serves a self-signed certificate (\((audited.served ?? audited.configured.first)!.subject)) where the other listeners chain to a CA"
        }
        return nil
    }
}
