import Glibc

/// Dovecot's TLS listeners: for each protocol enabled, its login service's
/// inet_listener blocks (or the protocol's default listeners), with the
/// certificate of the protocol or of the server, and one more endpoint per
/// `local_name` block (SNI).
struct DovecotEndpoints {
    var endpoints: [AuditEndpoint] = []
    /// Where the configuration came from: `doveconf -n` or MailSec's reader.
    var readBy = ""

    typealias Section = DovecotConfiguration.Section

    /// The protocols' login services and their listeners when none are configured (Dovecot's built-in defaults).
    static let services: [(protocolName: String, mailProtocol: MailProtocol, service: String, listeners: [(name: String, port: UInt16, ssl: Bool)])] = [
        ("imap", .imap, "imap-login", [("imap", 143, false), ("imaps", 993, true)]),
        ("pop3", .pop3, "pop3-login", [("pop3", 110, false), ("pop3s", 995, true)]),
        ("sieve", .sieve, "managesieve-login", [("sieve", 4190, false)]),
        ("submission", .smtp, "submission-login", [("submission", 587, false)]),
    ]

    init(path: String, root: String) throws {
        // The files as written, for file:line; doveconf's view of them, when it has one, for the values.
        let written = DovecotConfiguration(path: path, root: root)
        guard written.problems.isEmpty else {
            throw MailSecError(.invalidInput, written.problems.map { TextSanitizer.escaped($0.description) }.joined(separator: "\n"),
                               remedy: "fix the lines named; doveconf -n -c \(ShellQuoting.quote(path)) shows how Dovecot reads the file")
        }
        let configuration = Self.load(path: path, root: root, written: written)
        readBy = configuration.readBy
        let config = configuration.config
        func origin(_ key: String, _ sections: [Section]) -> String? {
            (written.value(key, in: sections) ?? (sections.isEmpty ? nil : written.value(key))).map { "\($0.file):\($0.line)" }
        }
        let version24 = config.isVersion24
        let file = path
        let reload = path == "/etc/dovecot/dovecot.conf" ? "doveadm reload" : "doveadm -c \(ShellQuoting.quote(path)) reload"
        let reloadArguments = ["/usr/bin/doveadm"] + (path == "/etc/dovecot/dovecot.conf" ? [] : ["-c", path]) + ["reload"]
        let protocols = Set((config.value("protocols")?.value ?? (version24 ? "" : "imap pop3")).split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init))
        let sslMode = config.value("ssl")?.value ?? "yes"
        let listen = config.value("listen")?.value.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init).first
        for entry in Self.services where protocols.contains(entry.protocolName) {
            let protocolSection = [Section(name: "protocol", argument: entry.protocolName)]
            let pairs = Self.pairs(config, written, sections: protocolSection, version24: version24) ?? Self.pairs(config, written, sections: [], version24: version24)
            guard let pairs else { continue }
            let configured = config.sectionPaths.filter { $0.count == 2 && $0[0] == Section(name: "service", argument: entry.service) && $0[1].name == "inet_listener" }
            let listeners: [(name: String, path: [Section]?)] = configured.isEmpty
                ? entry.listeners.map { ($0.name, nil) }
                : configured.map { ($0[1].argument ?? "", $0) }
            for (name, path) in listeners {
                let defaults = entry.listeners.first { $0.name == name }
                let portText = path.flatMap { config.value("port", in: $0)?.value }
                guard let port = portText.map({ UInt16($0) }) ?? defaults?.port, port > 0 else { continue }   // port = 0 disables it
                let implicit = path.flatMap { config.value("ssl", in: $0)?.value }.map { $0 == "yes" } ?? (defaults?.ssl ?? false)
                guard implicit || sslMode != "no" else { continue }
                let address = probeAddress(path.flatMap { config.value("address", in: $0)?.value } ?? listen)
                let setting = version24 ? "ssl_server_cert_file" : "ssl_cert"
                let source = origin(setting, protocolSection) ?? origin(setting, []) ?? "\(file) (default)"
                let base = AuditEndpoint(service: "dovecot/\(name)", mailProtocol: entry.mailProtocol, mode: implicit ? .implicit : .starttls,
                                         address: address, port: port, serverName: nil, pairs: pairs, source: source, mapProblem: nil,
                                         reload: reload, reloadArguments: reloadArguments)
                endpoints.append(base)
                // local_name blocks: one endpoint per name, probed with SNI.
                for section in config.sectionPaths where section.count == 1 && section[0].name == "local_name" {
                    guard let names = section[0].argument, let namedPairs = Self.pairs(config, written, sections: section, version24: version24) else { continue }
                    for serverName in names.split(separator: " ").map(String.init) where !serverName.contains("*") {
                        var named = base
                        named.serverName = serverName
                        named.pairs = namedPairs
                        named.source = origin(setting, section) ?? base.source
                        endpoints.append(named)
                    }
                }
            }
        }
    }

    /// The certificate pairs set in `sections`: 2.3 `ssl_cert = </path` (the
    /// `<` reads the file) and `ssl_alt_cert`; 2.4 `ssl_server_cert_file` and
    /// `ssl_server_alt_cert_file`. Nil when none is set there.
    /// doveconf hides keys (`ssl_key = # hidden, use -P to show it`): for
    /// those, the path comes from the files as written (`written`), so no
    /// secret is ever asked for.
    static func pairs(_ config: DovecotConfiguration, _ written: DovecotConfiguration, sections: [Section], version24: Bool) -> [AuditEndpoint.CertificatePair]? {
        let names = version24
            ? [("ssl_server_cert_file", "ssl_server_key_file"), ("ssl_server_alt_cert_file", "ssl_server_alt_key_file")]
            : [("ssl_cert", "ssl_key"), ("ssl_alt_cert", "ssl_alt_key")]
        func value(_ key: String) -> String? {
            let shown = config.value(key, in: sections).map { fileName($0.value) }
            if let shown, !shown.isEmpty { return shown }
            return written.value(key, in: sections).map { fileName($0.value) }
        }
        var pairs: [AuditEndpoint.CertificatePair] = []
        for (certificate, key) in names {
            guard let file = value(certificate), !file.isEmpty else { continue }
            let keyFile = value(key) ?? file
            pairs.append(.init(certificate: file, key: keyFile))
        }
        return pairs.isEmpty ? nil : pairs
    }

    /// `</path` (2.3's file-content syntax) or a plain path.
    static func fileName(_ value: String) -> String {
        value.hasPrefix("<") ? String(value.dropFirst()).trimmingWhitespace() : value
    }

    /// `doveconf -n -c FILE` on the live system when doveconf is there and
    /// understands the file; MailSec's reader otherwise (a copied tree, a 2.4
    /// file on a 2.3 machine).
    static func load(path: String, root: String, written: DovecotConfiguration) -> (config: DovecotConfiguration, readBy: String) {
        let doveconf = "/usr/bin/doveconf"
        if RootedPath.isLiveSystem(root), access(doveconf, X_OK) == 0,
           let outcome = try? Subprocess.run(doveconf, ["-n", "-c", path], timeout: .seconds(10)), outcome.status == 0, !outcome.timedOut {
            let dumped = DovecotConfiguration(text: outcome.output, path: path)
            if dumped.problems.isEmpty { return (dumped, "doveconf -n -c \(path)") }
        }
        return (written, "MailSec's reader of \(path)")
    }
}
