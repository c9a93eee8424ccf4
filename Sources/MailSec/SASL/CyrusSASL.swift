internal import CSASL
import Glibc
import Synchronization

/// Process-wide state of libsasl2: it is initialised once, with the plugin
/// and configuration paths it keeps for the life of the process.
public enum CyrusSASL {
    /// Where Debian installs the plugins (libsasl2-modules).
    public static let defaultPluginDirectories = ["/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/aarch64-linux-gnu/sasl2", "/usr/lib64/sasl2", "/usr/lib/sasl2"]

    private struct State {
        var client: Int32?
        var server: (app: String, result: Int32)?
        var pluginDirectory: String?
    }

    private static let state = Mutex(State())

    /// The plugin directory in effect: the one given, else SASL_PATH, else the first default that exists.
    public static func pluginDirectory(_ given: String?) -> String {
        if let given { return given }
        if let environment = getenv("SASL_PATH") { return String(cString: environment) }
        return defaultPluginDirectories.first { FileStatus(path: $0)?.isDirectory == true } ?? defaultPluginDirectories[0]
    }

    /// Initialises the client side once; later calls must agree on the plugin directory.
    public static func initializeClient(pluginDirectory given: String?) throws {
        let directory = pluginDirectory(given)
        let result: Int32 = state.withLock { state in
            if let done = state.client { return done }
            let callbacks = makeGlobalCallbacks(pluginPath: given, configPath: nil)
            let result = sasl_client_init(callbacks)
            state.client = result
            state.pluginDirectory = directory
            return result
        }
        guard result == SASL_OK else {
            throw MailSecError(.io, "libsasl2 could not start its client side: \(errorString(result))",
                               remedy: "check that libsasl2-modules is installed and \(directory) holds its plugins")
        }
    }

    /// Initialises the server side once for application `app` (Postfix: smtpd),
    /// reading APP.conf from `configDirectories` (libsasl2 takes the first that has it).
    public static func initializeServer(app: String, pluginDirectory given: String?, configDirectories: [String]) throws {
        let directory = pluginDirectory(given)
        let result: Int32 = state.withLock { state in
            if let done = state.server { return done.result }
            let callbacks = makeGlobalCallbacks(pluginPath: given, configPath: configDirectories.joined(separator: ":"))
            let result = sasl_server_init(callbacks, app)
            state.server = (app, result)
            state.pluginDirectory = directory
            return result
        }
        guard result == SASL_OK else {
            throw MailSecError(.invalidInput, "libsasl2 could not start its server side for \(app): \(errorString(result))",
                               remedy: "check \(app).conf in \(configDirectories.joined(separator: ", ")) for typos (pwcheck_method, mech_list)")
        }
    }

    /// The plugin directory libsasl2 was initialised with.
    public static var activePluginDirectory: String {
        state.withLock { $0.pluginDirectory } ?? pluginDirectory(nil)
    }

    /// The mechanisms libsasl2 found plugins for (after initialisation).
    public static func availableMechanisms() -> [String] {
        guard let list = sasl_global_listmech() else { return [] }
        var names: [String] = []
        var index = 0
        while let name = list[index] {
            names.append(String(cString: name))
            index += 1
        }
        return names
    }

    /// The version of libsasl2 in use (`2.1.28`), from `sasl_version_info`.
    public static var version: String {
        var implementation: UnsafePointer<CChar>?
        var version: UnsafePointer<CChar>?
        sasl_version_info(&implementation, &version, nil, nil, nil, nil)
        return version.map { String(cString: $0) } ?? "unknown"
    }

    static func errorString(_ code: Int32) -> String {
        sasl_errstring(code, nil, nil).map { String(cString: $0) } ?? "SASL error \(code)"
    }

    /// Global callbacks and the strings they point to live for the whole process:
    /// libsasl2 keeps the pointers after init returns.
    private static func makeGlobalCallbacks(pluginPath: String?, configPath: String?) -> UnsafeMutablePointer<sasl_callback_t> {
        let callbacks = UnsafeMutablePointer<sasl_callback_t>.allocate(capacity: 3)
        callbacks.initialize(repeating: sasl_callback_t(), count: 3)
        mailsec_sasl_global_callbacks(callbacks, pluginPath.map { strdup($0) }, configPath.map { strdup($0) })
        return callbacks
    }
}

/// A SASL client exchange driven by libsasl2, for any mechanism it has a plugin for.
public final class CyrusClientExchange: SASLExchange {
    /// The mechanism being run.
    public let mechanism: String
    private var connection: OpaquePointer?
    private let identity: UnsafeMutablePointer<mailsec_sasl_identity>
    private let callbacks: UnsafeMutablePointer<sasl_callback_t>
    private var secretSize = 0

