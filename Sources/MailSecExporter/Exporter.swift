#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Logging
import MailSec
import Prometheus
import Synchronization

/// The exporter's decisions, free of HTTP plumbing: what a request asks for,
/// the probe it runs, the answer. `ExporterServer` carries requests here and
/// answers back; tests and the bench can drive this directly.
public final class Exporter: Sendable {
    public struct Settings: Sendable {
        /// Probes run at once; the rest wait their turn.
        public var concurrency = 64
        /// Requests waiting beyond this many answer 503 at once, so a flood
        /// costs a counter, not memory.
        public var maximumWaiting = 1024
        /// Taken off Prometheus's scrape timeout so the answer arrives in time.
        public var scrapeMargin: Duration = .milliseconds(500)
        /// The module file, re-read by `reload()`; nil for the built-in default module.
        public var configurationPath: String?
        public init() {}
    }

    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]

        static func text(_ status: Int, _ text: String) -> Response {
            Response(status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8))
        }
    }

    /// A request is answered at once, or is work for the probe pool.
    public enum Routed: Sendable {
        case immediate(Response)
        case probe(@Sendable () -> Response)
    }

    /// One probe, as the status page lists it.
    struct RecentProbe: Sendable {
        var time: Date
        var kind: String
        var target: String
        var module: String
        var success: Bool
        var duration: Duration
        var failed: [String]
    }

    private struct State: Sendable {
        var configuration: ExporterConfiguration
        var waiting = 0
        var running = 0
        var recent: [RecentProbe] = []
        var shuttingDown = false
    }

    public let settings: Settings
    private let state: Mutex<State>
    private let registry = PrometheusCollectorRegistry()
    private let logger: Logger
    private let startTime = Date()
    private static let recentLimit = 50

    public init(configuration: ExporterConfiguration, settings: Settings, logger: Logger = Logger(label: "mailsec.exporter")) {
        self.settings = settings
        self.logger = logger
        state = Mutex(State(configuration: configuration))
        recordReload(success: true)
    }

    public var configuration: ExporterConfiguration { state.withLock { $0.configuration } }

    /// Re-reads the module file (on SIGHUP or POST /-/reload). A broken file
    /// keeps the modules in use and says why; the metric shows it too.
    public func reload() throws {
        guard let path = settings.configurationPath else { return }
        do {
            let fresh = try ExporterConfiguration.load(path: path)
            state.withLock { $0.configuration = fresh }
            recordReload(success: true)
            logger.info("reloaded \(path): \(fresh.modules.count) modules")
        } catch {
            recordReload(success: false)
            logger.error("reload of \(path) failed, the previous modules stay in use: \(error)")
            throw error
        }
    }

    private func recordReload(success: Bool) {
        registry.makeGauge(descriptor: Own.reloadSuccessful, labels: []).set(to: success ? 1 : 0)
        if success {
            registry.makeGauge(descriptor: Own.reloadTimestamp, labels: []).set(to: Date().timeIntervalSince1970.rounded())
        }
    }

    /// Stops admitting probes; those admitted still run (see `probesOutstanding`).
    public func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
    }

    public var probesOutstanding: Int { state.withLock { $0.waiting + $0.running } }

    // MARK: Routing

    public func route(method: String, uri: String, headers: [(name: String, value: String)]) -> Routed {
        let query: HTTPQuery
        do {
            query = try HTTPQuery(parsing: uri)
        } catch {
            return .immediate(answered("other", .text(400, "malformed request: \(error.reason)")))
        }
        let isRead = method == "GET" || method == "HEAD"
        switch query.path {
        case "/probe", "/audit":
            guard isRead else { return .immediate(answered("probe", .text(405, "use GET"))) }
            return query.path == "/probe" ? probeRoute(query, headers: headers) : auditRoute(query, headers: headers)
        case "/metrics":
            guard isRead else { return .immediate(answered("metrics", .text(405, "use GET"))) }
            return .immediate(answered("metrics", Response(status: 200, contentType: PrometheusText.contentType, body: ownMetrics())))
        case "/":
            guard isRead else { return .immediate(answered("index", .text(405, "use GET"))) }
            return .immediate(answered("index", Response(status: 200, contentType: "text/html; charset=utf-8", body: Array(statusPage().utf8))))
        case "/-/healthy", "/-/ready":
            return .immediate(answered("health", .text(200, "OK")))
        case "/-/reload":
            guard method == "POST" || method == "PUT" else { return .immediate(answered("reload", .text(405, "use POST"))) }
            do {
                try reload()
                return .immediate(answered("reload", .text(200, "reloaded")))
            } catch let error as MailSecError {
                return .immediate(answered("reload", .text(500, "reload failed, previous modules kept: \(error.message)")))
            } catch {
                return .immediate(answered("reload", .text(500, "reload failed, previous modules kept: \(error)")))
            }
        default:
            return .immediate(answered("other", .text(404, "not found; try /probe?target=smtps://mail.example.com, /metrics or /")))
        }
    }

    private func probeRoute(_ query: HTTPQuery, headers: [(name: String, value: String)]) -> Routed {
        guard let targetText = query.parameters["target"], !targetText.isEmpty else {
            return .immediate(answered("probe", .text(400, "missing parameter target (e.g. /probe?target=smtps://mail.example.com:465)")))
        }
        guard let module = configuration.module(named: query.parameters["module"]) else {
            return .immediate(answered("probe", .text(400, "unknown module \(HTTPQuery.shown(query.parameters["module"] ?? "default"))")))
        }
        let target: ProbeTarget
        do {
            target = try ProbeTarget(parsing: targetText, mode: module.mode)
        } catch let error as MailSecError {
            return .immediate(answered("probe", .text(400, "bad target: \(error.message)")))
        } catch {
            return .immediate(answered("probe", .text(400, "bad target")))
        }
        let deadline = ContinuousClock.now.advanced(by: budget(module.options.timeout, headers: headers))
        return admit("probe") { [self] in
            var options = module.options
            let remaining = max(deadline - ContinuousClock.now, .milliseconds(10))
            options.overallTimeout = remaining
            options.timeout = min(options.timeout, remaining)
            let started = ContinuousClock.now
            let result = MailProbe.run(target, options: options)
            let duration = ContinuousClock.now - started
            var text = PrometheusText()
            MailSecMetrics.probe(result, duration: duration, into: &text)
            finished(RecentProbe(time: Date(), kind: "probe", target: target.description, module: module.name, success: result.report.ok,
                                 duration: duration, failed: result.report.findings.filter { $0.status == .fail }.map(\.id.rawValue)))
            return answered("probe", Response(status: 200, contentType: PrometheusText.contentType, body: Array(text.text.utf8)))
        }
    }

    private func auditRoute(_ query: HTTPQuery, headers: [(name: String, value: String)]) -> Routed {
        guard let module = configuration.module(named: query.parameters["module"]) else {
            return .immediate(answered("audit", .text(400, "unknown module \(HTTPQuery.shown(query.parameters["module"] ?? "default"))")))
        }
        guard var base = module.audit else {
            return .immediate(answered("audit", .text(400, "module \(module.name) has no audit: section, so it does not allow /audit")))
        }
        base.trust = module.options.trust
        base.source = module.options.source
        base.warnDays = module.options.warnDays
        let prepared = base
        let deadline = ContinuousClock.now.advanced(by: budget(module.options.timeout, headers: headers))
        return admit("audit") { [self] in
            // An audit probes its listeners in parallel, each within the time left.
            var request = prepared
            request.timeout = max(deadline - ContinuousClock.now, .milliseconds(10))
            let started = ContinuousClock.now
            var text = PrometheusText()
            var success = false
            var failed: [String] = []
            do {
                let result = try Audit.run(request)
                MailSecMetrics.audit(result, duration: ContinuousClock.now - started, into: &text)
                success = result.ok
                failed = (result.report.findings + result.endpoints.flatMap(\.report.findings)).filter { $0.status == .fail }.map(\.id.rawValue)
            } catch let error as MailSecError {
                logger.error("audit for module \(module.name) could not run: \(error.message)")
                MailSecMetrics.couldNotRun(into: &text)
                failed = ["could-not-run"]
            } catch {
                logger.error("audit for module \(module.name) could not run: \(error)")
                MailSecMetrics.couldNotRun(into: &text)
                failed = ["could-not-run"]
            }
            finished(RecentProbe(time: Date(), kind: "audit", target: "local server", module: module.name, success: success,
                                 duration: ContinuousClock.now - started, failed: failed))
            return answered("audit", Response(status: 200, contentType: PrometheusText.contentType, body: Array(text.text.utf8)))
        }
    }

    /// The smaller of the module's timeout and Prometheus's scrape timeout less the margin.
    func budget(_ moduleTimeout: Duration, headers: [(name: String, value: String)]) -> Duration {
        guard let header = headers.first(where: { $0.name.lowercased() == "x-prometheus-scrape-timeout-seconds" }),
              let seconds = Double(header.value.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0 else { return moduleTimeout }
        let scrape = Duration.milliseconds(Int64(min(seconds, 3600) * 1000)) - settings.scrapeMargin
        return max(min(moduleTimeout, scrape), .milliseconds(100))
    }

    /// Counts the request in, or answers 503 when too many already wait.
    private func admit(_ handler: String, _ body: @escaping @Sendable () -> Response) -> Routed {
        let admitted = state.withLock { state -> Bool in
            guard !state.shuttingDown, state.waiting < settings.maximumWaiting else { return false }
            state.waiting += 1
            return true
        }
        guard admitted else {
            return .immediate(answered(handler, .text(503, "too many probes waiting (or shutting down); retry later")))
        }
        updateLoadGauges()
        return .probe { [self] in
            state.withLock { $0.waiting -= 1; $0.running += 1 }
            updateLoadGauges()
            let response = body()
            state.withLock { $0.running -= 1 }
            updateLoadGauges()
            return response
        }
    }

    private func updateLoadGauges() {
        let (waiting, running) = state.withLock { ($0.waiting, $0.running) }
        registry.makeGauge(descriptor: Own.waiting, labels: []).set(to: Double(waiting))
        registry.makeGauge(descriptor: Own.inFlight, labels: []).set(to: Double(running))
    }

    private func finished(_ probe: RecentProbe) {
        state.withLock { state in
            state.recent.append(probe)
            if state.recent.count > Self.recentLimit { state.recent.removeFirst(state.recent.count - Self.recentLimit) }
        }
        let result = probe.success ? "success" : "failure"
        registry.makeCounter(descriptor: Own.probes, labels: [("kind", probe.kind), ("module", probe.module), ("result", result)]).increment()
        registry.makeDurationHistogram(descriptor: Own.duration, labels: [("kind", probe.kind), ("module", probe.module)], buckets: Own.buckets).record(probe.duration)
        let failed = probe.failed.isEmpty ? "" : " failed=\(probe.failed.joined(separator: ","))"
        logger.info("\(probe.kind) target=\(probe.target) module=\(probe.module) success=\(probe.success) duration_ms=\(Int(probe.duration.milliseconds))\(failed)")
    }

    private func answered(_ handler: String, _ response: Response) -> Response {
        registry.makeCounter(descriptor: Own.requests, labels: [("handler", handler), ("code", String(response.status))]).increment()
        return response
    }

    // MARK: Own metrics and status page

    private func ownMetrics() -> [UInt8] {
        var bytes = registry.emitToBuffer()
        bytes += Array(ProcessMetrics.read(startTime: startTime).text.utf8)
        return bytes
    }

    private func statusPage() -> String {
        let (configuration, recent) = state.withLock { ($0.configuration, $0.recent) }
        var html = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>mailsec exporter</title></head><body>
        <h1>mailsec exporter</h1>
        <p><a href="/metrics">Metrics</a> · probe with <code>/probe?target=smtps://mail.example.com&amp;module=default</code></p>
        <h2>Modules</h2><table border="1" cellpadding="4"><tr><th>Module</th><th>Verify host</th><th>Login</th><th>Audit</th><th>Timeout</th></tr>

        """
        for name in configuration.modules.keys.sorted() {
            let module = configuration.modules[name]!
            let login = module.options.authUser.map { "\($0) (password from \(module.passwordFile ?? "?"))" } ?? "no"
            html += "<tr><td>\(Self.escapeHTML(name))</td><td>\(Self.escapeHTML(module.options.verifyHost ?? "the target's host"))</td>"
            html += "<td>\(Self.escapeHTML(login))</td><td>\(module.audit == nil ? "no" : "yes")</td><td>\(Int(module.options.timeout.seconds)) s</td></tr>\n"
        }
        html += "</table>\n<h2>Recent probes</h2><table border=\"1\" cellpadding=\"4\"><tr><th>Time</th><th>Kind</th><th>Target</th><th>Module</th><th>Result</th><th>Duration</th><th>Failed checks</th></tr>\n"
        for probe in recent.reversed() {
            html += "<tr><td>\(UTCTime.iso8601(probe.time))</td><td>\(probe.kind)</td><td>\(Self.escapeHTML(probe.target))</td><td>\(Self.escapeHTML(probe.module))</td>"
            html += "<td>\(probe.success ? "success" : "failure")</td><td>\(Int(probe.duration.milliseconds)) ms</td><td>\(Self.escapeHTML(probe.failed.joined(separator: ", ")))</td></tr>\n"
        }
        html += "</table>\n</body></html>\n"
        return html
    }

    static func escapeHTML(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

/// The exporter's own series (`/metrics`); the probe series are MailSecMetrics'.
/// (Descriptors are not Sendable, hence computed.)
private enum Own {
    static func named(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "mailsec", subsystem: "exporter", metricName: name, unitName: unit, helpText: help)
    }
    static var reloadSuccessful: MetricNameDescriptor { named("config_last_reload", "successful", "1 when the last (re)load of the module file succeeded.") }
    static var reloadTimestamp: MetricNameDescriptor { named("config_last_reload_success_timestamp", "seconds", "When the module file was last loaded successfully, in Unix time.") }
    static var waiting: MetricNameDescriptor { named("probes", "waiting", "Probes waiting for a free slot.") }
    static var inFlight: MetricNameDescriptor { named("probes_in", "flight", "Probes running now.") }
    static var probes: MetricNameDescriptor { named("probes", "total", "Probes and audits run, by kind, module and result.") }
    static var duration: MetricNameDescriptor { named("probe_duration", "seconds", "How long probes and audits took.") }
    static var requests: MetricNameDescriptor { named("http_requests", "total", "HTTP requests answered, by handler and status code.") }
    static let buckets: [Duration] = [.milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                      .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30)]
}
