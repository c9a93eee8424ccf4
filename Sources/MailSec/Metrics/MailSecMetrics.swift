#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The series MailSec exports, one vocabulary for `/probe`, `/audit` and the
/// textfile output. Their names and labels are a contract (README, "Metrics"):
/// dashboards and alert rules depend on them.
package enum MailSecMetrics {
    /// A probe of one target. `labels` go on every series (the textfile output
    /// names the target; the exporter leaves that to Prometheus's relabelling).
    package static func probe(_ result: ProbeResult, duration: Duration, labels: PrometheusText.Labels = [], into text: inout PrometheusText) {
        outcome(result.report, duration: duration, labels: labels, into: &text)
        // An expired or wrong certificate still yields its series: "down" and
        // "expired" must be told apart.
        if let certificate = result.certificate { self.certificate(certificate, labels: labels, into: &text) }
        if let tls = result.tls {
            text.add("mailsec_tls_info", 1, labels: labels + [("version", tls.version), ("cipher", tls.cipher)],
                     help: "The TLS version and cipher the server negotiated.")
        }
    }

    /// A certificate check on files (`verify`): the same series as a probe's.
    package static func verification(_ verification: CertificateVerification, duration: Duration, labels: PrometheusText.Labels = [], into text: inout PrometheusText) {
        outcome(verification.report, duration: duration, labels: labels, into: &text)
        if let certificate = verification.certificate { self.certificate(certificate, labels: labels, into: &text) }
    }

    /// Success, duration and one `mailsec_check_status` series per check.
    package static func outcome(_ report: Report, duration: Duration?, labels: PrometheusText.Labels = [], into text: inout PrometheusText) {
        success(report.ok, duration: duration, labels: labels, into: &text)
        checks(report, labels: labels, into: &text)
    }

    /// What a run that could not check anything (a missing file, a bad
    /// configuration) exports: failure, and no check series.
    package static func couldNotRun(labels: PrometheusText.Labels = [], into text: inout PrometheusText) {
        success(false, duration: nil, labels: labels, into: &text)
    }

    private static func success(_ ok: Bool, duration: Duration?, labels: PrometheusText.Labels, into text: inout PrometheusText) {
        text.add("mailsec_probe_success", ok ? 1 : 0, labels: labels, help: "1 when no check failed, else 0.")
        if let duration {
            text.add("mailsec_probe_duration_seconds", duration.seconds, labels: labels, help: "How long the checks took, in seconds.")
        }
    }

    /// One series per check id, carrying the worst status that id reported.
    package static func checks(_ report: Report, labels: PrometheusText.Labels = [], into text: inout PrometheusText) {
        var order: [Finding.ID] = []
        var worst: [Finding.ID: Finding.Status] = [:]
        for finding in report.findings {
            if let seen = worst[finding.id] {
                worst[finding.id] = max(seen, finding.status)
            } else {
                order.append(finding.id)
                worst[finding.id] = finding.status
            }
        }
        for id in order {
            text.add("mailsec_check_status", 1, labels: labels + [("check", id.rawValue), ("status", worst[id]!.rawValue)],
                     help: "One series per check: its status (pass, warn, fail or skip) is the label.")
        }
    }

    /// The validity window (Unix times) and identity of a leaf certificate.
    package static func certificate(_ facts: CertificateFacts, labels: PrometheusText.Labels = [], into text: inout PrometheusText) {
        if let notAfter = UTCTime.parseRFC3339(facts.notAfter) {
            text.add("mailsec_certificate_not_after_seconds", notAfter.timeIntervalSince1970.rounded(), labels: labels,
                     help: "The leaf certificate's notAfter, in seconds since the Unix epoch.")
        }
        if let notBefore = UTCTime.parseRFC3339(facts.notBefore) {
            text.add("mailsec_certificate_not_before_seconds", notBefore.timeIntervalSince1970.rounded(), labels: labels,
                     help: "The leaf certificate's notBefore, in seconds since the Unix epoch.")
        }
        text.add("mailsec_certificate_info", 1,
                 labels: labels + [("subject", facts.subject), ("issuer", facts.issuer), ("serial", facts.serial),
                                   ("fingerprint_sha256", facts.sha256.filter { $0 != ":" }.lowercased())],
                 help: "The leaf certificate's subject, issuer, serial and SHA-256 fingerprint.")
    }

    /// An audit: the server-wide checks, then per listener its checks and the
    /// served certificate, labelled by service, address, port and server name.
    package static func audit(_ result: AuditResult, duration: Duration, into text: inout PrometheusText) {
        // Success covers the listeners too, not only the server-wide checks.
        success(result.ok, duration: duration, labels: [], into: &text)
        checks(result.report, into: &text)
        for audited in result.endpoints {
            let endpoint = audited.endpoint
            let labels: PrometheusText.Labels = [("service", endpoint.service), ("address", endpoint.address),
                                                 ("port", String(endpoint.port)), ("server_name", endpoint.serverName ?? "")]
            text.add("mailsec_endpoint_success", audited.report.ok ? 1 : 0, labels: labels,
                     help: "1 when no check of this listener failed, else 0.")
            checks(audited.report, labels: labels, into: &text)
            if let served = audited.served { certificate(served, labels: labels, into: &text) }
        }
    }
}

extension PrometheusText {
    /// Writes the exposition for node_exporter's textfile collector: to a
    /// temporary file in the same directory (its name starts with a dot and
    /// does not end in `.prom`, so the collector never reads it half written),
    /// then renamed over `path`, mode 0644. No backup is kept: a timer rewrites it.
    package func write(to path: String) throws {
        var bytes = Array(text.utf8)
        let staged = try bytes.withUnsafeMutableBytes {
            try StagedFile(path: SecureFileSystem.absolute(path), contents: UnsafeRawBufferPointer($0), mode: 0o644, owner: nil)
        }
        try staged.install(replacing: true)
        bytes.removeAll()
    }
}
