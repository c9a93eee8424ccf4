import Foundation
import Glibc
import Testing

/// `mailsec exporter` on a free loopback port, with a module file of the
/// test's own. Requests go through curl, the metrics through promtool.
final class ExporterProcess {
    let port: UInt16
    let directory: TemporaryDirectory
    let process: SpawnedProcess
    var configPath: String { directory.file("exporter.yml") }
    var log: String { directory.file("exporter.log") }
    var base: String { "http://127.0.0.1:\(port)" }

    init(config: String, extra: [String] = []) throws {
        directory = try TemporaryDirectory()
        port = try PostfixFixture.freePorts(1)[0]
        try config.write(toFile: directory.file("exporter.yml"), atomically: true, encoding: .utf8)
        // stderr (the log) to a file through the shell, so nothing fills a pipe.
        process = try SpawnedProcess("/bin/sh", ["-c", "config=$1 log=$2; shift 2; exec \"$0\" exporter --listen 127.0.0.1:\(port) --config \"$config\" \"$@\" 2>\"$log\"",
                                                  mailsecPath, directory.file("exporter.yml"), directory.file("exporter.log")] + extra, capture: false)
        try PostfixFixture.waitForListener(port)
    }

    deinit {
        kill(process.pid, SIGKILL)
        process.wait()
    }

    /// GET `path` with curl; returns the status code and body.
    func get(_ path: String, headers: [String] = [], timeout: Double = 30) throws -> (status: Int, body: String) {
        var arguments = ["-s", "-g", "--max-time", String(Int(timeout)), "-o", "-", "-w", "\n%{http_code}"]
        for header in headers { arguments += ["-H", header] }
        let result = try run("/usr/bin/curl", arguments + [base + path], timeout: timeout + 10)
        var lines = result.stdout.components(separatedBy: "\n")
        let status = Int(lines.removeLast()) ?? 0
        return (status, lines.joined(separator: "\n"))
    }

    /// The value of the sample `series` (name with labels, exactly as written), if present.
    static func value(_ body: String, _ series: String) -> Double? {
        for line in body.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func promtool(_ body: String) throws -> RunResult {
        try run("/usr/bin/promtool", ["check", "metrics"], input: body)
    }

    func stop(signal number: Int32 = SIGTERM) -> Int32 {
        kill(process.pid, number)
        return process.wait()
    }
}

/// A percent-encoded query value.
func urlEncoded(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
}

@Suite(.serialized, .tags(.integration), .timeLimit(.minutes(10))) struct ExporterTests {
    let postfix: PostfixFixture

    init() throws {
        postfix = try PostfixFixture.shared
    }

    func loginConfig(_ directory: TemporaryDirectory, extra: String = "") throws -> String {
        try "alice-pass\n".write(toFile: directory.file("alice.password"), atomically: true, encoding: .utf8)
        return """
        modules:
          default:
            ca_file: \(postfix.certificate)
            verify_host: mail.example.com
            timeout: 10s
          login:
            ca_file: \(postfix.certificate)
            verify_host: mail.example.com
            auth_user: alice
            password_file: \(directory.file("alice.password"))
            mechanism: PLAIN
            check_relay: true
            ehlo: monitor.example.com
            source: 127.0.0.1
            warn_days: 21
            timeout: 10s
        \(extra)
        """
    }

    @Test func aProbeWithLoginAnswersPrometheusTextThatPromtoolAndOpensslAgreeWith() throws {
        let secrets = try TemporaryDirectory()
        let exporter = try ExporterProcess(config: try loginConfig(secrets))
        let target = urlEncoded("smtps://127.0.0.1:\(postfix.smtps)")
        let (status, body) = try exporter.get("/probe?target=\(target)&module=login")
        #expect(status == 200)
        #expect(ExporterProcess.value(body, "mailsec_probe_success") == 1, "\(body)")
        for check in ["tls-handshake", "certificate-hostname", "certificate-chain", "auth", "relay-denied"] {
            #expect(ExporterProcess.value(body, "mailsec_check_status{check=\"\(check)\",status=\"pass\"}") == 1, "\(check): \(body)")
        }
        #expect(body.contains("mailsec_tls_info{version=\"TLSv1."))
        let lint = try ExporterProcess.promtool(body)
        #expect(lint.status == 0, "\(lint.stdout)\(lint.stderr)")

        // The served leaf, as openssl sees it: fingerprint and notAfter.
        let fingerprint = try shell("openssl x509 -in '\(postfix.certificate)' -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(body.contains("fingerprint_sha256=\"\(fingerprint)\""), "\(fingerprint)")
        let notAfter = try shell("date -d \"$(openssl x509 -in '\(postfix.certificate)' -noout -enddate | cut -d= -f2)\" +%s").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ExporterProcess.value(body, "mailsec_certificate_not_after_seconds") == Double(notAfter))

