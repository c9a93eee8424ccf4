#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// What `mailsec deploy` is asked to do.
public struct DeployRequest: Sendable {
    /// The new certificate with its chain (certbot's fullchain.pem), and its key.
    public var certificatePath: String
    /// The new private key.
    public var keyPath: String
    /// The root of the system the files belong to (`/`, or a copy of its tree).
    public var root = "/"
    /// Postfix's configuration directory (default: `/etc/postfix` under the root).
    public var postfixDirectory: String?
    /// Dovecot's `dovecot.conf` (default: `/etc/dovecot/dovecot.conf` under the root).
    public var dovecotConfig: String?
    /// Exactly these pairs instead of those the configuration names (`--install-cert`/`--install-key`).
    public var installPairs: [AuditEndpoint.CertificatePair] = []
    /// The trust anchors the new chain must verify against.
    public var trust: TrustAnchors = .system
    /// A certificate that expires within this many days fails the new-certificate check.
    public var warnDays = 30
    /// Install a certificate that drops a name the old one had (else refused).
    public var allowNameChange = false
    /// When set, the `dane` guard: the TLSA records of every name and port
    /// the new certificate will serve must match it before anything is installed.
    public var dane: DNSResolverOptions?
    /// Shell commands that replace the built-in reloads.
    public var reloadCommands: [String] = []
    /// Reload Postfix and Dovecot (or run `reloadCommands`) after installing.
    public var reload = true
    /// Check and show what would be installed and reloaded, and touch nothing.
    public var dryRun = false
    /// How long listeners have to serve the new certificate after the reload.
    public var timeout: Duration = .seconds(30)
    /// Each network step, and each command.
    public var stepTimeout: Duration = .seconds(10)
    /// Where the lock and the journal of an unfinished deploy are kept.
    public var stateDirectory = "/var/lib/mailsec"
    /// The time the new certificate is judged at.
    public var now = Date()

    /// A deploy of the certificate (with its chain) and key at these paths, with every default.
    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

/// One listener a deploy touched: what it served before, and after.
public struct DeployedEndpoint: Sendable {
    /// The listener.
    public var endpoint: AuditEndpoint
    /// SHA-256 fingerprints (`AB:CD:...`), nil when it could not be probed.
    public var before: String?
    /// The fingerprint served after the deploy (or the rollback), nil when it could not be probed.
    public var after: String?
}

/// What a deploy did: its checks, each listener before and after, and how long each phase took.
public struct DeployResult: Sendable {
    /// new-certificate, names-kept, install, reload, served, rollback, in that order.
    public var report: Report
    /// Every listener the new certificate was installed for.
    public var endpoints: [DeployedEndpoint]
    /// The new certificate's fingerprint.
    public var fingerprint: String
    /// How long each phase took: verify, install, reload, served (and rollback), in order.
    public var timings: [(phase: String, duration: Duration)] = []
    /// True when the certificate was installed and every listener serves it.
    public var ok: Bool { report.ok }
}

/// Puts a renewed certificate where Postfix and Dovecot read it, reloads them,
/// and proves every listener serves it, or puts everything back.
public enum Deploy {
    /// Verifies the new pair, installs it where the configuration (or `installPairs`) says with backups and a journal, rebuilds `tls_server_sni_maps`, reloads, and confirms every listener serves it; rolls everything back when one does not. Throws only when it cannot run at all (no configuration, another deploy holds the lock).
    public static func run(_ request: DeployRequest) throws -> DeployResult {
        let clock = PhaseClock()
        var result = try run(request, clock: clock)
        result.timings = clock.phases
        return result
    }

