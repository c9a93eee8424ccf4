/// Postfix's main.cf as Postfix reads it: `name = value` logical lines, the
/// last definition winning, `$name` expansion, and built-in defaults for the
/// parameters preflight reads.
public struct PostfixMainConfig: Sendable {
    /// One parameter's last definition.
    public struct Entry: Sendable, Equatable {
        /// The value as written, unexpanded, continuation lines joined.
        public var value: String
        /// The line it starts on.
        public var line: Int
    }

    /// The file it was read from.
    public let path: String
    /// Every parameter defined, by name.
    public private(set) var entries: [String: Entry] = [:]
    /// Lines Postfix would refuse or misread, with their numbers.
    public private(set) var problems: [ConfigProblem] = []
    /// What gethostname() says on the machine being checked; the root of myhostname's default.
    public var systemHostname: String

    /// Parses main.cf's text; `path` names it in problems, `systemHostname` is what myhostname defaults to.
    public init(text: String, path: String, systemHostname: String = "localhost") {
        self.path = path
        self.systemHostname = systemHostname
        let (lines, problems) = PostfixLogicalLines.split(text, file: path)
        self.problems = problems
        for line in lines {
            guard let equals = line.text.firstIndex(of: "=") else {
                self.problems.append(ConfigProblem(file: path, line: line.number,
                                                   message: "missing '=' after attribute name: \"\(line.text)\""))
                continue
            }
            let name = line.text[..<equals].trimmingWhitespace()
            guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\t" }) else {
                self.problems.append(ConfigProblem(file: path, line: line.number,
                                                   message: name.isEmpty ? "missing attribute name before '='" : "white space in attribute name: \"\(name)\""))
                continue
            }
            // Postfix reads runs of white space (continuations included) as one space, as `postconf -n` shows.
            let value = line.text[line.text.index(after: equals)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            entries[name] = Entry(value: value, line: line.number)
        }
        // A parameter whose expansion runs away is a configuration error Postfix
        // refuses too; name it instead of spending minutes and gigabytes on it.
        let parsed = self
        let expander = PostfixExpansion.Expander { parsed.raw($0) }
        for (name, entry) in entries.sorted(by: { $0.value.line < $1.value.line }) where entry.value.contains("$") {
            _ = expander.value(of: name)
            guard let runaway = expander.runaway else { continue }
            let message: String
            switch runaway {
            case .loop(let loop): message = "$\(name) cannot be expanded: it refers to $\(loop) while $\(loop) is being expanded (a loop; Postfix: unreasonable macro call nesting)"
            case .tooLong: message = "$\(name) expands to more than \(PostfixExpansion.maximumLength / 1024) KiB (parameters that refer to each other more than once grow without bound)"
            }
            self.problems.append(ConfigProblem(file: path, line: entry.line, message: message))
            break
        }
    }

    /// Reads and parses the main.cf at `path`.
    public static func load(_ path: String, systemHostname: String = "localhost") throws -> PostfixMainConfig {
        PostfixMainConfig(text: try SecureFileSystem.readText(path), path: path, systemHostname: systemHostname)
    }

    /// The value as written in main.cf, else Postfix's default, unexpanded (`postconf -h`).
    public func raw(_ name: String) -> String? {
        entries[name]?.value ?? defaultValue(name)
    }

    /// The value with `$name` references expanded (`postconf -xh`), seen from a
    /// master.cf service whose `-o` overrides come first.
    public func value(_ name: String, overrides: [String: String] = [:]) -> String {
        let lookup: (String) -> String? = { overrides[$0] ?? self.raw($0) }
        return PostfixExpansion.expand(lookup(name) ?? "", lookup: lookup)
    }

    /// The value of a yes/no parameter.
    public func bool(_ name: String, overrides: [String: String] = [:]) -> Bool {
        ["yes", "true"].contains(value(name, overrides: overrides).lowercased())
    }

