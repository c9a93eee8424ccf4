import ArgumentParser
import Logging
import MailSec
import MailSecExporter

struct ExporterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exporter",
        abstract: "Serve probes and audits to Prometheus (the multi-target exporter pattern).",
        discussion: """
        GET /probe?target=URL&module=NAME probes one target (any scheme probe accepts) and answers in \
        Prometheus's text format; GET /audit?module=NAME audits this server when the module allows it; \
        GET /metrics gives the exporter's own metrics; GET / lists modules and recent probes. \
        Modules come from --config (YAML; see README) and are re-read on SIGHUP or POST /-/reload. \
        SIGTERM lets the running probes finish, then exits 0.

        Examples:
          mailsec exporter --listen 127.0.0.1:9465 --config /etc/mailsec/exporter.yml
          curl 'http://127.0.0.1:9465/probe?target=smtps://mail.example.com:465&module=login'
        """
    )

    @Option(help: ArgumentHelp("Address and port to listen on: HOST:PORT, [IPv6]:PORT or :PORT for every address.", valueName: "addr:port"))
    var listen = "127.0.0.1:9465"

    @Option(help: ArgumentHelp("The YAML module file (default: one `default` module with probe's defaults).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Probes run at once; further requests wait.", valueName: "n"))
    var concurrency = 64

    @Option(name: .customLong("max-waiting"), help: ArgumentHelp("Requests allowed to wait for a free slot; beyond that they get 503.", valueName: "n"))
    var maxWaiting = 1024

    @Flag(name: .customLong("check-config"), help: "Validate --config and exit (0 valid, 2 not).")
    var checkConfig = false

    func validate() throws {
        guard Self.split(listen) != nil else { throw ValidationError("--listen \(TextSanitizer.quoted(listen)): expected HOST:PORT, [IPv6]:PORT or :PORT") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 1024") }
        guard (0...100_000).contains(maxWaiting) else { throw ValidationError("--max-waiting must be between 0 and 100000") }
        if checkConfig && config == nil { throw ValidationError("--check-config needs --config FILE") }
    }

    func run() throws {
        let configurationPath = config.map(SecureFileSystem.absolute)
        var modules = ExporterConfiguration.builtIn
        try runReportingErrors {
            if let configurationPath { modules = try ExporterConfiguration.load(path: configurationPath) }
        }
        if checkConfig {
            print("\(configurationPath ?? ""): \(modules.modules.count) module\(modules.modules.count == 1 ? "" : "s"): \(modules.modules.keys.sorted().joined(separator: ", "))")
            return
        }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "mailsec.exporter")
        var settings = Exporter.Settings()
        settings.concurrency = concurrency
        settings.maximumWaiting = maxWaiting
        settings.configurationPath = configurationPath
        let exporter = Exporter(configuration: modules, settings: settings, logger: logger)
        let (host, port) = Self.split(listen)!
        try runReportingErrors {
            try ExporterServer.run(exporter, host: host, port: port, logger: logger)
        }
    }

    /// `host:port`, `[v6]:port`, `:port` (every address).
    static func split(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "::" }
        guard IPAddress.normalize(host) != nil || host == "localhost" else { return nil }
        return (host, port)
    }
}