    static func run(_ request: DeployRequest, clock: PhaseClock) throws -> DeployResult {
        var report = Report()
        // 1. new-certificate: verify's checks, nothing touched on a failure.
        let chain = try SecureFileSystem.read(request.certificatePath).withUnsafeBytes { Array($0) }
        let key = try SecureFileSystem.read(request.keyPath)
        guard let leaf = try Certificate.all(in: chain, source: request.certificatePath).first else {
            throw MailSecError(.invalidInput, "\(request.certificatePath) holds no certificate")
        }
        let fingerprint = Hex.fingerprint(try leaf.sha256Fingerprint())
        let newCertificate = try verifyNew(request)
        report.add(newCertificate)
        guard newCertificate.status != .fail else { return DeployResult(report: report, endpoints: [], fingerprint: fingerprint) }

        let live = RootedPath.isLiveSystem(request.root)
        let server = "\(request.root)\n\(request.postfixDirectory ?? "/etc/postfix")\n\(request.dovecotConfig ?? "/etc/dovecot/dovecot.conf")"
        let journal = try DeployJournal(stateDirectory: RootedPath.join(request.root, request.stateDirectory), server: server)
        var plan = try DeployPlan.make(request, leaf: leaf, chain: chain, key: key)

        // 2. names-kept.
        let namesKept = namesKeptFinding(plan, leaf: leaf, allowed: request.allowNameChange)
        report.add(namesKept)
        guard namesKept.status != .fail else { return DeployResult(report: report, endpoints: plan.endpoints.map { .init(endpoint: $0) }, fingerprint: fingerprint) }

        // 3. dane: the records senders hold must already match the new key.
        if let dns = request.dane {
            let ports = Array(Set(plan.endpoints.map(\.port))).sorted()
            let names = DeployPlan.dnsNames(leaf).filter { !$0.hasPrefix("*.") }
            let guarded = try DANEGuard.check(chain: try Certificate.all(in: chain, source: request.certificatePath), names: names,
                                              ports: ports.isEmpty ? [25] : ports, dns: dns, timeout: request.stepTimeout)
            report.add(guarded)
            guard guarded.status != .fail else { return DeployResult(report: report, endpoints: plan.endpoints.map { .init(endpoint: $0) }, fingerprint: fingerprint) }
        }

        // A deploy killed halfway: its backups are what this run restores if it must roll back.
        let interrupted = journal.pending() ?? []
        if !interrupted.isEmpty {
            report.add(.warn("recovery", "a deploy was interrupted after it began to replace \(interrupted.map(\.path).joined(separator: ", ")); this run finishes it, and a rollback restores the files from before it",
                             remedy: "nothing to do: the report below says where the server ends up"))
        }
        if request.dryRun { return dryRun(plan, request: request, report: report, fingerprint: fingerprint) }

        clock.end("verify")
        let probing = live && !plan.endpoints.isEmpty
        var endpoints = plan.endpoints.map { DeployedEndpoint(endpoint: $0) }
        if probing {
            let served = served(plan.endpoints, request: request)
            for index in endpoints.indices { endpoints[index].before = served[index] }
        }
        clock.end("served-before")

        // 3. install, then postmap -F, which must also run when an earlier run was cut short before it.
        var installed: [(file: DeployPlan.File, backup: String?)] = []
        let stale = endpoints.contains { $0.before != fingerprint }
        do {
            installed = try install(plan, journal: journal, interrupted: interrupted, now: request.now)
            if installed.isEmpty, interrupted.isEmpty, !stale { plan.rebuilds = [] }
            var lines = installed.map { "\($0.file.path) (\(modeText($0.file.mode)) \(ownerText($0.file.owner))" + ($0.backup.map { ", previous kept as \($0))" } ?? ", new)") }
            lines += plan.files.filter(\.unchanged).map { "\($0.path) \($0.reason ?? "unchanged")" }
            try rebuildMaps(plan.rebuilds, timeout: request.stepTimeout, live: live)
            lines += plan.rebuilds.map { "ran \($0.map(ShellQuoting.quote).joined(separator: " "))" }
            report.add(.pass("install", lines.joined(separator: "; ")))
            clock.end("install")
        } catch let error as MailSecError {
            report.add(.fail("install", error.message, remedy: error.remedy))
            report.add(rollback(installed, plan: plan, request: request, endpoints: &endpoints, probing: probing, journal: journal))
            return DeployResult(report: report, endpoints: endpoints, fingerprint: fingerprint)
        }

        // 4. reload, when a file changed or a listener still serves something else.
        guard request.reload, live || !request.reloadCommands.isEmpty else {
            report.add(.skip("reload", request.reload ? "\(Vocabulary.name(.root)): the files are written under \(request.root); reload the server that reads them" : "not reloaded (\(Vocabulary.name(.noReload)))"))
            report.add(.skip("served", "nothing was reloaded"))
            journal.finish()
            retireNextKeys(plan, key: key, report: &report)
            return DeployResult(report: report, endpoints: endpoints, fingerprint: fingerprint)
        }
        if installed.isEmpty, interrupted.isEmpty, !stale, !endpoints.isEmpty {
            report.add(.pass("reload", "nothing changed and every listener already serves the new certificate: no reload needed"))
        } else {
            let reload = runReloads(plan, request: request)
            report.add(reload)
            clock.end("reload")
            if reload.status == .fail {
                report.add(rollback(installed, plan: plan, request: request, endpoints: &endpoints, probing: probing, journal: journal))
                return DeployResult(report: report, endpoints: endpoints, fingerprint: fingerprint)
            }
        }

        // 5. served: every affected listener, until it sends the new certificate.
        guard probing else {
            report.add(.skip("served", live ? "no listener of Postfix or Dovecot uses these files" : "not the live system"))
            journal.finish()
            return DeployResult(report: report, endpoints: endpoints, fingerprint: fingerprint)
        }
        let after = waitUntilServed(plan.endpoints, fingerprints: plan.endpoints.map { _ in fingerprint }, request: request)
        for index in endpoints.indices { endpoints[index].after = after[index] }
        clock.end("served")
        let listing = endpoints.map { "\($0.endpoint.label): \(short($0.after))" }.joined(separator: "; ")
        if after.allSatisfy({ $0 == fingerprint }) {
            report.add(.pass("served", "every listener serves the new certificate (\(short(fingerprint))): \(listing)"))
            journal.finish()
            retireNextKeys(plan, key: key, report: &report)
        } else {
            report.add(.fail("served", "not every listener serves the new certificate \(short(fingerprint)) within \(request.timeout.shortDescription): \(listing)",
                             remedy: "see why" + Vocabulary.with(.audit) { " with \($0)" }))
            report.add(rollback(installed, plan: plan, request: request, endpoints: &endpoints, probing: probing, journal: journal))
        }
        return DeployResult(report: report, endpoints: endpoints, fingerprint: fingerprint)
    }