    /// A list parameter split as Postfix splits it: on commas and white space.
    public func list(_ name: String, overrides: [String: String] = [:]) -> [String] {
        PostfixExpansion.words(value(name, overrides: overrides))
    }

    /// Where main.cf sets a parameter, if it does.
    public func line(of name: String) -> Int? { entries[name]?.line }

    // MARK: Defaults

    /// Postfix 3.7's defaults (`postconf -d`) for the parameters the checks read.
    func defaultValue(_ name: String) -> String? {
        switch name {
        case "myhostname": return systemHostname.contains(".") ? systemHostname : systemHostname + ".$mydomain"
        case "mydomain":
            guard let dot = systemHostname.firstIndex(of: "."), systemHostname.contains(".") else { return "localdomain" }
            return String(systemHostname[systemHostname.index(after: dot)...])
        case "smtpd_relay_restrictions":
            // Postfix writes this default as a compatibility_level expression; its two outcomes are these.
            return compatibilityLevel < 1 ? "" : "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
        default: return Self.defaults[name]
        }
    }

    /// compatibility_level as a number: "3.6" is 3.6, unset is 0.
    var compatibilityLevel: Double {
        // Defaults that are themselves compatibility_level expressions are left
        // out of this expansion: `compatibility_level = $smtpd_relay_restrictions`
        // would otherwise recurse until the stack runs out (found by fuzzing).
        let lookup: (String) -> String? = { name in
            Self.levelDependentDefaults.contains(name) ? self.entries[name]?.value : self.raw(name)
        }
        let text = entries["compatibility_level"].map { entry in PostfixExpansion.expand(entry.value, lookup: lookup) } ?? "0"
        let parts = text.split(separator: ".")
        let major = Double(parts.first ?? "0") ?? 0
        let minor = parts.count > 1 ? (Double("0." + parts[1]) ?? 0) : 0
        return major + minor
    }

    /// Parameters whose default `defaultValue` derives from compatibility_level.
    static let levelDependentDefaults: Set<String> = ["smtpd_relay_restrictions"]

    static let defaults: [String: String] = [
        "config_directory": "/etc/postfix",
        "queue_directory": "/var/spool/postfix",
        "command_directory": "/usr/sbin",
        "daemon_directory": "/usr/lib/postfix/sbin",
        "mail_owner": "postfix",
        "mail_name": "Postfix",
        "compatibility_level": "0",
        "inet_interfaces": "all",
        "syslog_name": "${multi_instance_name?{$multi_instance_name}:{postfix}}",
        "multi_instance_name": "",
        "smtpd_tls_wrappermode": "no",
        "smtpd_tls_security_level": "",
        "smtpd_tls_auth_only": "no",
        "smtpd_tls_cert_file": "",
        "smtpd_tls_key_file": "$smtpd_tls_cert_file",
        "smtpd_tls_chain_files": "",
        "smtpd_tls_CAfile": "",
        "smtpd_sasl_auth_enable": "no",
        "smtpd_sasl_type": "cyrus",
        "smtpd_sasl_path": "smtpd",
        "cyrus_sasl_config_path": "",
        "smtpd_client_restrictions": "",
        "smtpd_helo_restrictions": "",
        "smtpd_sender_restrictions": "",
        "smtpd_recipient_restrictions": "",
        "content_filter": "",
    ]
}

/// Postfix's `$name` expansion (mac_expand) and list splitting.
enum PostfixExpansion {
    /// No honest parameter expands to more than this; `a = $a$a` style doubling would reach gigabytes.
    static let maximumLength = 65_536

    /// Expands `$name`, `${name}`, `$(name)`, `${name?text}`, `${name:text}`,
    /// `${name?{text}:{text}}` and `$$`. An undefined name expands to nothing,
    /// as in Postfix.
    static func expand(_ text: String, lookup: (String) -> String?) -> String {
        withoutActuallyEscaping(lookup) { lookup in
            let expander = Expander(lookup: lookup)
            return expander.expand(text)
        }
    }

