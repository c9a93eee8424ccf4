#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import MailSec
import Yams

/// One probe configuration, as a module of the YAML file names it.
public struct ExporterModule: Sendable {
    public var name: String
    public var options = ProbeOptions()
    /// `mode:` overrides the TLS mode the target's scheme or port picks.
    public var mode: ProbeTarget.Mode?
    /// `audit:` lets `/audit?module=NAME` audit the local server with these paths.
    public var audit: AuditRequest?
    /// Where the password came from, shown on the status page instead of it.
    public var passwordFile: String?

    public init(name: String) {
        self.name = name
    }
}

/// The exporter's YAML file:
///
/// ```yaml
/// modules:
///   default:
///     timeout: 10s
///   smtps_login:
///     ca_file: /etc/ssl/certs/mail-ca.pem
///     verify_host: mail.example.com
///     auth_user: monitor@example.com
///     password_file: /etc/mailsec/monitor.password
///   local:
///     audit:
///       postfix_dir: /etc/postfix
///       dovecot_config: /etc/dovecot/dovecot.conf
/// ```
///
/// Every mistake is an error naming the file, line and key; unknown keys too,
/// since a misspelt `verify_host` would otherwise quietly verify nothing.
public struct ExporterConfiguration: Sendable {
    public var modules: [String: ExporterModule]
    /// The file it came from, for messages; nil for the built-in default.
    public var path: String?

    /// With no file: one `default` module with the probe's defaults.
    public static let builtIn = ExporterConfiguration(modules: ["default": ExporterModule(name: "default")], path: nil)

    public init(modules: [String: ExporterModule], path: String?) {
        self.modules = modules
        self.path = path
    }

    /// The module a request names, or `default` when it names none.
    public func module(named name: String?) -> ExporterModule? {
        modules[name ?? "default"]
    }

    /// Reads and validates `path` (password files included, so that a
    /// mistake shows at start or on SIGHUP, not at the first scrape).
    public static func load(path: String) throws -> ExporterConfiguration {
        let text = try SecureFileSystem.readText(path, limit: 1 << 20, kind: "an exporter configuration")
        return try parse(text, path: path)
    }

    static let moduleKeys: Set<String> = ["ca_file", "verify_host", "servername", "ehlo", "source", "auth_user", "password_file",
                                          "mechanism", "check_relay", "insecure_auth", "warn_days", "timeout", "mode", "audit",
                                          "dane", "resolver", "trust_anchors"]
    static let auditKeys: Set<String> = ["root", "postfix_dir", "dovecot_config", "hosts", "probe"]