    /// A deployed key that was waiting as `HOST.next.key` beside a key file it
    /// replaced is the current key now: the waiting copy goes (the key it
    /// replaced is kept as a backup), so the next rollover starts clean.
    /// Only after a deploy that stays; a rollback must find it still there.
    static func retireNextKeys(_ plan: DeployPlan, key: SecureBytes, report: inout Report) {
        guard let deployed = try? key.withUnsafeBytes({ try PrivateKey.first(in: $0, source: "the new key").subjectPublicKeyInfo() }) else { return }
        var retired: [String] = []
        for file in plan.files where file.holdsKey && !retired.contains(file.destination) {
            let next = KeyPairLocations.nextKeyPath(for: file.destination)
            guard let bytes = try? SecureFileSystem.read(next, kind: "a private key file"),
                  (try? bytes.withUnsafeBytes { try PrivateKey.first(in: $0, source: next).subjectPublicKeyInfo() }) == deployed,
                  unlink(next) == 0 else { continue }
            retired.append(next)
        }
        guard !retired.isEmpty else { return }
        report.add(.pass("next-key", "\(retired.joined(separator: ", ")) is the key deployed now: the waiting copy was removed (the key it replaced is kept as a backup)"))
    }

    /// verify's checks on the new pair; expiring within --warn-days is a failure here, not a warning.
    static func verifyNew(_ request: DeployRequest) throws -> Finding {
        var verify = VerifyRequest(certificatePath: request.certificatePath, keyPath: request.keyPath)
        verify.trust = request.trust
        verify.warnDays = request.warnDays
        verify.now = request.now
        let verification = try CertificateVerifier.verify(verify)
        let failures = verification.report.findings.filter { $0.status == .fail || ($0.status == .warn && $0.id == "expiry") }
        guard failures.isEmpty else {
            return .fail("new-certificate", "\(request.certificatePath) + \(request.keyPath) is not deployed, nothing was touched: " +
                         failures.map { "\($0.id): \($0.message)" }.joined(separator: "; "),
                         remedy: failures.compactMap(\.remedy).first ?? "renew again, or give the right certificate and key")
        }
        let facts = verification.certificate
        return .pass("new-certificate", "\(request.certificatePath) + \(request.keyPath) pass verify" +
                     (facts.map { " (\($0.subject), \($0.sans.joined(separator: " ")), expires in \($0.daysLeft) days)" } ?? ""))
    }

