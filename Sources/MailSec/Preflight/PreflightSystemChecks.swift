/// The checks on files, sockets, ports and firewalls the configuration points at.
extension PreflightContext {
    // MARK: tls-files

    func tlsFileFindings() -> [Finding] {
        let id: Finding.ID = "tls-files"
        let chainFiles = main.list("smtpd_tls_chain_files", overrides: overrides)
        var certificate = main.value("smtpd_tls_cert_file", overrides: overrides)
        var key = main.value("smtpd_tls_key_file", overrides: overrides)
        var chain: String?
        if !chainFiles.isEmpty {
            // Postfix's chain files hold a key followed by its certificates, in one file or several.
            key = chainFiles[0]
            certificate = chainFiles.count > 1 ? chainFiles[1] : chainFiles[0]
            chain = chainFiles.count > 2 ? chainFiles[2] : nil
        }
        guard !certificate.isEmpty else {
            return [.fail(id, "neither smtpd_tls_cert_file nor smtpd_tls_chain_files is set: wrapper mode has no certificate to present",
                          remedy: "make a key and certificate and point main.cf at them:\n"
                                  + Vocabulary.with(.newPair(host: ShellQuoting.hostArgument(host))) { "  \($0)\n" } + "  postconf -e smtpd_tls_cert_file=/etc/pki/tls/certs/\(ShellQuoting.hostArgument(host)).crt smtpd_tls_key_file=/etc/pki/tls/private/\(ShellQuoting.hostArgument(host)).key")]
        }
        if key.isEmpty { key = certificate }
        var verifyRequest = VerifyRequest(certificatePath: rooted(certificate), keyPath: rooted(key), chainPath: chain.map(rooted), hosts: [host])
        verifyRequest.trust = request.trust
        verifyRequest.warnDays = request.warnDays
        let verification: CertificateVerification
        do {
            verification = try CertificateVerifier.verify(verifyRequest)
        } catch let error as MailSecError {
            return [.fail(id, error.message, remedy: error.remedy ?? "point smtpd_tls_cert_file and smtpd_tls_key_file at files that exist"
                                  + Vocabulary.with(.newPair(host: ShellQuoting.hostArgument(host))) { ": \($0) makes them" })]
        } catch {
            return [.fail(id, "\(error)")]
        }
        var findings = verification.report.findings.filter { $0.status == .fail || $0.status == .warn }.map { finding in
            Finding(id: id, status: finding.status, message: "\(finding.id): \(finding.message)", remedy: finding.remedy)
        }
        findings += keyOwnerFindings(rooted(key))
        if findings.isEmpty {
            let facts = verification.certificate
            return [.pass(id, "\(certificate) and \(key) pass verify for \(host)" + (facts.map { " (\($0.subject), expires in \($0.daysLeft) days)" } ?? ""))]
        }
        return findings
    }

    /// Postfix reads the key as root; anyone else owning it could replace it.
    func keyOwnerFindings(_ path: String) -> [Finding] {
        guard let status = FileStatus(path: path), status.owner.uid != 0 else { return [] }
        return [.fail("tls-files", "key-file-owner: \(path) is owned by \(accounts.userName(status.owner.uid)), not root",
                      remedy: "chown root:root \(ShellQuoting.quote(path)) && chmod 600 \(ShellQuoting.quote(path))")]
    }

    // MARK: sasl-socket

    func saslSocketFindings() -> [Finding] {
        let id: Finding.ID = "sasl-socket"
        guard main.bool("smtpd_sasl_auth_enable", overrides: overrides) else {
            return [.skip(id, service == nil ? "no \(port) service" : "SASL is not enabled for the \(service!.name) service")]
        }
        switch main.value("smtpd_sasl_type", overrides: overrides) {
        case "dovecot": return dovecotSocketFindings()
        case "cyrus": return cyrusFindings()
        case let other: return [.fail(id, "smtpd_sasl_type = \(other) is neither dovecot nor cyrus", remedy: "set smtpd_sasl_type = dovecot (or cyrus) in \(mainPath)")]
        }
    }

    var dovecotListenerBlock: String {
        let path = main.value("smtpd_sasl_path", overrides: overrides)
        let full = path.hasPrefix("/") ? path : main.value("queue_directory") + "/" + path
        let owner = main.value("mail_owner")
        return """
        make Dovecot listen there for Postfix (conf.d/10-master.conf), then: systemctl reload dovecot
        service auth {
          unix_listener \(full) {
            mode = 0660
            user = \(owner)
            group = \(owner)
          }
        }
        """
    }

