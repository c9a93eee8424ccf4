import Glibc

/// Postfix's TLS listeners: every smtpd inet service of master.cf with its
/// effective TLS settings (main.cf with the service's `-o` overrides), and one
/// more per `tls_server_sni_maps` name.
struct PostfixEndpoints {
    var endpoints: [AuditEndpoint] = []
    var myhostname = ""

    /// Reads `directory` (the server's path) under `root`. A configuration that
    /// does not parse is an error naming the file and line: audit cannot run on it.
    init(directory: String, root: String) throws {
        let rooted = { (path: String) in RootedPath.join(root, path) }
        let hostname = PreflightContext.systemHostname(root: root)
        let main = try PostfixMainConfig.load(rooted(directory + "/main.cf"), systemHostname: hostname)
        let master = try PostfixMasterConfig.load(rooted(directory + "/master.cf"))
        let problems = main.problems + master.problems
        guard problems.isEmpty else {
            throw MailSecError(.invalidInput, problems.map { TextSanitizer.escaped($0.description) }.joined(separator: "\n"),
                               remedy: "fix the lines named; postconf -n shows how Postfix reads main.cf")
        }
        myhostname = main.value("myhostname")
        let services = try? ServicesFile.load(rooted("/etc/services"))
        let mainFile = directory + "/main.cf", masterFile = directory + "/master.cf"
        let sni = Self.sniEntries(main, root: root)
        // The commands in remedies name a configuration directory that is not Postfix's default.
        let configOption = directory == "/etc/postfix" ? "" : " -c \(ShellQuoting.quote(directory))"
        let configArguments = directory == "/etc/postfix" ? [] : ["-c", directory]
        for service in master.services where service.type == "inet" && service.command == "smtpd" {
            let overrides = service.overrideValues
            let wrapper = main.bool("smtpd_tls_wrappermode", overrides: overrides)
            var level = main.value("smtpd_tls_security_level", overrides: overrides)
            if level.isEmpty {
                // Postfix's older switches, still honoured when the level is unset.
                if main.bool("smtpd_enforce_tls", overrides: overrides) { level = "encrypt" } else if main.bool("smtpd_use_tls", overrides: overrides) { level = "may" }
            }
            guard wrapper || level == "may" || level == "encrypt" else { continue }
            guard let port = PreflightContext.resolvePort(service.portName, services: services), (1...65_535).contains(port) else { continue }
            let pairs = Self.pairs(main, overrides: overrides)
            guard !pairs.isEmpty else { continue }
            let setting = ["smtpd_tls_chain_files", "smtpd_tls_cert_file"].first { overrides[$0] != nil || main.line(of: $0) != nil } ?? "smtpd_tls_cert_file"
            let source = service.override(setting).map { "\(masterFile):\($0.line)" } ?? main.line(of: setting).map { "\(mainFile):\($0)" } ?? "\(mainFile) (default)"
            let address = probeAddress(service.host ?? main.list("inet_interfaces").first)
            let base = AuditEndpoint(service: "postfix/\(service.name)", mailProtocol: .smtp, mode: wrapper ? .implicit : .starttls,
                                     address: address, port: UInt16(port), serverName: nil, pairs: pairs, source: source,
                                     mapProblem: nil, reload: "postfix\(configOption) reload",
                                     reloadArguments: ["/usr/sbin/postfix"] + configArguments + ["reload"])
            endpoints.append(base)
            for entry in sni {
                var named = base
                named.serverName = entry.name
                named.pairs = entry.pairs
                named.source = entry.source
                named.mapProblem = entry.mapProblem
                named.reload = "postmap\(configOption) -F \(ShellQuoting.quote(entry.map)) && postfix\(configOption) reload"
                named.rebuildArguments = ["/usr/sbin/postmap"] + configArguments + ["-F", entry.map]
                endpoints.append(named)
            }
        }
    }

    /// The certificate/key pairs a service loads: smtpd_tls_chain_files (key
    /// then certificates, one pair per key), else the RSA and EC file settings.
    static func pairs(_ main: PostfixMainConfig, overrides: [String: String]) -> [AuditEndpoint.CertificatePair] {
        let chain = main.list("smtpd_tls_chain_files", overrides: overrides)
        if !chain.isEmpty { return chainPairs(chain) }
        var pairs: [AuditEndpoint.CertificatePair] = []
        for (certificate, key) in [("smtpd_tls_cert_file", "smtpd_tls_key_file"), ("smtpd_tls_eccert_file", "smtpd_tls_eckey_file")] {
            let file = main.value(certificate, overrides: overrides)
            guard !file.isEmpty else { continue }
            let keyFile = main.value(key, overrides: overrides)
            pairs.append(.init(certificate: file, key: keyFile.isEmpty ? file : keyFile))
        }
        return pairs
    }

    /// Chain files list a key, then its certificates, for each pair; one file may hold both.
    static func chainPairs(_ files: [String]) -> [AuditEndpoint.CertificatePair] {
        if files.count == 1 { return [.init(certificate: files[0], key: files[0])] }
        var pairs: [AuditEndpoint.CertificatePair] = []
        var index = 0
        while index + 1 < files.count {
            pairs.append(.init(certificate: files[index + 1], key: files[index]))
            index += 2
        }
        if index < files.count { pairs.append(.init(certificate: files[index], key: files[index])) }
        return pairs
    }

    struct SNIEntry {
        var name: String
        var pairs: [AuditEndpoint.CertificatePair]
        var source: String
        var map: String
        var mapProblem: String?
    }

    /// tls_server_sni_maps: each name with the files its source lists, and
    /// whether the compiled map is older than the source or the files it embeds
    /// (`postmap -F` copies them in: a changed file is not served until then).
    static func sniEntries(_ main: PostfixMainConfig, root: String) -> [SNIEntry] {
        var entries: [SNIEntry] = []
        for map in main.list("tls_server_sni_maps") {
            guard let colon = map.firstIndex(of: ":") else { continue }
            let type = String(map[..<colon]), path = String(map[map.index(after: colon)...])
            guard ["hash", "btree", "lmdb", "cdb", "texthash"].contains(type), path.hasPrefix("/") else { continue }
            guard let text = try? SecureFileSystem.readText(RootedPath.join(root, path)) else { continue }
            let compiled = type == "texthash" ? nil : path + (type == "lmdb" ? ".lmdb" : type == "cdb" ? ".cdb" : ".db")
            let (lines, _) = PostfixLogicalLines.split(text, file: path)
            for line in lines {
                let words = PostfixExpansion.words(line.text)
                guard words.count >= 2 else { continue }
                let files = Array(words.dropFirst())
                var problem: String?
                if let compiled {
                    if let compiledTime = FileTimes.modification(RootedPath.join(root, compiled)) {
                        let newer = { (file: String) in (FileTimes.modification(RootedPath.join(root, file)) ?? 0) > compiledTime }
                        if newer(path) {
                            problem = "\(compiled) is older than its source \(path)"
                        } else if let file = files.first(where: newer) {
                            problem = "\(compiled) is older than \(file), which postmap -F copies into it"
                        }
                    } else {
                        problem = "\(compiled) does not exist: the map was never compiled"
                    }
                }
                entries.append(SNIEntry(name: words[0], pairs: chainPairs(files), source: "\(path):\(line.number)", map: map, mapProblem: problem))
            }
        }
        return entries
    }
}

/// File modification times, to the nanosecond.
enum FileTimes {
    static func modification(_ path: String) -> Double? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }
}
