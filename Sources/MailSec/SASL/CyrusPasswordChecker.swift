internal import CSASL
import Glibc

/// An APP.conf of Cyrus SASL (Postfix reads smtpd.conf): `key: value` lines.
public struct CyrusConfiguration: Sendable {
    /// Where Postfix on Debian and libsasl2 look for smtpd.conf, in order.
    public static let searchDirectories = ["/etc/postfix/sasl", "/etc/sasl2", "/usr/lib/sasl2"]

    /// The APP.conf read (`/etc/postfix/sasl/smtpd.conf`).
    public var path: String
    /// Its `name: value` options.
    public var options: [String: String]

    /// How libsasl2 checks passwords: `auxprop` (sasldb) or `saslauthd`.
    public var pwcheckMethod: String { options["pwcheck_method"] ?? "auxprop (libsasl2's default)" }
    /// The mechanisms the server side may offer, when limited.
    public var mechanismList: String? { options["mech_list"] }

    /// Options read from `path`.
    public init(path: String, options: [String: String]) {
        self.path = path
        self.options = options
    }

    /// Parses APP.conf: `option: value` lines, `#` comments and blank lines skipped.
    public init(text: String, path: String) throws {
        var options: [String: String] = [:]
        for (number, line) in text.physicalLines().enumerated() {
            let trimmed = String(line).trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw MailSecError(.invalidInput, "\(path), line \(number + 1): expected 'option: value', found \(TextSanitizer.quoted(trimmed.prefix(200)))")
            }
            options[String(trimmed[..<colon]).trimmingWhitespace()] = String(trimmed[trimmed.index(after: colon)...]).trimmingWhitespace()
        }
        self.init(path: path, options: options)
    }

    /// Finds and reads APP.conf in the first of `directories` that has one.
    public static func find(app: String, in directories: [String]) throws -> CyrusConfiguration {
        for directory in directories {
            let path = directory + "/" + app + ".conf"
            guard FileStatus(path: path) != nil else { continue }
            return try CyrusConfiguration(text: try SecureFileSystem.readText(path), path: path)
        }
        throw MailSecError(.fileNotFound, "no \(app).conf in \(directories.joined(separator: ", ")): libsasl2 would run with defaults, which is rarely what Postfix needs",
                           remedy: """
                           create \(directories[0])/\(app).conf, e.g. for saslauthd:
                             pwcheck_method: saslauthd
                             mech_list: PLAIN LOGIN
                           or for sasldb:
                             pwcheck_method: auxprop
                             auxprop_plugin: sasldb
                             mech_list: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-256
                           """)
    }
}

/// Checks passwords through libsasl2's server side, as Postfix's smtpd does
/// with `smtpd_sasl_type = cyrus`: whatever pwcheck_method says (auxprop and
/// sasldb, saslauthd) is what is tested.
public final class CyrusPasswordChecker {
    /// The smtpd.conf libsasl2 read, as it read it.
    public let configuration: CyrusConfiguration
    private var connection: OpaquePointer?

    /// Starts libsasl2's server side as Postfix's smtpd does, reading its APP.conf; a missing file or plugin is an error that names it.
    ///
    /// - Parameters:
    ///   - app: the application name whose APP.conf is read (Postfix: smtpd, from smtpd_sasl_path).
    ///   - configDirectory: where APP.conf is; nil searches Postfix's and libsasl2's directories.
    ///   - pluginDirectory: where libsasl2's mechanism plugins are; nil: its built-in path.
    ///   - service: the service name saslauthd and PAM see (Postfix: smtp).
    ///   - hostname: the server name; the default realm of sasldb users (Postfix: myhostname).
    ///   - realm: the user realm (Postfix: smtpd_sasl_local_domain).
    public init(app: String = "smtpd", configDirectory: String? = nil, pluginDirectory: String? = nil,
                service: String = "smtp", hostname: String? = nil, realm: String? = nil) throws {
        configuration = try CyrusConfiguration.find(app: app, in: configDirectory.map { [$0] } ?? CyrusConfiguration.searchDirectories)
        try CyrusSASL.initializeServer(app: app, pluginDirectory: pluginDirectory,
                                       configDirectories: [SecureFileSystem.directory(of: configuration.path)])
        var created: OpaquePointer?
        let result = sasl_server_new(service, hostname ?? Self.hostname(), realm, nil, nil, nil, 0, &created)
        guard result == SASL_OK, let created else {
            throw MailSecError(.io, "libsasl2 cannot start a server connection: \(CyrusSASL.errorString(result))")
        }
        connection = created
    }

    deinit {
        if connection != nil { sasl_dispose(&connection) }
    }

    /// The mechanisms this server connection offers (libsasl2's plugins, narrowed by mech_list).
    public var offeredMechanisms: [String] {
        var result: UnsafePointer<CChar>?
        var length: UInt32 = 0
        var count: Int32 = 0
        guard sasl_listmech(connection, nil, "", " ", "", &result, &length, &count) == SASL_OK, let result else { return [] }
        return String(cString: result).split(separator: " ").map(String.init)
    }

    /// Checks one password with sasl_checkpass.
    public func check(user: String, password: SecureBytes) -> AuthVerdict {
        let started = ContinuousClock.now
        let result = password.withUnsafeBytes { secret in
            sasl_checkpass(connection, user, UInt32(user.utf8.count),
                           secret.baseAddress?.assumingMemoryBound(to: CChar.self), UInt32(secret.count))
        }
        let elapsed = (ContinuousClock.now - started).milliseconds
        let detail = sasl_errdetail(connection).map { String(cString: $0) } ?? CyrusSASL.errorString(result)
        switch result {
        case SASL_OK:
            return AuthVerdict(outcome: .success, user: user, milliseconds: elapsed)
        case SASL_BADAUTH:
            return AuthVerdict(outcome: .rejected, code: "badauth", reason: "wrong user name or password", milliseconds: elapsed)
        case SASL_NOUSER:
            return AuthVerdict(outcome: .rejected, code: "nouser", reason: "no such user (for sasldb, users are stored as user@realm: compare sasldblistusers2 with \(Vocabulary.name(.realm)))", milliseconds: elapsed)
        case SASL_DISABLED:
            return AuthVerdict(outcome: .rejected, code: "disabled", reason: "the account is disabled", milliseconds: elapsed)
        case SASL_EXPIRED:
            return AuthVerdict(outcome: .rejected, code: "expired", reason: "the password has expired", milliseconds: elapsed)
        case SASL_NOVERIFY:
            return AuthVerdict(outcome: .rejected, code: "noverify", reason: "the user exists but has no password to check against", milliseconds: elapsed)
        default:
            var reason = "libsasl2 could not check the password: \(detail)"
            if configuration.pwcheckMethod.contains("saslauthd") {
                reason += " (is saslauthd running, and is its socket where \(configuration.path) says: saslauthd_path, default /var/run/saslauthd/mux?)"
            } else if result == SASL_NOMECH {
                reason += " (the auxprop plugin named in \(configuration.path) is missing: install libsasl2-modules-db for sasldb)"
            }
            return AuthVerdict(outcome: .temporary, code: "sasl_\(-result)", reason: reason, milliseconds: elapsed)
        }
    }

    /// Checks every credential in turn (sasl_checkpass is synchronous).
    public func check<Credentials: Sequence>(_ credentials: Credentials, onResult: (BatchResult) -> Void) where Credentials.Element == BatchCredential {
        for credential in credentials {
            onResult(BatchResult(line: credential.line, user: credential.user, verdict: check(user: credential.user, password: credential.password)))
        }
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(nulTerminated: buffer)
    }
}
