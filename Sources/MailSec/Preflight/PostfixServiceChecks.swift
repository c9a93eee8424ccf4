/// The checks on main.cf and master.cf: the service, its overrides, its restrictions.
extension PreflightContext {
    func configFindings() -> [Finding] {
        let id: Finding.ID = "postfix-config"
        let problems = loadProblems + main.problems.map(\.description) + (master?.problems.map(\.description) ?? [])
        if problems.isEmpty {
            return [.pass(id, "\(mainPath) (\(main.entries.count) parameters) and \(masterPath) (\(master?.services.count ?? 0) services) parse cleanly")]
        }
        return [.fail(id, problems.joined(separator: "\n"),
                      remedy: "fix each line named (postconf -c \(ShellQuoting.quote(request.configDirectory)) -n shows how Postfix reads main.cf), then: postfix -c \(ShellQuoting.quote(request.configDirectory)) check")]
    }

    func serviceFindings() -> [Finding] {
        let id: Finding.ID = "smtps-service"
        guard let master else {
            return [.skip(id, "no master.cf to read"), .skip("wrappermode", "no master.cf to read"), .skip("sasl-enabled", "no master.cf to read"),
                    .skip("client-restrictions", "no master.cf to read")]
        }
        var findings: [Finding] = []
        if let service {
            findings.append(.pass(id, "\(serviceWhere): \(service.name) \(service.type) … \(service.command) listens on \(port)"))
        } else if let commented = commentedStanzas(master).first {
            let lines = Self.ranges(commented.lineNumbers)
            let others = commentedStanzas(master).dropFirst().map { "\($0.service.name) at line\($0.lineNumbers.count == 1 ? "" : "s") \(Self.ranges($0.lineNumbers))" }
            findings.append(.fail(id, "the \(commented.service.name) service is commented out in \(masterPath) (lines \(lines))"
                                      + (others.isEmpty ? "" : "; also commented out: \(others.joined(separator: ", "))"),
                                  remedy: "uncomment lines \(lines) of \(masterPath) so they read:\n" + commented.uncommented.joined(separator: "\n")
                                      + "\n" + missingOverrides(in: commented.service) + "then: postfix reload"))
        } else {
            let wrong = master.services.filter { Self.resolvePort($0.portName, services: services) == port }
            let detail = wrong.first.map { " (line \($0.lines.lowerBound) defines \($0.name) as \($0.type) \($0.command), not inet smtpd)" } ?? ""
            findings.append(.fail(id, "no enabled inet smtpd service on \(port) in \(masterPath)\(detail)",
                                  remedy: "add to \(masterPath):\n\(stanza)\nthen: postfix reload"))
        }
        for candidate in master.services where candidate.type == "inet" && candidate.command == "smtpd" {
            guard let number = Int(candidate.portName), number != port, Self.looksLikeTypo(number, of: port) else { continue }
            findings.append(.warn(id, "\(masterPath) line \(candidate.lines.lowerBound): service \(candidate.name) looks like a typo for \(port)",
                                  remedy: "change \(candidate.name) to \(candidate.host.map { "\($0):" } ?? "")\(port) at the start of line \(candidate.lines.lowerBound), then: postfix reload"))
        }
        guard service != nil else {
            return findings + ["wrappermode", "sasl-enabled", "client-restrictions"].map { .skip($0, "no \(port) service to check") }
        }
        return findings + [wrapperModeFinding(), saslEnabledFinding(), clientRestrictionsFinding()]
    }

    /// Commented-out stanzas for the port, the one to suggest first: open to every
    /// address (not `127.0.0.1:submissions`), already in wrapper mode, and the
    /// latest written, since an admin's own stanza comes after the stock ones.
    func commentedStanzas(_ master: PostfixMasterConfig) -> [CommentedService] {
        let matching = master.commented.filter {
            $0.service.type == "inet" && $0.service.command == "smtpd" && Self.resolvePort($0.service.portName, services: services) == port
        }
        func score(_ stanza: CommentedService) -> Int {
            (stanza.service.host == nil ? 2 : 0) + (stanza.service.override("smtpd_tls_wrappermode")?.value == "yes" ? 1 : 0)
        }
        return matching.enumerated().sorted { (score($0.element), $0.offset) > (score($1.element), $1.offset) }.map(\.element)
    }

    /// The guide's overrides a commented stanza lacks, as lines to add after it.
    func missingOverrides(in service: MasterService) -> String {
        let wanted = [("smtpd_tls_wrappermode", "yes"), ("smtpd_sasl_auth_enable", "yes"), ("smtpd_client_restrictions", "permit_sasl_authenticated,reject")]
        let missing = wanted.filter { name, _ in service.override(name) == nil }
        guard !missing.isEmpty else { return "" }
        return "and add after them:\n" + missing.map { "  -o \($0.0)=\($0.1)\n" }.joined()
    }

    /// `37-41, 46-51` for the line numbers 37…41 and 46…51.
    static func ranges(_ numbers: [Int]) -> String {
        var parts: [String] = []
        var start = numbers.first, previous = numbers.first
        for number in numbers.dropFirst() + [Int.min] {
            if let last = previous, number == last + 1 { previous = number; continue }
            if let first = start, let last = previous { parts.append(first == last ? "\(first)" : "\(first)-\(last)") }
            start = number
            previous = number
        }
        return parts.joined(separator: ", ")
    }