    /// Starts a libsasl2 client exchange for `mechanism`; a mechanism without a plugin is an error that names what to install.
    ///
    /// - Parameters:
    ///   - mechanism: the mechanism to use (`SCRAM-SHA-256`).
    ///   - user: the authentication identity.
    ///   - password: its password; libsasl2 gets it through a callback, never as a string.
    ///   - authzid: the identity to act as; empty: the user itself.
    ///   - realm: the realm DIGEST-MD5 offers, when the server names none.
    ///   - service: the SASL service name (`smtp`), part of DIGEST-MD5's digest-uri.
    ///   - host: the server's name, likewise.
    ///   - pluginDirectory: where libsasl2's mechanism plugins are; nil: its built-in path.
    public init(mechanism: String, user: String, password: SecureBytes, authzid: String = "", realm: String? = nil,
                service: String = "smtp", host: String = "localhost", pluginDirectory: String? = nil) throws {
        try CyrusSASL.initializeClient(pluginDirectory: pluginDirectory)
        self.mechanism = mechanism
        identity = .allocate(capacity: 1)
        identity.initialize(to: mailsec_sasl_identity())
        callbacks = .allocate(capacity: 5)
        callbacks.initialize(repeating: sasl_callback_t(), count: 5)
        identity.pointee.authentication_name = UnsafePointer(strdup(user))
        identity.pointee.authorization_name = UnsafePointer(strdup(authzid))
        identity.pointee.realm = realm.map { UnsafePointer(strdup($0)) }
        // sasl_secret_t is a length followed by the bytes.
        secretSize = MemoryLayout<UInt>.size + password.count + 1
        let raw = calloc(1, secretSize)!
        let secret = raw.assumingMemoryBound(to: sasl_secret_t.self)
        secret.pointee.len = UInt(password.count)
        password.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress {
                memcpy(raw + MemoryLayout<UInt>.size, base, bytes.count)
            }
        }
        identity.pointee.secret = secret
        mailsec_sasl_client_callbacks(callbacks, identity)

        var created: OpaquePointer?
        let result = sasl_client_new(service, host, nil, nil, callbacks, 0, &created)
        guard result == SASL_OK, let created else {
            throw MailSecError(.io, "libsasl2 cannot start a client: \(CyrusSASL.errorString(result))")
        }
        connection = created
    }

    deinit {
        if connection != nil { sasl_dispose(&connection) }
        if let secret = identity.pointee.secret {
            explicit_bzero(UnsafeMutableRawPointer(secret), secretSize)
            free(secret)
        }
        free(UnsafeMutableRawPointer(mutating: identity.pointee.authentication_name))
        free(UnsafeMutableRawPointer(mutating: identity.pointee.authorization_name))
        if let realm = identity.pointee.realm { free(UnsafeMutableRawPointer(mutating: realm)) }
        identity.deallocate()
        callbacks.deallocate()
    }

    /// The initial response libsasl2 makes, nil when the mechanism waits for a challenge.
    public func start() throws -> SecureBytes? {
        var output: UnsafePointer<CChar>?
        var length: UInt32 = 0
        var chosen: UnsafePointer<CChar>?
        let result = sasl_client_start(connection, mechanism, nil, &output, &length, &chosen)
        guard result == SASL_OK || result == SASL_CONTINUE else {
            if result == SASL_NOMECH {
                let directory = CyrusSASL.activePluginDirectory
                // EXTERNAL is built into libsasl2; it says nothing about plugins.
                let available = CyrusSASL.availableMechanisms().filter { $0 != "EXTERNAL" }
                throw MailSecError(.sasl, "libsasl2 has no client plugin for \(mechanism) (plugins looked for in \(directory); found \(available.isEmpty ? "none" : available.joined(separator: ", ")))",
                                   remedy: "install libsasl2-modules (SCRAM, CRAM-MD5, DIGEST-MD5, PLAIN, LOGIN), or point \(Vocabulary.name(.saslPluginDirectory)) at the directory that has them")
            }
            throw MailSecError(.sasl, "libsasl2 cannot start \(mechanism): \(detail(result))")
        }
        // NULL means "no initial response"; a zero-length one is a real, empty response.
        guard let output else { return nil }
        return SecureBytes(copying: UnsafeRawBufferPointer(start: output, count: Int(length)))
    }

    /// libsasl2's answer to a server challenge.
    public func respond(to challenge: [UInt8]) throws -> SecureBytes {
        var output: UnsafePointer<CChar>?
        var length: UInt32 = 0
        let result = challenge.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                sasl_client_step(connection, chars.baseAddress, UInt32(chars.count), nil, &output, &length)
            }
        }
        guard result == SASL_OK || result == SASL_CONTINUE else {
            throw MailSecError(.invalidInput, "\(mechanism) cannot answer the server's challenge: \(detail(result))")
        }
        guard let output else { return SecureBytes() }
        return SecureBytes(copying: UnsafeRawBufferPointer(start: output, count: Int(length)))
    }

    /// Lets libsasl2 check what the server sent with its success (SCRAM's server signature): a wrong one is an error.
    public func finish(serverData: [UInt8]) throws {
        guard !serverData.isEmpty else { return }
        _ = try respond(to: serverData)
    }

    private func detail(_ result: Int32) -> String {
        sasl_errdetail(connection).map { String(cString: $0) } ?? CyrusSASL.errorString(result)
    }
}
