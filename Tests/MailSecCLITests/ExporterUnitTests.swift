import Foundation
import MailSec
import MailSecExporter
import Testing

/// The exporter's parsers and the exposition writer, without a server.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct ExporterUnitTests {
    @Test func queriesDecodeAsPrometheusSendsThem() throws {
        let query = try HTTPQuery(parsing: "/probe?target=smtps%3A%2F%2Fmail.example.com%3A465&module=a+b&empty=&flag")
        #expect(query.path == "/probe")
        #expect(query.parameters == ["target": "smtps://mail.example.com:465", "module": "a b", "empty": "", "flag": ""])
        #expect(try HTTPQuery(parsing: "/metrics").parameters.isEmpty)
        #expect(try HTTPQuery(parsing: "/probe?module=%E2%82%AC").parameters["module"] == "€")
        for bad in ["/probe?target=%", "/probe?target=%4", "/probe?target=%zz", "/probe?target=%FF", "/probe?a=1&a=2",
                    "/probe?" + (0...40).map { "p\($0)=1" }.joined(separator: "&")] {
            #expect(throws: HTTPQuery.Malformed.self, "\(bad)") { try HTTPQuery(parsing: bad) }
        }
    }

    @Test func labelValuesAreEscapedAndFamiliesStayTogether() {
        var text = PrometheusText()
        text.add("mailsec_check_status", 1, labels: [("check", "a"), ("status", "pass")], help: "h")
        text.add("mailsec_probe_success", 0, help: "s")
        text.add("mailsec_check_status", 1, labels: [("check", "quote\" back\\slash\nnewline\u{1}"), ("status", "fail")], help: "h")
        text.add("mailsec_probe_duration_seconds", 0.25, help: "d")
        text.add("mailsec_certificate_not_after_seconds", 1_827_702_254, help: "n")
        let lines = text.text.split(separator: "\n").map(String.init)
        #expect(lines[0...3] == ["# HELP mailsec_check_status h", "# TYPE mailsec_check_status gauge",
                                 "mailsec_check_status{check=\"a\",status=\"pass\"} 1",
                                 "mailsec_check_status{check=\"quote\\\" back\\\\slash\\nnewline\\\\x1\",status=\"fail\"} 1"])
        #expect(lines.contains("mailsec_probe_duration_seconds 0.25"))
        #expect(lines.contains("mailsec_certificate_not_after_seconds 1827702254"))
        #expect(text.text.hasSuffix("\n"))
        let lint = try? run("/usr/bin/promtool", ["check", "metrics"], input: text.text)
        #expect(lint?.status == 0, "\(lint?.stdout ?? "")\(lint?.stderr ?? "")")
    }

    @Test func moduleFilesParseAndEveryMistakeNamesItsLine() throws {
        let secret = SecureBytes(Array("pw".utf8))
        let good = try ExporterConfiguration.parse("""
        modules:
          default:
            timeout: 500ms
            mode: starttls
          login:
            auth_user: alice
            password_file: /etc/pw
            mechanism: plain
            check_relay: yes
            warn_days: 14
            timeout: 1m
            audit:
              postfix_dir: /etc/postfix
              hosts: [mail.example.com, smtp.example.com]
        """, path: "x.yml", readFile: { _ in secret })
        let login = try #require(good.module(named: "login"))
        #expect(login.options.mechanism == "PLAIN" && login.options.checkRelay && login.options.warnDays == 14)
        #expect(login.options.timeout == .seconds(60))
        #expect(login.audit?.hosts == ["mail.example.com", "smtp.example.com"])
        #expect(good.module(named: nil)?.options.timeout == .milliseconds(500))
        #expect(good.module(named: nil)?.mode == .starttls)

        let bad: [(String, String)] = [
            ("modules:\n  default:\n    check_relay: maybe\n", "x.yml:3: default.check_relay must be true or false"),
            ("modules:\n  default:\n    warn_days: 99999\n", "x.yml:3: default.warn_days must be between"),
            ("modules:\n  default:\n    timeout: 11m\n", "x.yml:3: default.timeout"),
            ("modules:\n  default:\n    mode: tls\n", "x.yml:3: default.mode"),
            ("modules:\n  default:\n    source: not-an-ip\n", "x.yml:3: default.source"),
            ("modules:\n  default:\n    audit:\n      postfix_dir: relative\n", "x.yml:4: default.audit.postfix_dir must be an absolute path"),
            ("modules:\n  default:\n    ehlo: \"bad name\"\n", "x.yml:3: default.ehlo"),
            ("modules:\n  default:\n    timeout: 1s\n    timeout: 2s\n", "x.yml:3: not valid YAML: Parser: expected all keys to be unique"),
            ("modules:\n  default: [1, 2\n", "x.yml:3: not valid YAML"),
            ("modules: []\n", "x.yml:1: modules must be a mapping"),
            ("modules: {}\n", "defines no module"),
            ("", "is empty"),
            ("modules: &a\n  default: *a\n", "x.yml"),
        ]
        for (text, expected) in bad {
            let message: String
            do {
                _ = try ExporterConfiguration.parse(text, path: "x.yml", readFile: { _ in secret })
                message = "parsed"
            } catch let error as MailSecError {
                message = error.message
            }
            #expect(message.contains(expected), "\(text): \(message)")
        }
    }
}