    /// 456 for 465: the same digits in another order, or one digit changed, added or dropped.
    static func looksLikeTypo(_ number: Int, of port: Int) -> Bool {
        let a = Array(String(number)), b = Array(String(port))
        if a.sorted() == b.sorted() { return true }
        if a.count == b.count { return zip(a, b).filter { $0 != $1 }.count == 1 }
        let (short, long) = a.count < b.count ? (a, b) : (b, a)
        guard long.count - short.count == 1 else { return false }
        return long.indices.contains { index in var copy = long; copy.remove(at: index); return copy == short }
    }

    func wrapperModeFinding() -> Finding {
        let id: Finding.ID = "wrappermode"
        if let entry = main.entries["smtpd_tls_wrappermode"], main.bool("smtpd_tls_wrappermode") {
            return .fail(id, "\(mainPath) line \(entry.line) sets smtpd_tls_wrappermode = \(entry.value) for every smtpd: port 25 then expects TLS first and other servers cannot deliver mail",
                         remedy: "delete line \(entry.line) of \(mainPath); set it only on the \(port) service:\n  -o smtpd_tls_wrappermode=yes\nthen: postfix reload")
        }
        if main.bool("smtpd_tls_wrappermode", overrides: overrides) {
            let line = service?.override("smtpd_tls_wrappermode")?.line ?? service?.lines.lowerBound ?? 0
            return .pass(id, "\(masterPath) line \(line): -o smtpd_tls_wrappermode=yes")
        }
        return .fail(id, "the \(service?.name ?? "") service does not set smtpd_tls_wrappermode=yes: clients that start TLS at once (Outlook on 465) get a clear-text greeting and fail",
                     remedy: addUnderService("smtpd_tls_wrappermode=yes"))
    }

    func saslEnabledFinding() -> Finding {
        let id: Finding.ID = "sasl-enabled"
        if main.bool("smtpd_sasl_auth_enable", overrides: overrides) {
            let line = service?.override("smtpd_sasl_auth_enable")?.line ?? main.line(of: "smtpd_sasl_auth_enable")
            let place = service?.override("smtpd_sasl_auth_enable") != nil ? masterPath : mainPath
            return .pass(id, "smtpd_sasl_auth_enable = yes (\(place)\(line.map { " line \($0)" } ?? ""))")
        }
        return .fail(id, "the \(service?.name ?? "") service does not enable SASL: clients cannot log in, so they cannot send",
                     remedy: addUnderService("smtpd_sasl_auth_enable=yes"))
    }

    /// The restriction lists smtpd applies at RCPT time, in order.
    static let restrictionLists = ["smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
                                   "smtpd_relay_restrictions", "smtpd_recipient_restrictions"]

    func clientRestrictionsFinding() -> Finding {
        let id: Finding.ID = "client-restrictions"
        let lists = Self.restrictionLists.map { ($0, main.list($0, overrides: overrides)) }
        let remedy = addUnderService("smtpd_client_restrictions=permit_sasl_authenticated,reject")
        // A client that has not logged in, relaying to a foreign domain: some list must refuse it.
        guard let refusing = lists.first(where: { Self.outcome(of: $0.1, authenticated: false) == .reject }) else {
            let shown = lists.filter { !$0.1.isEmpty }.map { "\($0.0) = \($0.1.joined(separator: ", "))" }.joined(separator: "; ")
            return .fail(id, "clients that have not logged in may relay through the \(service?.name ?? "") service (\(shown.isEmpty ? "every restriction list is empty" : shown)): an open relay",
                         remedy: remedy)
        }
        if let blocking = lists.first(where: { Self.outcome(of: $0.1, authenticated: true) == .reject }) {
            return .fail(id, "\(blocking.0) refuses clients that have logged in too (\(blocking.1.joined(separator: ", "))): put permit_sasl_authenticated before the reject",
                         remedy: remedy)
        }
        return .pass(id, "only authenticated clients may relay: \(refusing.0) = \(refusing.1.joined(separator: ", ")) refuses the rest")
    }

    enum ListOutcome { case permit, reject, undecided }

    /// How a restriction list ends for a client outside mynetworks relaying to a foreign domain.
    static func outcome(of list: [String], authenticated: Bool) -> ListOutcome {
        for item in list {
            switch item {
            case "permit": return .permit
            case "permit_sasl_authenticated": if authenticated { return .permit }
            case "reject", "defer", "reject_unauth_destination", "defer_unauth_destination", "reject_unverified_recipient": return .reject
            default: continue
            }
        }
        return .undecided
    }

    func servicesNameFindings() -> [Finding] {
        let id: Finding.ID = "services-name"
        guard let service else { return [.skip(id, "no \(port) service to look up")] }
        let name = service.portName
        if Int(name) != nil { return [.pass(id, "\(service.name) is a port number; /etc/services is not consulted")] }
        let file = rooted("/etc/services")
        let fix = "write \(service.host.map { "\($0):" } ?? "")\(port) instead of \(service.name) at the start of \(serviceWhere), or add to /etc/services:\n  submissions     \(port)/tcp         smtps ssmtp"
        guard let services else {
            return [.fail(id, "\(file) cannot be read, so Postfix's master cannot resolve \(name) (\"Servname not supported for ai_socktype\")", remedy: fix)]
        }
        guard let entry = services.tcp(name) else {
            return [.fail(id, "\(file) does not know \(name): Postfix's master stops with \"Servname not supported for ai_socktype\"", remedy: fix)]
        }
        if entry.port != port {
            return [.fail(id, "\(file) line \(entry.line) maps \(name) to \(entry.port)/tcp, not \(port)", remedy: fix)]
        }
        return [.pass(id, "\(name) is \(entry.port)/tcp in \(file) (line \(entry.line): \(entry.name)\(entry.aliases.isEmpty ? "" : " " + entry.aliases.joined(separator: " ")))")]
    }
}
