#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import MailSec

/// Renders reports as the checklist people read: `✓` pass, `!` warn, `✗` fail, `-` skip.
struct HumanRenderer {
    let style: Style
    /// Prefix each line with the finding's stable id (checks), or not (genkey's steps).
    var showIDs = false

    init(color: Bool = Terminal.useColor(fd: 1), showIDs: Bool = false) {
        style = Style(enabled: color)
        self.showIDs = showIDs
    }

    func line(_ finding: Finding) -> String {
        let mark: String
        switch finding.status {
        case .pass: mark = style.green("✓")
        case .warn: mark = style.yellow("!")
        case .fail: mark = style.red("✗")
        case .skip: mark = style.dim("-")
        }
        // Messages and remedies quote what servers, certificates and files said: control
        // characters in them are shown escaped, never sent to the terminal.
        let message = TextSanitizer.escaped(finding.message)
        var text = showIDs ? "\(mark) \(style.bold(TextSanitizer.escaped(finding.id.rawValue))): \(message)" : "\(mark) \(message)"
        if let remedy = finding.remedy, finding.status == .fail || finding.status == .warn {
            let indented = TextSanitizer.escapedKeepingNewlines(remedy).split(separator: "\n", omittingEmptySubsequences: false).map { "    \($0)" }.joined(separator: "\n")
            text += "\n  \(style.dim("fix:"))\n\(indented)"
        }
        return text
    }

    func render(_ report: Report) -> String {
        report.findings.map(line).joined(separator: "\n")
    }

    /// A `label  value` block with aligned values.
    func facts(_ rows: [(String, String)], indent: String = "  ") -> String {
        let width = (rows.map(\.0.count).max() ?? 0) + 2
        return rows.map { "\(indent)\(style.dim($0.0.padded(to: width)))\(TextSanitizer.escaped($0.1))" }.joined(separator: "\n")
    }

    func heading(_ text: String) -> String { style.bold(TextSanitizer.escaped(text)) }

    /// Untrusted text (a transcript line, a server's reason) made safe to print.
    func plain(_ text: String) -> String { TextSanitizer.escaped(text) }
}

/// One JSON document on stdout, with stable snake_case keys.
enum JSONOutput {
    static func encode<Value: Encodable>(_ value: Value, pretty: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return String(decoding: data, as: UTF8.self)
    }

    static func print<Value: Encodable>(_ value: Value) throws {
        Swift.print(try encode(value))
    }
}

/// The JSON form of a `Report`: `{"ok": bool, "checks": [...]}`.
struct ReportJSON: Encodable {
    let ok: Bool
    let checks: [Finding]
    init(_ report: Report) {
        ok = report.ok
        checks = report.findings
    }
}

/// The one line a Nagios/Icinga plugin prints: `MAILSEC STATE - text|perfdata`.
/// The four states of a Nagios/Icinga plugin, which are its exit codes.
enum NagiosState: Int32 {
    case ok = 0, warning = 1, critical = 2, unknown = 3

    var label: String {
        switch self {
        case .ok: "OK"
        case .warning: "WARNING"
        case .critical: "CRITICAL"
        case .unknown: "UNKNOWN"
        }
    }
}

extension Report {
    /// A failure is CRITICAL, a warning WARNING, anything else OK.
    var nagiosState: NagiosState {
        switch worst {
        case .fail: .critical
        case .warn: .warning
        case .pass, .skip: .ok
        }
    }
}

enum NagiosLine {
    static func make(report: Report, facts: CertificateFacts?, warnDays: Int, label: String? = nil) -> String {
        let state = report.nagiosState
        var text: String
        switch state {
        case .ok:
            let passed = report.count(.pass)
            text = "\(passed) checks passed" + (facts.map { ", expires in \($0.daysLeft) days" } ?? "")
        default:
            let worst: Finding.Status = state == .critical ? .fail : .warn
            text = report.findings.filter { $0.status == worst }.map { "\($0.id): \($0.message)" }.joined(separator: "; ")
        }
        if let label { text = "\(label): \(text)" }
        // Perfdata may not contain '|' and the line must stay one line, free of control characters.
        text = TextSanitizer.escaped(text.replacingAll("|", with: "/").replacingAll("\n", with: " "))
        // Range thresholds as the plugin guidelines define them: alert when outside `warnDays:` (below it), critical below 1 day.
        let perfdata = facts.map { "|days_left=\($0.daysLeft);\(warnDays):;1:" } ?? ""
        return "MAILSEC \(state.label) - \(text)\(perfdata)"
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}

/// Exit codes shared by every command (see README).
enum ExitStatus {
    /// A check or an authentication failed.
    static let failed = ExitCode(1)
    /// The tool could not run: bad input, I/O, protocol error, timeout.
    static let couldNotRun = ExitCode(2)
}

/// Runs a command body, turning MailSec errors into a message on stderr and exit 2.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as MailSecError {
        printErrorWithRemedy(error)
        throw ExitStatus.couldNotRun
    }
}

/// `mailsec: error: ...` and an indented `fix:` block on stderr.
func printErrorWithRemedy(_ error: MailSecError) {
    Terminal.printError("mailsec: error: \(TextSanitizer.escaped(error.message))")
    guard let remedy = error.remedy else { return }
    let lines = TextSanitizer.escapedKeepingNewlines(remedy).split(separator: "\n", omittingEmptySubsequences: false)
    Terminal.printError("  fix: \(lines[0])")
    for line in lines.dropFirst() { Terminal.printError("       \(line)") }
}