    static func namesKeptFinding(_ plan: DeployPlan, leaf: Certificate, allowed: Bool) -> Finding {
        var dropped: [String] = []
        for replaced in plan.replaced {
            for name in replaced.names where !dropped.contains(name) {
                let kept = name.hasPrefix("*.") ? DeployPlan.dnsNames(leaf).contains(name) : leaf.match(host: name) == .subjectAltName
                if !kept { dropped.append(name) }
            }
        }
        let files = plan.replaced.map(\.path).joined(separator: ", ")
        guard !dropped.isEmpty else { return .pass("names-kept", "every name of the certificates being replaced (\(files)) is still covered") }
        let message = "the new certificate does not cover \(dropped.joined(separator: ", ")), which \(files) covers: clients asking for it would fail"
        return allowed ? .warn("names-kept", message + " (allowed by \(Vocabulary.name(.allowNameChange)))")
                       : .fail("names-kept", message + "; nothing was touched", remedy: "renew with every name (certbot -d \(dropped.joined(separator: " -d "))), or pass \(Vocabulary.name(.allowNameChange))")
    }

    /// Stages every file, keeps backups, records them in the journal, then renames each into place.
    static func install(_ plan: DeployPlan, journal: DeployJournal, interrupted: [DeployJournal.Entry], now: Date) throws -> [(file: DeployPlan.File, backup: String?)] {
        let changed = plan.changed
        guard !changed.isEmpty else { return [] }
        var staged: [(file: DeployPlan.File, staged: StagedFile, backup: String?)] = []
        for file in changed {
            let directory = try SecureDirectory(path: SecureFileSystem.directory(of: file.destination), holdsPrivateKeys: file.holdsKey)
            let stagedFile = try file.contents.withUnsafeBytes {
                try StagedFile(in: directory, name: SecureFileSystem.baseName(of: file.destination), contents: $0, mode: file.mode, owner: file.owner)
            }
            staged.append((file, stagedFile, nil))
        }
        for index in staged.indices {
            staged[index].backup = try staged[index].staged.keepBackup(now: now)
            // The backup is the old file itself (a hard link): a key that was too open is tightened there too.
            if let backup = staged[index].backup, staged[index].file.holdsKey, let status = FileStatus(path: backup, followLinks: false),
               !status.mode.isSubset(of: staged[index].file.mode) {
                chmod(backup, staged[index].file.mode.mode)
            }
        }
        // The journal keeps the oldest backup of each file: that of an interrupted deploy, if there was one.
        var entries = interrupted
        for item in staged where !entries.contains(where: { $0.path == item.file.destination }) {
            entries.append(.init(path: item.file.destination, backup: item.backup))
        }
        try journal.record(entries)
        var installed: [(file: DeployPlan.File, backup: String?)] = []
        for item in staged {
            try item.staged.install(replacing: true)
            installed.append((item.file, item.backup))
        }
        return installed
    }

    static func rebuildMaps(_ rebuilds: [[String]], timeout: Duration, live: Bool) throws {
        guard live else { return }
        for arguments in rebuilds {
            let outcome = try Subprocess.run(arguments[0], Array(arguments.dropFirst()), timeout: timeout)
            guard outcome.status == 0, !outcome.timedOut else {
                throw MailSecError(.io, "\(arguments.joined(separator: " ")) failed (exit \(outcome.status)): \(TextSanitizer.escaped(outcome.errors.trimmingWhitespace()))",
                                   remedy: "fix the map's source, then deploy again")
            }
        }
    }