    func dovecotSocketFindings() -> [Finding] {
        let id: Finding.ID = "sasl-socket"
        let path = main.value("smtpd_sasl_path", overrides: overrides)
        let address: SocketAddress
        if path.hasPrefix("inet:") {
            guard let parsed = try? SocketAddress(parsing: path) else { return [.fail(id, "smtpd_sasl_path = \(TextSanitizer.escaped(path)) is not inet:HOST:PORT")] }
            // A copied tree must not decide where a password goes: only this
            // machine's own configuration may send it over the network.
            guard request.isLiveSystem else {
                return [.skip(id, "smtpd_sasl_path = \(parsed) is a network address; under \(Vocabulary.name(.root)) MailSec connects only to Unix sockets inside the tree, so it is not tried")]
            }
            address = parsed
        } else {
            let full = path.hasPrefix("/") ? path : main.value("queue_directory") + "/" + path
            let onDisk = rooted(full)
            guard let status = FileStatus(path: onDisk) else {
                return [.fail(id, "no socket at \(onDisk) (queue_directory + smtpd_sasl_path): Dovecot is not listening there, so every AUTH fails with 454",
                              remedy: dovecotListenerBlock)]
            }
            guard status.isSocket else {
                return [.fail(id, "\(onDisk) exists but is not a socket (mode \(status.octalMode))", remedy: "remove it, then:\n" + dovecotListenerBlock)]
            }
            if let problem = postfixCannotOpen(onDisk, status: status) { return [problem] }
            address = .unix(onDisk)
        }
        let shown = "\(address)"
        let client: DovecotAuthClient
        do {
            client = try DovecotAuthClient(address: address, timeout: min(request.timeout, .seconds(5)))
        } catch let error as MailSecError {
            return [.fail(id, "\(shown): \(error.message)", remedy: error.remedy ?? "start Dovecot (systemctl start dovecot) and check its log")]
        } catch {
            return [.fail(id, "\(shown): \(error)")]
        }
        let mechanisms = client.handshake.mechanisms.map(\.name)
        var findings: [Finding] = [.pass(id, "\(shown) is Dovecot's auth socket (protocol \(client.handshake.majorVersion).\(client.handshake.minorVersion)); mechanisms: \(mechanisms.joined(separator: " "))")]
        guard let user = request.authUser, let password = request.password else { return findings }
        var authRequest = AuthRequest()
        authRequest.secured = true
        authRequest.mechanism = mechanisms.contains("PLAIN") ? "PLAIN" : (AuthRequest.strongestMechanism(offered: mechanisms) ?? "PLAIN")
        do {
            let verdict = try client.authenticate(user: user, password: password, request: authRequest)
            switch verdict.outcome {
            case .success: findings.append(.pass(id, "\(user) logged in through \(shown) with \(authRequest.mechanism), as Postfix would"))
            case .rejected, .temporary:
                findings.append(.fail(id, "\(user) could not log in through \(shown): \(verdict.reason ?? verdict.code ?? verdict.outcome.rawValue)",
                                      remedy: "check the password; Dovecot's log (auth_verbose = yes) says why, or: doveadm auth test \(ShellQuoting.quote(user))"))
            }
        } catch {
            findings.append(.fail(id, "\(user): the login through \(shown) broke off: \(error)"))
        }
        return findings
    }

    /// The postfix user (mail_owner) needs write permission on the socket and search permission on every directory above it.
    func postfixCannotOpen(_ path: String, status: FileStatus) -> Finding? {
        let owner = main.value("mail_owner")
        guard let user = accounts.users[owner] else {
            return .warn("sasl-socket", "no user \(owner) (mail_owner) in \(rooted("/etc/passwd")); cannot tell whether Postfix may open \(path)")
        }
        // Directories above --root belong to this machine, not to the checked tree.
        let top = request.isLiveSystem ? "/" : root
        var directory = SecureFileSystem.directory(of: path)
        while directory.hasPrefix(top) && directory != top && directory != "/" {
            if let info = FileStatus(path: directory), !accounts.allows(user, 1, owner: info.owner, mode: info.mode) {
                return .fail("sasl-socket", "\(owner) cannot reach \(path): \(directory) is \(info.octalMode) \(accounts.userName(info.owner.uid)):\(accounts.groupName(info.owner.gid))",
                             remedy: "chmod o+x \(ShellQuoting.quote(directory))  (or give \(owner) group access to it)")
            }
            directory = SecureFileSystem.directory(of: directory)
        }
        guard accounts.allows(user, 2, owner: status.owner, mode: status.mode) else {
            return .fail("sasl-socket", "\(owner) cannot open \(path) (\(status.octalMode) \(accounts.userName(status.owner.uid)):\(accounts.groupName(status.owner.gid))): it needs write permission",
                         remedy: dovecotListenerBlock)
        }
        return nil
    }

