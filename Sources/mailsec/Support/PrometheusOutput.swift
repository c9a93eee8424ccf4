import ArgumentParser
import MailSec

/// `--prometheus` and `--prometheus-file`: the textfile collector's output,
/// shared by probe, verify, audit and preflight.
struct PrometheusOutputOptions: ParsableArguments {
    @Flag(help: "Print the results as Prometheus metrics (the exporter's series) instead of text.")
    var prometheus = false

    @Option(name: .customLong("prometheus-file"),
            help: ArgumentHelp("Also write the metrics to this file, atomically, mode 0644 (for node_exporter's textfile collector; name it *.prom).", valueName: "path"))
    var prometheusFile: String?

    var wanted: Bool { prometheus || prometheusFile != nil }

    /// Rejects a combination with another output format.
    func validate(against others: [(String, Bool)]) throws {
        guard prometheus else { return }
        if let other = others.first(where: \.1) { throw ValidationError("give --prometheus or \(other.0), not both") }
    }

    /// When the command could not run, a file still says so (a stale file
    /// would hide the failure); stdout is left to the error message.
    func emitCouldNotRun() throws {
        guard let prometheusFile else { return }
        var text = PrometheusText()
        MailSecMetrics.couldNotRun(into: &text)
        try runReportingErrors { try text.write(to: prometheusFile) }
    }

    /// Runs `body`; if it fails, writes the failure to the file first.
    func onCouldNotRun(_ body: () throws -> Void) throws {
        do { try body() } catch {
            try? emitCouldNotRun()
            throw error
        }
    }

    /// Prints (with --prometheus) and writes (with --prometheus-file) the metrics.
    func emit(_ text: PrometheusText) throws {
        if prometheus { print(text.text, terminator: "") }
        if let prometheusFile {
            try runReportingErrors { try text.write(to: prometheusFile) }
        }
    }
}