    public static func parse(_ text: String, path: String, readFile: (String) throws -> SecureBytes = SecureFileSystem.readSecretLine) throws -> ExporterConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw MailSecError(.invalidInput, yamlProblem(error, path: path))
        }
        guard let root else { throw MailSecError(.invalidInput, "\(path) is empty; it needs a `modules:` mapping") }
        let reader = NodeReader(path: path)
        let top = try reader.mapping(root, what: "the top level")
        try reader.rejectUnknown(top, allowed: ["modules"], in: "the top level")
        guard let modulesNode = top.first(where: { $0.key == "modules" })?.value else {
            throw MailSecError(.invalidInput, "\(reader.at(root)): no `modules:` mapping")
        }
        var modules: [String: ExporterModule] = [:]
        for (name, node) in try reader.mapping(modulesNode, what: "modules") {
            guard !name.isEmpty, name.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || $0 == 0x5f || $0 == 0x2d || $0 == 0x2e }) else {
                throw MailSecError(.invalidInput, "\(reader.at(node)): module name \(TextSanitizer.quoted(name)): use letters, digits, '_', '-' and '.'")
            }
            guard modules[name] == nil else { throw MailSecError(.invalidInput, "\(reader.at(node)): module \(name) is defined twice") }
            modules[name] = try module(name, node, reader: reader, readFile: readFile)
        }
        guard !modules.isEmpty else { throw MailSecError(.invalidInput, "\(reader.at(modulesNode)): `modules:` defines no module") }
        return ExporterConfiguration(modules: modules, path: path)
    }

    /// Yams's message, which quotes the file back, cut to `FILE:LINE: problem`.
    static func yamlProblem(_ error: YamlError, path: String) -> String {
        let text = "\(error)"
        var problem = text.split(separator: "\n").first.map(String.init) ?? text
        // libyaml's errors start with the problem's LINE:COLUMN; the composer's
        // (duplicate keys) name it as "in line N" instead.
        if let match = problem.firstMatch(of: /^(\d+):\d+: (?:error: )?/) {
            problem.removeSubrange(match.range)
            return "\(path):\(match.1): not valid YAML: \(problem)"
        }
        if let match = text.firstMatch(of: /line (\d+), column \d+/) {
            return "\(path):\(match.1): not valid YAML: \(problem)"
        }
        return "\(path): not valid YAML: \(problem)"
    }

    private static func module(_ name: String, _ node: Node, reader: NodeReader, readFile: (String) throws -> SecureBytes) throws -> ExporterModule {
        var module = ExporterModule(name: name)
        let entries = try reader.mapping(node, what: "module \(name)")
        try reader.rejectUnknown(entries, allowed: moduleKeys, in: "module \(name)")
        for (key, value) in entries {
            let field = "\(name).\(key)"
            switch key {
            case "ca_file":
                let file = try reader.string(value, field)
                do { _ = try TrustStore(.file(file)) } catch let error as MailSecError {
                    throw MailSecError(.invalidInput, "\(reader.at(value)): \(field): \(error.message)")
                }
                module.options.trust = .file(file)
            case "verify_host": module.options.verifyHost = try reader.string(value, field)
            case "servername": module.options.serverName = try reader.string(value, field)
            case "ehlo":
                let ehlo = try reader.string(value, field)
                do { try ProbeOptions.validateEHLO(ehlo) } catch let error as MailSecError {
                    throw MailSecError(.invalidInput, "\(reader.at(value)): \(field): \(error.message)")
                }
                module.options.ehloName = ehlo
            case "source":
                let source = try reader.string(value, field)
                guard IPAddress.normalize(source) != nil else { throw MailSecError(.invalidInput, "\(reader.at(value)): \(field): \(TextSanitizer.quoted(source)) is not an IP address") }
                module.options.source = source
            case "auth_user": module.options.authUser = try reader.string(value, field)
            case "password_file":
                let file = try reader.string(value, field)
                do {
                    module.options.password = try readFile(file)
                } catch let error as MailSecError {
                    throw MailSecError(.invalidInput, "\(reader.at(value)): \(field): \(error.message)")
                }
                module.passwordFile = file
            case "mechanism":
                let mechanism = try reader.string(value, field).uppercased()
                module.options.mechanism = mechanism == "AUTO" ? "auto" : mechanism
            case "check_relay": module.options.checkRelay = try reader.bool(value, field)
            case "insecure_auth": module.options.allowUnverifiedAuth = try reader.bool(value, field)
            case "warn_days":
                let days = try reader.int(value, field)
                guard (0...3650).contains(days) else { throw MailSecError(.invalidInput, "\(reader.at(value)): \(field) must be between 0 and 3650") }
                module.options.warnDays = days
            case "timeout":
                let timeout = try reader.duration(value, field)
                module.options.timeout = timeout
            case "mode":
                let text = try reader.string(value, field)
                guard let mode = ProbeTarget.Mode(rawValue: text) else { throw MailSecError(.invalidInput, "\(reader.at(value)): \(field) must be implicit, starttls or plain") }
                module.mode = mode
            case "audit":
                module.audit = try audit(value, module: name, reader: reader)
            case "dane": module.options.dane = try reader.bool(value, field)
            case "resolver":
                let resolver = try reader.string(value, field)
                do { try DNSResolverOptions.validateForwarder(resolver) } catch let error as MailSecError {
                    throw MailSecError(.invalidInput, "\(reader.at(value)): \(field): \(error.message)")
                }
                module.options.dns.forwarder = resolver
            case "trust_anchors":
                guard case .sequence(let items) = value else { throw MailSecError(.invalidInput, "\(reader.at(value)): \(field) must be a list of files") }
                module.options.dns.trustAnchorFiles = try items.prefix(64).map { try reader.absolutePath($0, field) }
            default:
                break   // rejected above
            }
        }
        if module.options.dane || module.options.dns.forwarder != nil {
            // The anchors and the resolver are checked now, not at the first scrape.
            // One resolver for the module's probes, so they share its cache of validated keys.
            do { module.options.resolver = try DNSResolver(module.options.dns) } catch let error as MailSecError {
                throw MailSecError(.invalidInput, "\(reader.at(node)): module \(name): \(error.message)")
            }
        }
        if module.options.password != nil && module.options.authUser == nil {
            throw MailSecError(.invalidInput, "\(reader.at(node)): module \(name) has password_file but no auth_user")
        }
        if module.options.authUser != nil && module.options.password == nil {
            throw MailSecError(.invalidInput, "\(reader.at(node)): module \(name) has auth_user but no password_file (the password itself never goes in this file)")
        }
        return module
    }

    private static func audit(_ node: Node, module: String, reader: NodeReader) throws -> AuditRequest {
        var request = AuditRequest()
        let entries = try reader.mapping(node, what: "\(module).audit")
        try reader.rejectUnknown(entries, allowed: auditKeys, in: "\(module).audit")
        for (key, value) in entries {
            let field = "\(module).audit.\(key)"
            switch key {
            case "root": request.root = try reader.absolutePath(value, field)
            case "postfix_dir": request.postfixDirectory = try reader.absolutePath(value, field)
            case "dovecot_config": request.dovecotConfig = try reader.absolutePath(value, field)
            case "probe": request.probe = try reader.bool(value, field)
            case "hosts":
                guard case .sequence(let items) = value else { throw MailSecError(.invalidInput, "\(reader.at(value)): \(field) must be a list of host names") }
                request.hosts = try items.prefix(256).map { try reader.string($0, field) }
            default: break
            }
        }
        return request
    }
}

