/// What one firewall configuration found under the root says about a TCP port.
package struct FirewallVerdict: Sendable, Equatable {
    /// firewalld, iptables, nftables, ufw or pf.
    package var platform: String
    /// The file the verdict comes from.
    package var file: String
    package var allows: Bool
    /// Why: the rule, policy or zone that decides.
    package var detail: String
    /// The lines or commands that open the port on this platform.
    package var remedy: String
}

/// Finds the firewalls configured under a root and asks each whether a new
/// TCP connection to a port from anywhere is accepted. This reads rule files;
/// it does not ask the running kernel, so it works on a copied tree too.
package struct FirewallInspector: Sendable {
    package var root: String
    package var port: Int
    /// For port names in rules (`smtps`); nil falls back to the well-known ones.
    package var services: ServicesFile?

    package init(root: String, port: Int, services: ServicesFile?) {
        self.root = root
        self.port = port
        self.services = services
    }

    package func inspect() -> [FirewallVerdict] {
        var verdicts: [FirewallVerdict] = []
        if let firewalld = firewalld() { verdicts.append(firewalld) }
        for (file, reload) in [("/etc/sysconfig/iptables", "systemctl restart iptables"),
                               ("/etc/default/iptables", "/etc/init.d/iptables restart (or iptables-restore < /etc/default/iptables)"),
                               ("/etc/iptables/rules.v4", "netfilter-persistent reload (or iptables-restore < /etc/iptables/rules.v4)")] {
            if let text = read(file) { verdicts.append(iptables(text, file: file, chain: "INPUT", reload: reload)) }
        }
        for file in ["/etc/nftables.conf", "/etc/sysconfig/nftables.conf"] {
            if let text = read(file), let verdict = nftables(text, file: file) { verdicts.append(verdict) }
        }
        if let ufw = ufw() { verdicts.append(ufw) }
        if let text = read("/etc/pf.conf") { verdicts.append(pf(text, file: "/etc/pf.conf")) }
        return verdicts
    }

    func read(_ path: String) -> String? { try? SecureFileSystem.readText(RootedPath.join(root, path)) }

    /// Port numbers a rule's port word stands for: `465`, `400:500`, `400-500`, `smtps`.
    func ports(_ word: String) -> ClosedRange<Int>? {
        let trimmed = word.trimmingCharacters(in: " \t\"'")
        for separator in [":", "-"] where trimmed.contains(separator) {
            let parts = trimmed.split(separator: Character(separator), maxSplits: 1)
            if parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), low <= high { return low...high }
        }
        if let number = Int(trimmed) { return number...number }
        if let entry = services?.tcp(trimmed) { return entry.port...entry.port }
        if let known = Self.wellKnown[trimmed] { return known...known }
        return nil
    }

    func covers(_ words: [String]) -> Bool { words.contains { ports($0)?.contains(port) == true } }

    static let wellKnown = ["smtp": 25, "smtps": 465, "submissions": 465, "ssmtp": 465, "urd": 465, "submission": 587]

    var portName: String { port == 465 ? "smtps" : "port\(port)" }

    // MARK: firewalld

    func firewalld() -> FirewallVerdict? {
        let config = read("/etc/firewalld/firewalld.conf")
        guard config != nil || FileStatus(path: RootedPath.join(root, "/etc/firewalld/zones")) != nil else { return nil }
        let zone = config.flatMap { Self.keyValue($0, "DefaultZone") } ?? "public"
        let zoneFile = "/etc/firewalld/zones/\(zone).xml"
        // A zone is a file name: anything with a slash or dots would read another file.
        guard !zone.isEmpty, zone.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) else {
            return FirewallVerdict(platform: "firewalld", file: "/etc/firewalld/firewalld.conf", allows: false,
                                   detail: "DefaultZone=\(TextSanitizer.escaped(zone)) is not a zone name (letters, digits, '_' and '-')",
                                   remedy: "set DefaultZone=public (or the zone you use) in /etc/firewalld/firewalld.conf")
        }
        let remedy = """
        create /etc/firewalld/services/\(portName).xml:
          <?xml version="1.0" encoding="utf-8"?>
          <service>
            <short>\(portName.uppercased())</short>
            <port protocol="tcp" port="\(port)"/>
          </service>
        add to \(zoneFile), inside <zone>:
          <service name="\(portName)"/>
        then: firewall-cmd --complete-reload
        (or: firewall-cmd --permanent --zone=\(zone) --add-port=\(port)/tcp && firewall-cmd --reload)
        """
        guard let (text, file) = [zoneFile, "/usr/lib/firewalld/zones/\(zone).xml"].lazy.compactMap({ path in read(path).map { ($0, path) } }).first else {
            return FirewallVerdict(platform: "firewalld", file: zoneFile, allows: false,
                                   detail: "the default zone \(zone) has no zone file (\(zoneFile))", remedy: remedy)
        }
        if let target = Self.xmlAttribute(in: text, element: "zone", attribute: "target"), target == "ACCEPT" {
            return FirewallVerdict(platform: "firewalld", file: file, allows: true, detail: "zone \(zone) accepts everything (target=\"ACCEPT\")", remedy: remedy)
        }
        for element in Self.xmlElements(in: text, named: "port") where element["protocol"] == "tcp" {
            if let value = element["port"], covers([value]) {
                return FirewallVerdict(platform: "firewalld", file: file, allows: true, detail: "zone \(zone) opens port \(value)/tcp", remedy: remedy)
            }
        }
        var missing: [String] = []
        for element in Self.xmlElements(in: text, named: "service") {
            guard let name = element["name"] else { continue }
            let definition = ["/etc/firewalld/services/\(name).xml", "/usr/lib/firewalld/services/\(name).xml"].lazy.compactMap { read($0) }.first
            if let definition {
                let opened = Self.xmlElements(in: definition, named: "port").contains { $0["protocol"] == "tcp" && covers([$0["port"] ?? ""]) }
                if opened {
                    return FirewallVerdict(platform: "firewalld", file: file, allows: true, detail: "zone \(zone) allows service \(name) (\(port)/tcp)", remedy: remedy)
                }
            } else if name == "smtps" && port == 465 {
                // firewalld ships smtps.xml; a copied tree may lack /usr/lib.
                return FirewallVerdict(platform: "firewalld", file: file, allows: true, detail: "zone \(zone) allows firewalld's built-in service smtps", remedy: remedy)
            } else if ["submissions", "ssmtp"].contains(name) || name == portName {
                missing.append(name)
            }
        }
        let detail = missing.isEmpty
            ? "zone \(zone) (\(file)) allows neither port \(port)/tcp nor a service that opens it"
            : "zone \(zone) names service \(missing.joined(separator: ", ")), but /etc/firewalld/services/\(missing[0]).xml does not exist"
        return FirewallVerdict(platform: "firewalld", file: file, allows: false, detail: detail, remedy: remedy)
    }

    // MARK: iptables (iptables-save format)

    func iptables(_ text: String, file: String, chain start: String, reload: String) -> FirewallVerdict {
        let table = IptablesTable(text)
        let acceptLine = "-A \(start) -p tcp -m state --state NEW -m tcp --dport \(port) -j ACCEPT"
        func remedy(before line: Int?) -> String {
            "add to \(file)\(line.map { " before line \($0)" } ?? " in the *filter table"):\n  \(acceptLine)\nthen: \(reload)"
        }
        if let decision = decide(table, chain: start) {
            return FirewallVerdict(platform: "iptables", file: file, allows: decision.allows, detail: decision.detail, remedy: remedy(before: decision.line))
        }
        let policy = table.policies[start] ?? "ACCEPT"
        return FirewallVerdict(platform: "iptables", file: file, allows: policy == "ACCEPT",
                               detail: "no rule decides \(port)/tcp; the \(start) policy is \(policy)", remedy: remedy(before: nil))
    }

    /// The *filter table of an iptables-save file: each chain's policy and rules.
    struct IptablesTable {
        var policies: [String: String] = [:]
        var rules: [String: [(words: [String], line: Int)]] = [:]

        init(_ text: String) {
            var table = "filter"
            for (offset, raw) in text.physicalLines().enumerated() {
                let line = raw.trimmingWhitespace()
                if line.hasPrefix("*") { table = String(line.dropFirst()); continue }
                guard table == "filter" else { continue }
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                if line.hasPrefix(":"), words.count >= 2 { policies[String(words[0].dropFirst())] = words[1] }
                if words.first == "-A", words.count > 1 { rules[words[1], default: []].append((Array(words[2...]), offset + 1)) }
            }
        }
    }

    /// The rule that accepts or refuses the port, following jumps; nil when the chain runs out (its policy decides).
    /// Walked with an explicit stack, not recursion: a file may chain thousands of user chains.
    func decide(_ table: IptablesTable, chain start: String) -> (allows: Bool, detail: String, line: Int)? {
        var visited: Set<String> = [start]
        // Each frame: a chain and the next rule to look at in it. A jump pushes; RETURN or the end pops.
        var stack: [(chain: String, next: Int)] = [(start, 0)]
        while let frame = stack.popLast() {
            let rules = table.rules[frame.chain] ?? []
            var index = frame.next
            var entered = false
            while index < rules.count {
                let rule = rules[index]
                index += 1
                guard matches(rule.words) else { continue }
                if let target = value(after: ["-g", "--goto"], in: rule.words) {
                    // A goto replaces this chain: there is nothing to come back to.
                    if visited.insert(target).inserted { stack.append((target, 0)) }
                    entered = true
                    break
                }
                guard let target = value(after: ["-j", "--jump"], in: rule.words) else { continue }
                let shown = rule.words.joined(separator: " ")
                switch target {
                case "ACCEPT": return (true, "line \(rule.line): \(shown)", rule.line)
                case "DROP", "REJECT": return (false, "line \(rule.line) \(target.lowercased())s it: \(shown)", rule.line)
                case "RETURN":
                    index = rules.count
                default:
                    // LOG, MARK and the like fall through; a user chain is entered, and left again at its end.
                    if table.rules[target] != nil, visited.insert(target).inserted {
                        stack.append((frame.chain, index))
                        stack.append((target, 0))
                        entered = true
                    }
                }
                if entered { break }
            }
        }
        return nil
    }

    /// Whether an iptables rule matches a new TCP connection to the port from anywhere, on any interface but lo.
    func matches(_ words: [String]) -> Bool {
        if let proto = value(after: ["-p", "--protocol"], in: words), !["tcp", "all", "6"].contains(proto) { return false }
        if let interface = value(after: ["-i", "--in-interface"], in: words), interface == "lo" { return false }
        if let source = value(after: ["-s", "--source"], in: words), !["0.0.0.0/0", "0/0"].contains(source) { return false }
        if words.contains("!") { return false }
        if let states = value(after: ["--state", "--ctstate"], in: words), !states.split(separator: ",").contains("NEW") { return false }
        if let port = value(after: ["--dport", "--destination-port"], in: words), !covers([port]) { return false }
        if let list = value(after: ["--dports", "--destination-ports"], in: words), !covers(list.split(separator: ",").map(String.init)) { return false }
        return true
    }

    func value(after options: [String], in words: [String]) -> String? {
        guard let index = words.firstIndex(where: options.contains), index + 1 < words.count else { return nil }
        return words[index + 1]
    }

    // MARK: nftables

    func nftables(_ text: String, file: String) -> FirewallVerdict? {
        let remedy = "add to the input chain in \(file), before any drop/reject rule:\n  tcp dport \(port) accept\nthen: nft -f \(file) (or systemctl reload nftables)"
        var inInput = false, policy = "accept", found = false
        for (offset, raw) in text.physicalLines().enumerated() {
            let line = (raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingWhitespace()
            if line.hasPrefix("chain ") { inInput = false }
            if line.contains("hook input") {
                inInput = true
                found = true
                if line.contains("policy drop") || line.contains("policy reject") { policy = "drop" }
                continue
            }
            guard inInput else { continue }
            if line.hasPrefix("policy") { policy = line.contains("drop") ? "drop" : "accept"; continue }
            let words = line.replacingCharacters(["{", "}", ",", ";"]).split(separator: " ").map(String.init)
            guard let verdict = words.last(where: { ["accept", "drop", "reject"].contains($0) }) else { continue }
            let isLoopbackOrState = words.contains("iif") || words.contains("iifname") || words.contains("saddr") || (words.contains("ct") && !words.contains("new"))
            if let dport = words.firstIndex(of: "dport"), words[..<dport].last == "tcp" || words.contains("tcp") {
                let portWords = words[(dport + 1)...].prefix { !["accept", "drop", "reject", "counter", "ct", "log"].contains($0) }
                if covers(Array(portWords)), !isLoopbackOrState {
                    return FirewallVerdict(platform: "nftables", file: file, allows: verdict == "accept", detail: "line \(offset + 1): \(line)", remedy: remedy)
                }
                continue
            }
            if !isLoopbackOrState, words.allSatisfy({ ["counter", "log", "drop", "reject", "accept", "with", "icmp", "type", "port-unreachable", "tcp", "reset"].contains($0) }) {
                return FirewallVerdict(platform: "nftables", file: file, allows: verdict == "accept", detail: "line \(offset + 1): \(line)", remedy: remedy)
            }
        }
        guard found else { return nil }
        return FirewallVerdict(platform: "nftables", file: file, allows: policy == "accept",
                               detail: "no rule in the input chain decides \(port)/tcp; its policy is \(policy)", remedy: remedy)
    }

    // MARK: ufw

    func ufw() -> FirewallVerdict? {
        guard let config = read("/etc/ufw/ufw.conf"), Self.keyValue(config, "ENABLED")?.lowercased() == "yes" else { return nil }
        let remedy = "ufw allow \(port)/tcp"
        let file = "/etc/ufw/user.rules"
        if let rules = read(file), let decision = decide(IptablesTable(rules), chain: "ufw-user-input") {
            return FirewallVerdict(platform: "ufw", file: file, allows: decision.allows, detail: decision.detail, remedy: remedy)
        }
        let policy = read("/etc/default/ufw").flatMap { Self.keyValue($0, "DEFAULT_INPUT_POLICY") } ?? "DROP"
        return FirewallVerdict(platform: "ufw", file: file, allows: policy == "ACCEPT",
                               detail: "no ufw rule allows \(port)/tcp; the default input policy is \(policy)", remedy: remedy)
    }

    // MARK: pf

    func pf(_ text: String, file: String) -> FirewallVerdict {
        var macros: [String: String] = [:]
        var passes = false, blocks = false, passLine = 0
        var detail = ""
        let lines = text.physicalLines().map { raw in
            (raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingWhitespace()
        }
        for (offset, line) in lines.enumerated() {
            let words = line.split(separator: " ").map(String.init)
            // A macro: `name = value` (pf's rules never start with an identifier followed by `=`).
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, case let name = parts[0].trimmingWhitespace(), !name.isEmpty, name.allSatisfy(PostfixExpansion.isNameCharacter) {
                macros[name] = parts[1].trimmingCharacters(in: " \t\"")
                continue
            }
            guard let first = words.first else { continue }
            let expanded = Self.expandMacros(line, macros)
            let tokens = expanded.replacingCharacters(["{", "}", ",", "\""]).split(separator: " ").map(String.init)
            if first == "block" && (tokens.contains("all") || (tokens.contains("in") && !tokens.contains("port"))) { blocks = true }
            if first == "pass", !tokens.contains("out"), let index = tokens.firstIndex(of: "port") {
                let portWords = tokens[(index + 1)...].prefix { !["keep", "modulate", "synproxy", "flags", "label", "queue", "rdr-to", "tag"].contains($0) }
                if covers(Array(portWords)) {
                    passes = true
                    passLine = offset + 1
                    detail = "line \(passLine): \(line)"
                }
            }
        }
        let remedy: String
        if let services = macros["mail_services"] {
            let list = services.trimmingCharacters(in: "{} ").replacingCharacters([","]).split(separator: " ").joined(separator: ", ")
            remedy = "add \(portName) to the mail_services list in \(file):\n  mail_services = \"{ \(list), \(portName) }\"\nthen: pfctl -f \(file)"
        } else {
            remedy = "add to \(file):\n  pass in proto tcp to port \(port)\nthen: pfctl -f \(file)"
        }
        if passes { return FirewallVerdict(platform: "pf", file: file, allows: true, detail: detail, remedy: remedy) }
        let why = macros["mail_services"].map { "mail_services (\($0)) does not include \(port)" } ?? "no pass rule names port \(port)"
        return FirewallVerdict(platform: "pf", file: file, allows: !blocks, detail: blocks ? "\(why), and a block rule covers the rest" : "\(why), but nothing blocks it", remedy: remedy)
    }

    /// pf's `$name` macros in one pass over the line (a replacement per known macro would be lines × macros).
    static func expandMacros(_ line: String, _ macros: [String: String]) -> String {
        guard line.contains("$") else { return line }
        var result = ""
        var rest = Substring(line)
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            let afterDollar = rest.index(after: dollar)
            let name = rest[afterDollar...].prefix(while: PostfixExpansion.isNameCharacter)
            if let value = macros[String(name)] {
                result += value
            } else {
                result += "$" + name
            }
            rest = rest[name.endIndex...]
        }
        return result + rest
    }

    // MARK: Small text helpers

    static func keyValue(_ text: String, _ key: String) -> String? {
        for line in text.nonEmptyLines() {
            let trimmed = line.trimmingWhitespace()
            guard trimmed.hasPrefix(key + "=") else { continue }
            return String(trimmed.dropFirst(key.count + 1)).trimmingCharacters(in: "\"' ")
        }
        return nil
    }

    /// The text without `<!-- ... -->` comments: a port in a comment opens nothing.
    static func withoutXMLComments(_ text: String) -> String {
        guard text.contains("<!--") else { return text }
        var result = ""
        var rest = Substring(text)
        while let open = rest.firstRange(of: "<!--") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstRange(of: "-->") else { return result }
            rest = rest[close.upperBound...]
        }
        return result + rest
    }

    /// The attributes of every `<name .../>` element, e.g. `<port protocol="tcp" port="465"/>`, outside comments.
    static func xmlElements(in text: String, named name: String) -> [[String: String]] {
        withoutXMLComments(text).split(separator: "<").compactMap { piece in
            guard piece.hasPrefix(name + " ") || piece.hasPrefix(name + "\t") || piece.hasPrefix(name + "/") else { return nil }
            let tag = piece.prefix { $0 != ">" }
            var attributes: [String: String] = [:]
            var rest = Substring(tag.dropFirst(name.count))
            while let equals = rest.firstIndex(of: "=") {
                let key = rest[..<equals].trimmingWhitespace()
                let after = rest[rest.index(after: equals)...]
                guard let quote = after.first, quote == "\"" || quote == "'" else { break }
                let body = after.dropFirst()
                guard let close = body.firstIndex(of: quote) else { break }
                attributes[key] = String(body[..<close])
                rest = body[body.index(after: close)...]
            }
            return attributes
        }
    }

    static func xmlAttribute(in text: String, element: String, attribute: String) -> String? {
        xmlElements(in: text, named: element).first?[attribute]
    }
}
