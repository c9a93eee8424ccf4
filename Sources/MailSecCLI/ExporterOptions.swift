import ArgumentParser
import MailSec

/// The options of `mailsec exporter`, shared by the two programs that read them.
///
/// The exporter is a program of its own, `mailsec-exporter`, because its HTTP
/// server (SwiftNIO), YAML reader (Yams, and through it all of Foundation with
/// ICU) and metrics library would otherwise be linked into `mailsec` and slow
/// every other command's start-up (about 2.5 ms of a 7 ms `--version`, and
/// 70 MB more mapped). `mailsec exporter` parses these options, so its help,
/// man page and completions stay whole, and then becomes `mailsec-exporter`.
public struct ExporterOptions: ParsableArguments {
    public static let configuration = CommandConfiguration(
        commandName: "exporter",
        abstract: "Serve probes and audits to Prometheus (the multi-target exporter pattern).",
        discussion: """
        GET /probe?target=URL&module=NAME probes one target (any scheme probe accepts) and answers in \
        Prometheus's text format; GET /audit?module=NAME audits this server when the module allows it; \
        GET /metrics gives the exporter's own metrics; GET / lists modules and recent probes. \
        Modules come from --config (YAML; see README) and are re-read on SIGHUP or POST /-/reload. \
        SIGTERM lets the running probes finish, then exits 0. The server is the program \
        mailsec-exporter, installed beside mailsec, which takes the same options.

        Examples:
          mailsec exporter --listen 127.0.0.1:9465 --config /etc/mailsec/exporter.yml
          curl 'http://127.0.0.1:9465/probe?target=smtps://mail.example.com:465&module=login'
        """
    )

    @Option(help: ArgumentHelp("Address and port to listen on: HOST:PORT, [IPv6]:PORT or :PORT for every address.", valueName: "addr:port"))
    public var listen = "127.0.0.1:9465"

    @Option(help: ArgumentHelp("The YAML module file (default: one `default` module with probe's defaults).", valueName: "file"))
    public var config: String?

    @Option(help: ArgumentHelp("Probes run at once; further requests wait.", valueName: "n"))
    public var concurrency = 64

    @Option(name: .customLong("max-waiting"), help: ArgumentHelp("Requests allowed to wait for a free slot; beyond that they get 503.", valueName: "n"))
    public var maxWaiting = 1024

    @Flag(name: .customLong("check-config"), help: "Validate --config and exit (0 valid, 2 not).")
    public var checkConfig = false

    public init() {}

    public func validate() throws {
        guard Self.split(listen) != nil else { throw ValidationError("--listen \(TextSanitizer.quoted(listen)): expected HOST:PORT, [IPv6]:PORT or :PORT") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 1024") }
        guard (0...100_000).contains(maxWaiting) else { throw ValidationError("--max-waiting must be between 0 and 100000") }
        if checkConfig && config == nil { throw ValidationError("--check-config needs --config FILE") }
    }

    /// The address to listen on: `host:port`, `[v6]:port`, `:port` (every address).
    public var address: (host: String, port: Int) { Self.split(listen)! }

    static func split(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "::" }
        guard IPAddress.normalize(host) != nil || host == "localhost" else { return nil }
        return (host, port)
    }
}