    /// The built-in reloads (postfix reload, doveadm reload) or the --reload-command's, each with a deadline.
    static func runReloads(_ plan: DeployPlan, request: DeployRequest) -> Finding {
        let commands: [[String]] = request.reloadCommands.isEmpty ? plan.reloads : request.reloadCommands.map { ["/bin/sh", "-c", $0] }
        guard !commands.isEmpty else { return .skip("reload", "no server to reload") }
        var ran: [String] = []
        for arguments in commands {
            let shown = arguments.first == "/bin/sh" ? arguments[2] : arguments.map(ShellQuoting.quote).joined(separator: " ")
            do {
                let outcome = try Subprocess.run(arguments[0], Array(arguments.dropFirst()), timeout: request.stepTimeout * 3)
                guard outcome.status == 0, !outcome.timedOut else {
                    let why = outcome.timedOut ? "did not finish within \((request.stepTimeout * 3).shortDescription)" : "exited \(outcome.status)"
                    let output = TextSanitizer.escaped((outcome.errors + outcome.output).trimmingWhitespace().prefix(400))
                    return .fail("reload", "\(shown) \(why)" + (output.isEmpty ? "" : ": \(output)"), remedy: "fix the reload; the files are being put back")
                }
            } catch let error as MailSecError {
                return .fail("reload", "\(shown): \(error.message)", remedy: error.remedy)
            } catch {
                return .fail("reload", "\(shown): \(error)")
            }
            ran.append(shown)
        }
        return .pass("reload", "ran " + ran.joined(separator: ", "))
    }

    /// What each endpoint serves now (its leaf's SHA-256), nil when it could not be probed.
    static func served(_ endpoints: [AuditEndpoint], request: DeployRequest) -> [String?] {
        BoundedPool.map(endpoints, concurrency: 16) { endpoint in
            probe(endpoint, timeout: request.stepTimeout)
        }
    }

    static func probe(_ endpoint: AuditEndpoint, timeout: Duration) -> String? {
        var options = ProbeOptions()
        options.serverName = endpoint.serverName
        options.trust = .system
        options.timeout = timeout
        return MailProbe.run(endpoint.target, options: options).certificate?.sha256
    }

    /// Probes each endpoint until it serves `fingerprints[i]` or `request.timeout` passes; what each served last.
    static func waitUntilServed(_ endpoints: [AuditEndpoint], fingerprints: [String?], request: DeployRequest) -> [String?] {
        let deadline = Deadline.after(request.timeout)
        return BoundedPool.map(Array(zip(endpoints, fingerprints)), concurrency: 16) { endpoint, wanted in
            var last: String?
            while true {
                let step = min(request.stepTimeout, max(.milliseconds(200), deadline.remaining))
                last = probe(endpoint, timeout: step)
                if last == wanted || wanted == nil || deadline.hasPassed { return last }
                usleep(50_000)   // a reload takes effect within milliseconds: poll, do not sleep long
            }
        }
    }