        // The wrong password fails only the login, and is never shown.
        try "alice-wrong\n".write(toFile: secrets.file("alice.password"), atomically: true, encoding: .utf8)
        kill(exporter.process.pid, SIGHUP)
        var wrong = ""
        for _ in 0..<50 {
            wrong = try exporter.get("/probe?target=\(target)&module=login").body
            if ExporterProcess.value(wrong, "mailsec_probe_success") == 0 { break }
            usleep(100_000)
        }
        #expect(ExporterProcess.value(wrong, "mailsec_check_status{check=\"auth\",status=\"fail\"}") == 1, "\(wrong)")
        #expect(ExporterProcess.value(wrong, "mailsec_check_status{check=\"tls-handshake\",status=\"pass\"}") == 1)

        let page = try exporter.get("/").body
        #expect(page.contains("login") && page.contains("alice.password"), "the status page lists modules")
        let metrics = try exporter.get("/metrics").body
        #expect(ExporterProcess.value(metrics, "mailsec_exporter_probes_total{kind=\"probe\",module=\"login\",result=\"success\"}") == 1, "\(metrics)")
        #expect(metrics.contains("process_resident_memory_bytes "))
        #expect(try ExporterProcess.promtool(metrics).status == 0)
        #expect(exporter.stop() == 0, "SIGTERM exits 0")
        let log = try String(contentsOfFile: exporter.log, encoding: .utf8)
        #expect(log.contains("module=login"), "\(log)")
        for secret in ["alice-pass", "alice-wrong", Data("\u{0}alice\u{0}alice-pass".utf8).base64EncodedString(), Data("\u{0}alice\u{0}alice-wrong".utf8).base64EncodedString()] {
            #expect(!log.contains(secret) && !body.contains(secret) && !wrong.contains(secret) && !page.contains(secret) && !metrics.contains(secret))
        }
    }

    @Test func everyMailProtocolIsProbed() throws {
        let dovecot = try DovecotMailFixture.shared
        let exporter = try ExporterProcess(config: """
        modules:
          default:
            ca_file: \(dovecot.certificate)
            verify_host: mail.example.com
            source: 127.0.0.2   # a remote client, to whom Dovecot offers no clear-text login
        """)
        for (scheme, port) in dovecot.targets {
            let (status, body) = try exporter.get("/probe?target=\(urlEncoded("\(scheme)://127.0.0.1:\(port)"))")
            #expect(status == 200)
            #expect(ExporterProcess.value(body, "mailsec_probe_success") == 1, "\(scheme): \(body.split(separator: "\n").filter { $0.contains("fail") })")
            #expect(ExporterProcess.value(body, "mailsec_check_status{check=\"capabilities\",status=\"pass\"}") == 1, "\(scheme)")
        }
    }

    @Test func badRequestsAnswer400WithTheReasonAndADeadTargetIsAFailedProbe() throws {
        let exporter = try ExporterProcess(config: "modules:\n  default:\n    timeout: 5s\n")
        let cases: [(String, Int, String)] = [
            ("/probe", 400, "missing parameter target"),
            ("/probe?target=", 400, "missing parameter target"),
            ("/probe?target=smtps://127.0.0.1:465&module=nope", 400, "unknown module \"nope\""),
            ("/probe?target=gopher://example.com", 400, "unknown scheme"),
            ("/probe?target=smtps://127.0.0.1:99999", 400, "bad target"),
            ("/probe?target=%zz", 400, "%-encoded"),
            ("/probe?target=a&target=b", 400, "more than once"),
            ("/audit", 400, "does not allow /audit"),
            ("/nothing", 404, "not found"),
        ]
        for (path, expected, reason) in cases {
            let (status, body) = try exporter.get(path)
            #expect(status == expected, "\(path): \(status) \(body)")
            #expect(body.contains(reason), "\(path): \(body)")
            #expect(body.split(separator: "\n").count == 1, "one line: \(body)")
        }
        let dead = try PostfixFixture.freePorts(1)[0]
        let (status, body) = try exporter.get("/probe?target=smtps://127.0.0.1:\(dead)")
        #expect(status == 200)
        #expect(ExporterProcess.value(body, "mailsec_probe_success") == 0)
        #expect(ExporterProcess.value(body, "mailsec_check_status{check=\"connect\",status=\"fail\"}") == 1, "\(body)")
        #expect(!body.contains("mailsec_certificate_info"))
        let metrics = try exporter.get("/metrics").body
        #expect(ExporterProcess.value(metrics, "mailsec_exporter_http_requests_total{handler=\"probe\",code=\"400\"}") == 5, "\(metrics)")
    }

    @Test func anExpiredCertificateStillHasEveryCertificateSeries() throws {
        let exporter = try ExporterProcess(config: "modules:\n  default:\n    ca_file: \(try VerifyFixtures.shared.path("root.crt"))\n    verify_host: mail.example.com\n")
        let (status, body) = try exporter.get("/probe?target=smtps://127.0.0.1:\(postfix.expired)")
        #expect(status == 200)
        #expect(ExporterProcess.value(body, "mailsec_probe_success") == 0)
        #expect(ExporterProcess.value(body, "mailsec_check_status{check=\"certificate-expiry\",status=\"fail\"}") == 1, "\(body)")
        let notAfter = try #require(ExporterProcess.value(body, "mailsec_certificate_not_after_seconds"), "\(body)")
        #expect(notAfter < Date().timeIntervalSince1970, "expired: the series says when")
        #expect(ExporterProcess.value(body, "mailsec_certificate_not_before_seconds") != nil)
        #expect(body.contains("mailsec_certificate_info{"))
    }

    @Test func theModuleFileIsCheckedAtStartAndOnSIGHUPNamingTheLine() throws {
        let directory = try TemporaryDirectory()
        let cases: [(String, String)] = [
            ("modules:\n  default:\n    verify_hots: mail.example.com\n", ":3: unknown key \"verify_hots\""),
            ("modules:\n  default:\n    timeout: forever\n", ":3: default.timeout must be a duration"),
            ("modules:\n  login:\n    auth_user: alice\n", ":3: module login has auth_user but no password_file"),
            ("modules:\n  login:\n    auth_user: alice\n    password_file: /nonexistent/pw\n", ":4: login.password_file"),
            ("modules:\n  default:\n    ca_file: /nonexistent/ca.pem\n", ":3: default.ca_file"),
            ("modules:\n  default: [1, 2\n", "not valid YAML"),
            ("modulez: {}\n", "unknown key \"modulez\""),
            ("modules:\n  a b:\n    timeout: 1s\n", ":3: module name \"a b\""),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let file = directory.file("bad\(index).yml")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try mailsec("exporter", "--check-config", "--config", file)
            #expect(result.status == 2, "\(text)")
            #expect(result.stderr.contains(file) && result.stderr.contains(expected), "\(expected): \(result.stderr)")
        }

        let exporter = try ExporterProcess(config: "modules:\n  default:\n    timeout: 5s\n")
        #expect(try exporter.get("/probe?target=smtps://127.0.0.1:1&module=second").status == 400)
        try "modules:\n  default:\n    timeout: 5s\n  second:\n    timeout: 2s\n".write(toFile: exporter.configPath, atomically: true, encoding: .utf8)
        kill(exporter.process.pid, SIGHUP)
        var status = 0
        for _ in 0..<50 where status != 200 {
            usleep(100_000)
            status = try exporter.get("/probe?target=smtps://127.0.0.1:1&module=second").status
        }
        #expect(status == 200, "SIGHUP loaded the new module")
        // A broken file on reload keeps the modules in use and says so.
        try "modules:\n  second:\n    timeout: nope\n".write(toFile: exporter.configPath, atomically: true, encoding: .utf8)
        let reload = try run("/usr/bin/curl", ["-s", "-X", "POST", "-w", "\n%{http_code}", exporter.base + "/-/reload"])
        #expect(reload.stdout.hasSuffix("\n500") && reload.stdout.contains(":3:"), "\(reload.stdout)")
        #expect(try exporter.get("/probe?target=smtps://127.0.0.1:1&module=second").status == 200)
        let metrics = try exporter.get("/metrics").body
        #expect(ExporterProcess.value(metrics, "mailsec_exporter_config_last_reload_successful") == 0, "\(metrics)")
    }

    @Test func fiftyConcurrentScrapesAllGetTheirAnswerAndMetricsStaysResponsive() throws {
        let exporter = try ExporterProcess(config: "modules:\n  default:\n    ca_file: \(postfix.certificate)\n    verify_host: mail.example.com\n",
                                           extra: ["--concurrency", "16"])
        let directory = try TemporaryDirectory()
        var config = ""
        for index in 0..<50 {
            config += "url = \"\(exporter.base)/probe?target=smtps://127.0.0.1:\(postfix.smtps)&n=\(index)\"\noutput = \"\(directory.file("answer-\(index)"))\"\n"
        }
        try config.write(toFile: directory.file("curl.conf"), atomically: true, encoding: .utf8)
        let curl = try SpawnedProcess("/usr/bin/curl", ["-s", "-g", "--parallel", "--parallel-max", "50", "--max-time", "60", "-K", directory.file("curl.conf")], capture: false)
        // While they run, the exporter's own metrics answer.
        let metrics = try exporter.get("/metrics", timeout: 10)
        #expect(metrics.status == 200)
        #expect(curl.wait() == 0)
        for index in 0..<50 {
            let body = try String(contentsOfFile: directory.file("answer-\(index)"), encoding: .utf8)
            #expect(ExporterProcess.value(body, "mailsec_probe_success") == 1, "answer \(index): \(body)")
        }
        let after = try exporter.get("/metrics").body
        #expect(ExporterProcess.value(after, "mailsec_exporter_probes_total{kind=\"probe\",module=\"default\",result=\"success\"}") == 50, "\(after)")
    }

    @Test func prometheusScrapeTimeoutBoundsTheProbeAndSIGTERMLetsItFinish() throws {
        let silent = try FakeSMTPServer(.silent)
        let exporter = try ExporterProcess(config: "modules:\n  default:\n    timeout: 60s\n")
        // The header's 2 s (less the margin) wins over the module's 60 s: with
        // the module's deadline, curl's 30 s would give up first and no 200 come.
        let (status, body) = try exporter.get("/probe?target=smtps://127.0.0.1:\(silent.port)", headers: ["X-Prometheus-Scrape-Timeout-Seconds: 2"], timeout: 30)
        #expect(status == 200)
        #expect(ExporterProcess.value(body, "mailsec_probe_success") == 0)
        #expect(ExporterProcess.value(body, "mailsec_check_status{check=\"tls-handshake\",status=\"fail\"}") == 1, "\(body)")

        // SIGTERM during a probe: the probe finishes, its answer arrives, the exporter exits 0.
        let answer = exporter.directory.file("late-answer")
        let curl = try SpawnedProcess("/usr/bin/curl", ["-s", "-g", "-o", answer, "-H", "X-Prometheus-Scrape-Timeout-Seconds: 3",
                                                        exporter.base + "/probe?target=smtps://127.0.0.1:\(silent.port)"], capture: false)
        // SIGTERM only once the exporter says the probe is running.
        var running = 0.0
        for _ in 0..<100 where running != 1 {
            running = ExporterProcess.value(try exporter.get("/metrics").body, "mailsec_exporter_probes_in_flight") ?? 0
            if running != 1 { usleep(50_000) }
        }
        #expect(running == 1)
        #expect(exporter.stop() == 0)
        #expect(curl.wait() == 0)
        let late = try String(contentsOfFile: answer, encoding: .utf8)
        #expect(ExporterProcess.value(late, "mailsec_probe_success") == 0, "\(late)")
    }

    @Test func anAuditModuleExportsEveryListener() throws {
        let server = try AuditFixture()
        let exporter = try ExporterProcess(config: """
        modules:
          local:
            ca_file: \(server.root)
            timeout: 10s
            audit:
              postfix_dir: \(server.postfix)
              dovecot_config: \(server.dovecotConfig)
              hosts: [mail.example.com]
        """)
        let (status, body) = try exporter.get("/audit?module=local")
        #expect(status == 200)
        #expect(ExporterProcess.value(body, "mailsec_probe_success") == 1, "\(body)")
        let endpoints = body.split(separator: "\n").filter { $0.hasPrefix("mailsec_endpoint_success{") }
        #expect(endpoints.count == 9, "\(endpoints)")
        #expect(body.contains("mailsec_check_status{service=\"dovecot/imaps\",address=\"127.0.0.1\",port=\"\(server.imaps)\",server_name=\"\",check=\"served-matches-file\",status=\"pass\"} 1"), "\(body)")
        #expect(try ExporterProcess.promtool(body).status == 0)
        #expect(try exporter.get("/probe?target=smtps://127.0.0.1:\(server.smtps)&module=local").status == 200, "an audit module probes too")
    }
}