/// Reads typed values out of Yams nodes, every error naming file and line.
private struct NodeReader {
    let path: String

    func at(_ node: Node) -> String {
        node.mark.map { "\(path):\($0.line)" } ?? path
    }

    /// A mapping's entries, keys as strings, in file order; duplicate keys are errors.
    func mapping(_ node: Node, what: String) throws -> [(key: String, value: Node)] {
        guard case .mapping(let mapping) = node else { throw MailSecError(.invalidInput, "\(at(node)): \(what) must be a mapping of `key: value` lines") }
        var seen = Set<String>()
        var entries: [(key: String, value: Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else { throw MailSecError(.invalidInput, "\(at(key)): a key in \(what) must be plain text") }
            guard seen.insert(scalar.string).inserted else { throw MailSecError(.invalidInput, "\(at(key)): \(scalar.string) appears twice in \(what)") }
            entries.append((scalar.string, value))
        }
        return entries
    }

    func rejectUnknown(_ entries: [(key: String, value: Node)], allowed: Set<String>, in what: String) throws {
        for (key, value) in entries where !allowed.contains(key) {
            throw MailSecError(.invalidInput, "\(at(value)): unknown key \(TextSanitizer.quoted(key)) in \(what); known: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    func string(_ node: Node, _ field: String) throws -> String {
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty, scalar.string.utf8.count <= 4096,
              !scalar.string.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw MailSecError(.invalidInput, "\(at(node)): \(field) must be a non-empty single-line value")
        }
        return scalar.string
    }

    func absolutePath(_ node: Node, _ field: String) throws -> String {
        let text = try string(node, field)
        guard text.hasPrefix("/") else { throw MailSecError(.invalidInput, "\(at(node)): \(field) must be an absolute path") }
        return text
    }

    func bool(_ node: Node, _ field: String) throws -> Bool {
        switch try string(node, field).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw MailSecError(.invalidInput, "\(at(node)): \(field) must be true or false")
        }
    }

    func int(_ node: Node, _ field: String) throws -> Int {
        guard let value = Int(try string(node, field)) else { throw MailSecError(.invalidInput, "\(at(node)): \(field) must be a whole number") }
        return value
    }

    /// `10`, `10s`, `2.5s`, `500ms`, `1m`, as Prometheus writes durations; up to 10 minutes.
    func duration(_ node: Node, _ field: String) throws -> Duration {
        let text = try string(node, field)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        var number = text
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = String(text.dropLast(suffix.count))
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value > 0, value * scale <= 600 else {
            throw MailSecError(.invalidInput, "\(at(node)): \(field) must be a duration such as 10s or 500ms, at most 10m")
        }
        return .milliseconds(Int64((value * scale * 1000).rounded()))
    }
}