    /// Puts back what install changed (from the oldest backups), rebuilds the maps, reloads and waits for the old certificates.
    static func rollback(_ installed: [(file: DeployPlan.File, backup: String?)], plan: DeployPlan, request: DeployRequest,
                         endpoints: inout [DeployedEndpoint], probing: Bool, journal: DeployJournal) -> Finding {
        let journaled = journal.pending() ?? []
        var problems: [String] = []
        var restored: [String] = []
        for entry in journaled {
            do {
                if let backup = entry.backup {
                    let contents = try SecureFileSystem.read(backup)
                    let status = FileStatus(path: backup)
                    let holdsKey = plan.files.first { $0.destination == entry.path }?.holdsKey ?? true
                    let directory = try SecureDirectory(path: SecureFileSystem.directory(of: entry.path), holdsPrivateKeys: holdsKey)
                    let staged = try contents.withUnsafeBytes {
                        try StagedFile(in: directory, name: SecureFileSystem.baseName(of: entry.path), contents: $0,
                                       mode: status?.mode ?? 0o600, owner: status?.owner)
                    }
                    try staged.install(replacing: true)
                    restored.append("\(entry.path) from \(backup)")
                } else if unlink(entry.path) == 0 || errno == ENOENT {
                    restored.append("\(entry.path) removed (it was new)")
                } else {
                    problems.append("\(entry.path) could not be removed: \(Errno.current)")
                }
            } catch let error as MailSecError {
                problems.append("\(entry.path) still holds the new certificate: \(error.message)")
            } catch {
                problems.append("\(entry.path) still holds the new certificate: \(error)")
            }
        }
        if journaled.isEmpty && installed.isEmpty {
            return .pass("rollback", "no file had been changed; the server is as it was")
        }
        let live = RootedPath.isLiveSystem(request.root)
        do { try rebuildMaps(plan.rebuilds, timeout: request.stepTimeout, live: live) } catch let error as MailSecError { problems.append(error.message) } catch {}
        // A reload that fails again is only a problem if the listeners do not serve the previous certificate:
        // when the first reload never ran, they still do.
        var notes: [String] = []
        if request.reload, live || !request.reloadCommands.isEmpty {
            let reload = runReloads(plan, request: request)
            if reload.status == .fail {
                let problem = "the reload after restoring failed too: \(reload.message)"
                if probing { notes.append(problem) } else { problems.append(problem) }
            }
        }
        if probing, problems.isEmpty {
            let after = waitUntilServed(plan.endpoints, fingerprints: endpoints.map(\.before), request: request)
            for index in endpoints.indices {
                endpoints[index].after = after[index]
                if let before = endpoints[index].before, after[index] != before {
                    problems.append("\(endpoints[index].endpoint.label) serves \(short(after[index])), not the previous \(short(before))")
                }
            }
        }
        guard problems.isEmpty else {
            return .fail("rollback", "the server is NOT back where it was: " + (problems + restored.map { "restored \($0)" }).joined(separator: "; "),
                         remedy: "the previous files are kept beside each file as NAME.YYYYMMDD-HHMMSS.bak; the journal \(journal.path) lists them")
        }
        journal.finish()
        return .pass("rollback", "the server is back where it was: restored " + restored.joined(separator: ", ") +
                     (probing ? "; every listener serves the previous certificate again" : "") + notes.map { "; \($0)" }.joined())
    }

    /// --dry-run: the plan, nothing changed.
    static func dryRun(_ plan: DeployPlan, request: DeployRequest, report: Report, fingerprint: String) -> DeployResult {
        var report = report
        let files = plan.files.map { file in
            file.unchanged ? "\(file.path) \(file.reason ?? "unchanged")"
                           : "\(file.path) (\(modeText(file.mode)) \(ownerText(file.owner))" + (file.exists ? ", previous kept as \(file.path).\(UTCTime.compact(request.now)).bak)" : ", new)")
        }
        report.add(.skip("install", "dry run, would write: " + files.joined(separator: "; ") +
                         plan.rebuilds.map { "; would run \($0.map(ShellQuoting.quote).joined(separator: " "))" }.joined()))
        let reloads = request.reloadCommands.isEmpty ? plan.reloads.map { $0.map(ShellQuoting.quote).joined(separator: " ") } : request.reloadCommands
        report.add(.skip("reload", request.reload ? "dry run, would run: " + reloads.joined(separator: ", ") : "not reloaded (\(Vocabulary.name(.noReload)))"))
        report.add(.skip("served", "dry run, would confirm: " + plan.endpoints.map(\.label).joined(separator: ", ")))
        return DeployResult(report: report, endpoints: plan.endpoints.map { DeployedEndpoint(endpoint: $0) }, fingerprint: fingerprint)
    }

    static func short(_ fingerprint: String?) -> String {
        guard let fingerprint else { return "nothing (could not connect)" }
        return "SHA-256 " + fingerprint.prefix(23) + "…"
    }

    static func modeText(_ mode: FilePermissions) -> String { mode.description }

    static func ownerText(_ owner: FileOwner?) -> String {
        guard let owner else { return "owned by mailsec's user" }
        return "\(FileOwner.userName(owner.uid)):\(FileOwner.groupName(owner.gid))"
    }
}

extension DeployedEndpoint {
    init(endpoint: AuditEndpoint) {
        self.init(endpoint: endpoint, before: nil, after: nil)
    }
}

/// Time spent in each phase of a deploy, for the report and the bench.
final class PhaseClock {
    private(set) var phases: [(phase: String, duration: Duration)] = []
    private var start = ContinuousClock.now

    /// Ends the phase that began at the previous call (or at creation).
    func end(_ phase: String) {
        let now = ContinuousClock.now
        phases.append((phase, now - start))
        start = now
    }
}
