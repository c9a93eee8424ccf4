import Glibc
import ArgumentParser
import MailSec

struct AuthMechanisms: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mechanisms",
        abstract: "List the mechanisms Dovecot offers on its auth socket, with their flags.",
        discussion: """
        Example:
          mailsec auth mechanisms --socket /var/spool/postfix/private/auth
        """
    )

    @OptionGroup var connection: AuthSocketOptions

    @Flag(help: "Print one JSON document.")
    var json = false

    @Flag(help: "List the mechanisms libsasl2 can load (client and server plugins) instead, and where it looked.")
    var cyrus = false

    @Option(name: .customLong("sasl-plugin-dir"), help: ArgumentHelp("With --cyrus: the plugin directory to load from.", valueName: "dir"))
    var saslPluginDir: String?

    @Option(name: .customLong("sasl-app"), help: ArgumentHelp("With --cyrus: the server application whose APP.conf narrows the server mechanisms (Postfix: smtpd).", valueName: "name"))
    var saslApp = "smtpd"

    @Option(name: .customLong("sasl-config-dir"), help: ArgumentHelp("With --cyrus: the directory of APP.conf.", valueName: "dir"))
    var saslConfigDir: String?

    func run() throws {
        if cyrus {
            try runReportingErrors { try listCyrus() }
            return
        }
        try runReportingErrors {
            let client = try DovecotAuthClient(address: connection.address, timeout: connection.timeout)
            let handshake = client.handshake
            if json {
                try JSONOutput.print(MechanismsJSON(socket: connection.socket, version: "\(handshake.majorVersion).\(handshake.minorVersion)",
                                                    mechanisms: handshake.mechanisms.map { .init(name: $0.name, flags: $0.flags) }))
                return
            }
            let renderer = HumanRenderer()
            print(renderer.heading("\(connection.socket): Dovecot auth protocol \(handshake.majorVersion).\(handshake.minorVersion)"))
            let width = (handshake.mechanisms.map(\.name.count).max() ?? 0) + 2
            for mechanism in handshake.mechanisms {
                let flags = mechanism.flags.isEmpty ? "" : renderer.style.dim(mechanism.flags.joined(separator: ", "))
                print("  \(TextSanitizer.escaped(mechanism.name).padded(to: width))\(TextSanitizer.escaped(flags))")
            }
            let plaintext = handshake.mechanisms.filter { $0.flags.contains("plaintext") }.map(\.name)
            if !plaintext.isEmpty {
                print()
                print("\(plaintext.joined(separator: ", ")) send the password in the clear: offer them only after TLS (smtpd_tls_auth_only = yes, or port 465).")
            }
        }
    }
}

extension AuthMechanisms {
    /// libsasl2's view: its version, the plugin directory and its files, and the mechanisms it loaded.
    private func listCyrus() throws {
        let directory = CyrusSASL.pluginDirectory(saslPluginDir)
        guard let status = FileStatus(path: directory), status.isDirectory else {
            throw MailSecError(.fileNotFound, "the SASL plugin directory \(directory) does not exist",
                               remedy: "install libsasl2-modules (apt-get install libsasl2-modules), or give the right directory with --sasl-plugin-dir")
        }
        try CyrusSASL.initializeClient(pluginDirectory: saslPluginDir)
        // EXTERNAL is built into libsasl2 itself; the rest come from plugins.
        let mechanisms = CyrusSASL.availableMechanisms().filter { $0 != "EXTERNAL" }
        let plugins = Self.pluginFiles(in: directory)
        // The server side as smtpd would run it; without an APP.conf there is no server view.
        var server: (config: String, mechanisms: [String])?
        var serverProblem: String?
        do {
            let checker = try CyrusPasswordChecker(app: saslApp, configDirectory: saslConfigDir, pluginDirectory: saslPluginDir)
            server = (checker.configuration.path, checker.offeredMechanisms)
        } catch let error as MailSecError {
            serverProblem = error.message
        }
        if json {
            try JSONOutput.print(CyrusMechanismsJSON(version: CyrusSASL.version, pluginDirectory: directory, plugins: plugins, clientMechanisms: mechanisms,
                                                     serverConfig: server?.config, serverMechanisms: server?.mechanisms, serverProblem: serverProblem))
            return
        }
        let renderer = HumanRenderer()
        print(renderer.heading("libsasl2 \(CyrusSASL.version)"))
        print(renderer.facts([
            ("plugin directory", directory),
            ("plugins found", plugins.isEmpty ? "none" : plugins.joined(separator: ", ")),
            ("client mechanisms", mechanisms.isEmpty ? "none" : mechanisms.joined(separator: " ")),
            ("server (\(saslApp))", server.map { "\($0.mechanisms.joined(separator: " ")) (\($0.config))" } ?? (serverProblem ?? "")),
        ]))
        if mechanisms.isEmpty {
            print()
            print("No mechanism loaded: install libsasl2-modules, or point --sasl-plugin-dir (SASL_PATH) at its plugins.")
        }
    }

    /// The plugin libraries in a directory, by short name (libscram.so -> scram).
    static func pluginFiles(in directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("lib"), name.hasSuffix(".so") { names.append(String(name.dropFirst(3).dropLast(3))) }
        }
        return names.sorted()
    }
}

struct CyrusMechanismsJSON: Encodable {
    let version: String
    let pluginDirectory: String
    let plugins: [String]
    let clientMechanisms: [String]
    let serverConfig: String?
    let serverMechanisms: [String]?
    let serverProblem: String?
    enum CodingKeys: String, CodingKey {
        case version, pluginDirectory = "plugin_directory", plugins, clientMechanisms = "client_mechanisms"
        case serverConfig = "server_config", serverMechanisms = "server_mechanisms", serverProblem = "server_problem"
    }
}

struct MechanismsJSON: Encodable {
    struct Mechanism: Encodable {
        let name: String
        let flags: [String]
    }
    let socket: String
    let version: String
    let mechanisms: [Mechanism]
}