    func cyrusFindings() -> [Finding] {
        let id: Finding.ID = "sasl-socket"
        let app = main.value("smtpd_sasl_path", overrides: overrides)
        let configured = main.value("cyrus_sasl_config_path", overrides: overrides)
        let directories = (configured.isEmpty ? CyrusConfiguration.searchDirectories : configured.split(separator: ":").map(String.init)).map(rooted)
        let configuration: CyrusConfiguration
        do {
            configuration = try CyrusConfiguration.find(app: app, in: directories)
        } catch let error as MailSecError {
            return [.fail(id, error.message, remedy: error.remedy)]
        } catch {
            return [.fail(id, "\(error)")]
        }
        var findings: [Finding] = []
        let method = configuration.options["pwcheck_method"]
        switch method {
        case "saslauthd":
            let configuredMux = configuration.options["saslauthd_path"]
            let chrooted = service?.chroot == "y"
            let socket = configuredMux ?? (chrooted ? main.value("queue_directory") + "/var/run/saslauthd/mux" : "/var/run/saslauthd/mux")
            if let status = FileStatus(path: rooted(socket)), status.isSocket {
                findings.append(.pass(id, "\(configuration.path): pwcheck_method saslauthd, socket \(rooted(socket)) exists"))
            } else {
                findings.append(.fail(id, "\(configuration.path) uses saslauthd, but \(rooted(socket)) is not a socket\(chrooted ? " (smtpd runs chrooted, so it looks inside the queue directory)" : "")",
                                      remedy: "start saslauthd (systemctl start saslauthd)" + (chrooted ? "; on Debian set OPTIONS=\"-c -m \(main.value("queue_directory"))/var/run/saslauthd\" in /etc/default/saslauthd" : "")))
            }
        case "auxprop", nil:
            findings.append(.pass(id, "\(configuration.path): pwcheck_method \(method ?? "auxprop (default)")" + (configuration.options["auxprop_plugin"].map { ", auxprop_plugin \($0)" } ?? "")))
        case let other?:
            findings.append(.fail(id, "\(configuration.path): pwcheck_method \(other) is not one libsasl2 knows (saslauthd, auxprop)",
                                  remedy: "set pwcheck_method: saslauthd (or auxprop) in \(configuration.path)"))
        }
        if configuration.mechanismList == nil {
            findings.append(.warn(id, "\(configuration.path) has no mech_list: libsasl2 offers every plugin installed, including ones the password store cannot serve",
                                  remedy: "add to \(configuration.path):\n  mech_list: PLAIN LOGIN"))
        }
        return findings
    }

    // MARK: content-filter