    /// What stops an expansion: a parameter that refers to itself, or a result past `maximumLength`.
    enum Runaway: Equatable, Sendable {
        case loop(String)
        case tooLong
    }

    /// One expansion run. Each name is expanded once and remembered (the
    /// lookup is fixed for the run), so a chain of doublings costs its output,
    /// not 2^depth work; the output is capped; a name met again while it is
    /// being expanded is a loop (Postfix: "unreasonable macro call nesting").
    final class Expander {
        let lookup: (String) -> String?
        private var cache: [String: String] = [:]
        private var active: Set<String> = []
        private(set) var runaway: Runaway?

        init(lookup: @escaping (String) -> String?) {
            self.lookup = lookup
        }

        func expand(_ text: String) -> String {
            guard text.contains("$") else { return text }
            let characters = Array(text)
            var result = ""
            var index = 0
            while index < characters.count, runaway == nil {
                let character = characters[index]
                guard character == "$", index + 1 < characters.count else {
                    result.append(character)
                    index += 1
                    continue
                }
                let next = characters[index + 1]
                if next == "$" {
                    result.append("$")
                    index += 2
                } else if next == "{" || next == "(" {
                    let close: Character = next == "{" ? "}" : ")"
                    var level = 0, end = index + 1
                    while end < characters.count {
                        if characters[end] == next { level += 1 } else if characters[end] == close { level -= 1; if level == 0 { break } }
                        end += 1
                    }
                    guard end < characters.count else {
                        result.append(contentsOf: characters[index...])
                        break
                    }
                    result += expandReference(String(characters[(index + 2)..<end]))
                    index = end + 1
                } else if PostfixExpansion.isNameCharacter(next) {
                    var end = index + 1
                    while end < characters.count, PostfixExpansion.isNameCharacter(characters[end]) { end += 1 }
                    result += value(of: String(characters[(index + 1)..<end]))
                    index = end
                } else {
                    result.append(character)
                    index += 1
                }
                if result.utf8.count > PostfixExpansion.maximumLength {
                    runaway = runaway ?? .tooLong
                    return String(result.utf8.prefix(PostfixExpansion.maximumLength))!
                }
            }
            return result
        }

        /// The expanded value of a parameter, from the cache when it was met before.
        func value(of name: String) -> String {
            if let known = cache[name] { return known }
            guard active.insert(name).inserted else {
                runaway = runaway ?? .loop(name)
                return ""
            }
            let expanded = expand(lookup(name) ?? "")
            active.remove(name)
            cache[name] = expanded
            return expanded
        }

        private func expandReference(_ inner: String) -> String {
            // Postfix 3's `${{expr} op {expr} ? ...}` comparisons are not needed by the checks; they expand to nothing.
            guard let first = inner.first, PostfixExpansion.isNameCharacter(first) else { return "" }
            let name = String(inner.prefix(while: PostfixExpansion.isNameCharacter))
            let rest = inner.dropFirst(name.count)
            guard let operation = rest.first else { return value(of: name) }
            let isSet = !value(of: name).isEmpty
            var argument = String(rest.dropFirst())
            var otherwise: String?
            // `{then}:{else}` with braces around each branch.
            let parts = argument.split(separator: "}:{", maxSplits: 1, omittingEmptySubsequences: false)
            if operation == "?", argument.hasPrefix("{"), argument.hasSuffix("}"), parts.count == 2 {
                argument = String(parts[0].dropFirst())
                otherwise = String(parts[1].dropLast())
            } else if argument.hasPrefix("{"), argument.hasSuffix("}"), argument.count >= 2 {
                argument = String(argument.dropFirst().dropLast())
            }
            switch operation {
            case "?": return isSet ? expand(argument) : expand(otherwise ?? "")
            case ":": return isSet ? value(of: name) : expand(argument)
            default: return value(of: name)
            }
        }
    }

    static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_")
    }

    /// A Postfix list: items separated by commas and/or white space.
    static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
    }
}