@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct TextfileOutputTests {
    @Test func probeWritesATextfileAtomicallyWithATargetLabel() throws {
        let postfix = try PostfixFixture.shared
        let directory = try TemporaryDirectory()
        let file = directory.file("mail.prom")
        let dead = try PostfixFixture.freePorts(1)[0]
        let result = try mailsec("probe", "--timeout", "20", "--ca-file", postfix.certificate, "--verify-host", "mail.example.com",
                                 "--prometheus-file", file, "smtps://127.0.0.1:\(postfix.smtps)", "smtps://127.0.0.1:\(dead)")
        #expect(result.status == 1, "one target is down")
        #expect(result.stdout.contains("connect"), "the usual text still goes to stdout")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(ExporterProcess.value(text, "mailsec_probe_success{target=\"smtps://127.0.0.1:\(postfix.smtps)\"}") == 1, "\(text)")
        #expect(ExporterProcess.value(text, "mailsec_probe_success{target=\"smtps://127.0.0.1:\(dead)\"}") == 0)
        #expect(try ExporterProcess.promtool(text).status == 0)
        #expect(try StatInfo(file).mode == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["mail.prom"], "no temporary file left")

        // --prometheus prints the same series instead of text.
        let printed = try mailsec("probe", "--timeout", "20", "--ca-file", postfix.certificate, "--verify-host", "mail.example.com",
                                  "--prometheus", "smtps://127.0.0.1:\(postfix.smtps)")
        #expect(printed.status == 0)
        #expect(try ExporterProcess.promtool(printed.stdout).status == 0)
        #expect(printed.stdout.hasPrefix("# HELP mailsec_probe_success"))
    }

    @Test func verifyAuditAndPreflightExportTheirChecks() throws {
        let fixtures = try VerifyFixtures.shared
        let expired = try mailsec("verify", "--cert", fixtures.path("expired.crt"), "--ca-file", fixtures.path("root.crt"), "--prometheus")
        #expect(expired.status == 1)
        #expect(ExporterProcess.value(expired.stdout, "mailsec_probe_success") == 0)
        #expect(ExporterProcess.value(expired.stdout, "mailsec_certificate_not_after_seconds") ?? .infinity < Date().timeIntervalSince1970)
        #expect(try ExporterProcess.promtool(expired.stdout).status == 0)

        let server = try AuditFixture()
        let audit = try mailsec(arguments: ["audit", "--prometheus"] + server.arguments)
        #expect(audit.status == 0, "\(audit.stderr)")
        #expect(audit.stdout.split(separator: "\n").filter { $0.hasPrefix("mailsec_endpoint_success{") && $0.hasSuffix(" 1") }.count == 9, "\(audit.stdout)")
        #expect(try ExporterProcess.promtool(audit.stdout).status == 0)

        let preflight = try mailsec("preflight", "--root", "/nonexistent-root", "--prometheus")
        #expect(preflight.status == 2, "cannot run: \(preflight.stderr)")

        // A command that cannot run still rewrites its file, so a stale file cannot hide it.
        let directory = try TemporaryDirectory()
        let file = directory.file("verify.prom")
        try "mailsec_probe_success 1\n".write(toFile: file, atomically: true, encoding: .utf8)
        let missing = try mailsec("verify", "--cert", directory.file("missing.crt"), "--prometheus-file", file)
        #expect(missing.status == 2)
        #expect(ExporterProcess.value(try String(contentsOfFile: file, encoding: .utf8), "mailsec_probe_success") == 0)
    }
}