    func contentFilterFindings() -> [Finding] {
        let id: Finding.ID = "content-filter"
        guard service != nil else { return [.skip(id, "no \(port) service") ] }
        let filter = main.value("content_filter", overrides: overrides)
        guard !filter.isEmpty else { return [.skip(id, "the \(service!.name) service names no content_filter")] }
        let place = service?.override("content_filter").map { "\(masterPath) line \($0.line)" } ?? mainPath
        guard let colon = filter.firstIndex(of: ":") else {
            return [.fail(id, "content_filter = \(filter) (\(place)) is not transport:nexthop", remedy: "write it as e.g. smtp-amavis:[127.0.0.1]:10026")]
        }
        let transport = String(filter[..<colon])
        var nexthop = String(filter[filter.index(after: colon)...])
        var findings: [Finding] = []
        if master?.services.contains(where: { $0.name == transport }) == false {
            findings.append(.fail(id, "content_filter names transport \(transport), which \(masterPath) does not define: mail would sit in the queue",
                                  remedy: "add to \(masterPath):\n\(transport) unix  -       -       n       -       2       smtp\n  -o smtp_data_done_timeout=1200\n  -o disable_dns_lookups=yes\nthen: postfix reload"))
        }
        if nexthop.hasPrefix("inet:") { nexthop.removeFirst(5) }
        if nexthop.hasPrefix("unix:") || nexthop.isEmpty { return findings.isEmpty ? [.skip(id, "content_filter \(filter) is not a TCP next hop")] : findings }
        var hostPart = nexthop, portNumber = 25
        if nexthop.hasPrefix("["), let close = nexthop.firstIndex(of: "]") {
            hostPart = String(nexthop[nexthop.index(after: nexthop.startIndex)..<close])
            let rest = nexthop[nexthop.index(after: close)...]
            if rest.hasPrefix(":") { portNumber = Self.resolvePort(String(rest.dropFirst()), services: services) ?? 0 }
        } else if let last = nexthop.lastIndex(of: ":") {
            hostPart = String(nexthop[..<last])
            portNumber = Self.resolvePort(String(nexthop[nexthop.index(after: last)...]), services: services) ?? 0
        }
        let isLocal = hostPart == "localhost" || hostPart.hasPrefix("127.") || hostPart == "::1"
        guard isLocal else {
            return findings + [.skip(id, "content_filter \(filter) points at another machine; preflight only looks at this one")]
        }
        let listeners = ListeningSockets.withOwners(ListeningSockets.current().listening(host: hostPart, port: portNumber))
        if let listener = listeners.first {
            let who = listener.command.map { " (\($0)\(listener.pid.map { ", pid \($0)" } ?? ""))" } ?? ""
            return findings + [.pass(id, "content_filter \(filter): \(listener.address):\(portNumber) is listening\(who)")]
        }
        return findings + [.fail(id, "content_filter \(filter) (\(place)): nothing listens on \(hostPart):\(portNumber), so mail accepted on \(port) is deferred",
                                 remedy: "start the filter (e.g. systemctl start amavis) and make it listen on \(hostPart):\(portNumber), or remove -o content_filter=\(filter) from \(place); then: postfix reload")]
    }

    // MARK: port

    func portFindings() -> [Finding] {
        let id: Finding.ID = "port"
        let listeners = ListeningSockets.withOwners(ListeningSockets.current().listening(port: port))
        guard !listeners.isEmpty else { return [.pass(id, "nothing listens on \(port) on this machine: Postfix's master can bind it")] }
        let others = listeners.filter { $0.command != "master" }
        guard let other = others.first else {
            return [.pass(id, "\(port) is held by Postfix's master (pid \(listeners[0].pid.map(String.init) ?? "?")): postfix reload picks up changes")]
        }
        guard let command = other.command else {
            return [.warn(id, "something listens on \(other.address):\(port), but its process is not visible (run as root)",
                          remedy: "see who holds it: ss -ltnp 'sport = :\(port)'")]
        }
        return [.fail(id, "\(other.address):\(port) is held by \(command) (pid \(other.pid.map(String.init) ?? "?")): Postfix's master cannot bind it (\"Address already in use\")",
                      remedy: "stop \(command) or move it off port \(port) (ss -ltnp 'sport = :\(port)' shows it), then: postfix reload")]
    }

    // MARK: firewall

    func firewallFindings() -> [Finding] {
        let id: Finding.ID = "firewall"
        let verdicts = FirewallInspector(root: root, port: port, services: services).inspect()
        guard !verdicts.isEmpty else {
            return [.warn(id, "no firewall configuration found under \(root) (firewalld, iptables, nftables, ufw, pf): if a firewall runs, \(port)/tcp must be open",
                          remedy: """
                          open \(port)/tcp in whichever firewall runs:
                            firewalld: firewall-cmd --permanent --add-port=\(port)/tcp && firewall-cmd --reload
                            iptables:  -A INPUT -p tcp -m state --state NEW -m tcp --dport \(port) -j ACCEPT
                            ufw:       ufw allow \(port)/tcp
                            pf:        pass in proto tcp to port \(port)
                          """)]
        }
        return verdicts.map { verdict in
            let file = rooted(verdict.file)
            if verdict.allows { return .pass(id, "\(verdict.platform) (\(file)) allows \(port)/tcp: \(verdict.detail)") }
            return .fail(id, "\(verdict.platform) (\(file)) blocks \(port)/tcp: \(verdict.detail)", remedy: verdict.remedy)
        }
    }
}
