import ArgumentParser
import MailSecCLI
import Glibc
import Logging
import MailSec
import MailSecExporter

/// `mailsec-exporter`: the Prometheus exporter, a program of its own so that
/// its server libraries stay out of `mailsec` (see `ExporterOptions`).
/// `mailsec exporter ARGS` runs this program with the same arguments.
@main
struct MailSecExporterMain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailsec-exporter",
        abstract: ExporterOptions.configuration.abstract,
        discussion: ExporterOptions.configuration.discussion,
        version: MailSecVersion.current
    )

    @OptionGroup var options: ExporterOptions

    /// A module's settings by their keys in the module file; the rest, and
    /// commands to run, as `mailsec` names them.
    static let vocabulary = Vocabulary(setting: { setting in
        switch setting {
        case .trustedCAFile: "ca_file"
        case .allowUnverifiedAuth: "insecure_auth"
        case .overallTimeout: "timeout"
        case .authUser: "auth_user"
        case .checkRelay: "check_relay"
        case .source: "source"
        case .ehloName: "ehlo"
        case .hosts: "audit.hosts"
        case .root: "audit.root"
        case .postfixDirectory: "audit.postfix_dir"
        case .dovecotConfig: "audit.dovecot_config"
        case .noProbe: "audit.probe: false"
        default: Vocabulary.commandLine.setting(setting)
        }
    }, command: Vocabulary.commandLine.command)

    static func main() {
        Vocabulary.bootstrap(vocabulary)
        main(nil)
    }

    func run() throws {
        let configurationPath = options.config.map(SecureFileSystem.absolute)
        var modules = ExporterConfiguration.builtIn
        try Self.reportingErrors {
            if let configurationPath { modules = try ExporterConfiguration.load(path: configurationPath) }
        }
        if options.checkConfig {
            print("\(configurationPath ?? ""): \(modules.modules.count) module\(modules.modules.count == 1 ? "" : "s"): \(modules.modules.keys.sorted().joined(separator: ", "))")
            return
        }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "mailsec.exporter")
        var settings = Exporter.Settings()
        settings.concurrency = options.concurrency
        settings.maximumWaiting = options.maxWaiting
        settings.configurationPath = configurationPath
        let exporter = Exporter(configuration: modules, settings: settings, logger: logger)
        let (host, port) = options.address
        try Self.reportingErrors {
            try ExporterServer.run(exporter, host: host, port: port, logger: logger)
        }
    }

    /// A failure to start (a bad module file, a port in use) as `mailsec` reports
    /// one: the message and its fix on stderr, exit 2.
    static func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as MailSecError {
            var text = "mailsec exporter: error: \(TextSanitizer.escaped(error.message))\n"
            if let remedy = error.remedy {
                let lines = TextSanitizer.escapedKeepingNewlines(remedy).split(separator: "\n", omittingEmptySubsequences: false)
                text += "  fix: " + lines.joined(separator: "\n       ") + "\n"
            }
            _ = text.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
            throw ExitCode(2)
        }
    }
}