/// A real Prometheus scraping the exporter with the README's multi-target
/// relabelling (the example file's, with the test's targets and ports).
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct PrometheusScrapeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func prometheusScrapesSeveralTargetsThroughTheExporter() throws {
        let postfix = try PostfixFixture.shared
        let dovecot = try DovecotMailFixture.shared
        let exporter = try ExporterProcess(config: """
        modules:
          default:
            ca_file: \(postfix.certificate)
            verify_host: mail.example.com
          imap:
            ca_file: \(dovecot.certificate)
            verify_host: mail.example.com
        """)
        let directory = try TemporaryDirectory()
        let port = try PostfixFixture.freePorts(1)[0]
        let rules = Self.repository + "/Examples/monitoring/mailsec-alerts.yml"
        let relabel = """
            relabel_configs:
              - source_labels: [__address__]
                target_label: __param_target
              - source_labels: [__param_target]
                target_label: instance
              - target_label: __address__
                replacement: 127.0.0.1:\(exporter.port)
        """
        let config = """
        global:
          scrape_interval: 1s
          scrape_timeout: 1s
        rule_files: [\(rules)]
        scrape_configs:
          - job_name: smtp
            metrics_path: /probe
            params: {module: [default]}
            static_configs:
              - targets: [smtps://127.0.0.1:\(postfix.smtps), submission://127.0.0.1:\(postfix.submission)]
        \(relabel)
          - job_name: imap
            metrics_path: /probe
            params: {module: [imap]}
            static_configs:
              - targets: [imaps://127.0.0.1:\(dovecot.imaps)]
        \(relabel)
          - job_name: mailsec-exporter
            static_configs:
              - targets: [127.0.0.1:\(exporter.port)]
        """
        try config.write(toFile: directory.file("prometheus.yml"), atomically: true, encoding: .utf8)
        let check = try run("/usr/bin/promtool", ["check", "config", directory.file("prometheus.yml")])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let prometheus = try SpawnedProcess("/bin/sh", ["-c", "exec /usr/bin/prometheus --config.file=\"$0\" --storage.tsdb.path=\"$1\" --web.listen-address=127.0.0.1:\(port) 2>\"$1.log\"",
                                                        directory.file("prometheus.yml"), directory.file("data")], capture: false)
        defer { kill(prometheus.pid, SIGTERM); prometheus.wait() }
        try PostfixFixture.waitForListener(port)

        // Prometheus's own view: every target up, with mailsec_probe_success 1 under its URL.
        var results: [[String: Any]] = []
        for _ in 0..<120 {
            let answer = try run("/usr/bin/curl", ["-s", "-g", "http://127.0.0.1:\(port)/api/v1/query?query=mailsec_probe_success"])
            if let json = try? parseJSON(answer.stdout), let data = json["data"] as? [String: Any], let found = data["result"] as? [[String: Any]], found.count == 3 {
                results = found
                break
            }
            usleep(250_000)
        }
        let byInstance = Dictionary(results.compactMap { result -> (String, String)? in
            guard let metric = result["metric"] as? [String: String], let value = result["value"] as? [Any], let text = value.last as? String else { return nil }
            return (metric["instance"] ?? "", text)
        }, uniquingKeysWith: { $1 })
        #expect(byInstance == ["smtps://127.0.0.1:\(postfix.smtps)": "1", "submission://127.0.0.1:\(postfix.submission)": "1",
                               "imaps://127.0.0.1:\(dovecot.imaps)": "1"], "\(results)")
        let checks = try run("/usr/bin/curl", ["-s", "-g", "http://127.0.0.1:\(port)/api/v1/query?query=mailsec_check_status{check=\"certificate-chain\",status=\"pass\"}"])
        #expect(checks.stdout.contains("\"instance\":\"imaps://127.0.0.1:\(dovecot.imaps)\""), "\(checks.stdout)")
        let rulesAnswer = try run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/api/v1/rules"])
        #expect(rulesAnswer.stdout.contains("MailServedCertificateNotTheFile"), "the example alert rules load")
        // Each job scrapes at its own offset in the interval: the exporter's own job may come last.
        var up = RunResult(status: 0, stdout: "", stderr: "")
        for _ in 0..<120 {
            up = try run("/usr/bin/curl", ["-s", "-g", "http://127.0.0.1:\(port)/api/v1/query?query=up{job=\"mailsec-exporter\"}"])
            if up.stdout.contains("\"1\"]") { break }
            usleep(250_000)
        }
        #expect(up.stdout.contains("\"1\"]"), "\(up.stdout)")
    }

    @Test func theExampleFilesAreValid() throws {
        let examples = Self.repository + "/Examples/monitoring"
        let rules = try run("/usr/bin/promtool", ["check", "rules", examples + "/mailsec-alerts.yml"])
        #expect(rules.status == 0, "\(rules.stdout)\(rules.stderr)")
        let config = try run("/bin/sh", ["-c", "cd \"$0\" && /usr/bin/promtool check config prometheus.yml", examples])
        #expect(config.status == 0, "\(config.stdout)\(config.stderr)")
        // The example module file, with a password file that exists here.
        let directory = try TemporaryDirectory()
        try "secret\n".write(toFile: directory.file("monitor.password"), atomically: true, encoding: .utf8)
        let modules = try String(contentsOfFile: examples + "/exporter.yml", encoding: .utf8)
            .replacingOccurrences(of: "/etc/mailsec/monitor.password", with: directory.file("monitor.password"))
        try modules.write(toFile: directory.file("exporter.yml"), atomically: true, encoding: .utf8)
        let checked = try mailsec("exporter", "--check-config", "--config", directory.file("exporter.yml"))
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout.contains("3 modules: default, local, login"), "\(checked.stdout)")
        #expect(!checked.stdout.contains("secret"))
    }
}
