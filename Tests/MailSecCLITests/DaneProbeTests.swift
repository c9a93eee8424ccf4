import Foundation
import Testing

/// `probe --dane` against a real signed zone (Knot) and the private Postfix
/// and Dovecot of the audit tests; every expected record is computed with the
/// openssl CLI, never with MailSec.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct DaneProbeTests {
    /// `3 1 1` data for a certificate, as RFC 7671 section 5.1 makes it: SHA-256 of the DER SubjectPublicKeyInfo.
    static func spkiSHA256(certificate path: String) throws -> String {
        try shell("openssl x509 -in \"$0\" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1", path)
    }

    static func spkiSHA256(key path: String) throws -> String {
        try shell("openssl pkey -in \"$0\" -pubout -outform DER | sha256sum | cut -d' ' -f1", path)
    }

    static func shell(_ script: String, _ argument: String) throws -> String {
        let result = try run("/bin/sh", ["-c", script, argument])
        let hash = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, hash.count == 64 else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl: \(result.stderr)"]) }
        return hash
    }

    /// probe --json --dane through the Knot: the exit code, statuses by id (first target), the documents.
    func probe(_ knot: KnotFixture, _ arguments: [String]) throws -> (status: Int32, checks: [String: String], json: [[String: Any]], result: RunResult) {
        let result = try mailsec(arguments: ["probe", "--json", "--dane", "--timeout", "20"] + knot.arguments + arguments)
        let array = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]] ?? []
        let checks = Dictionary(((array.first?["checks"] as? [[String: Any]]) ?? []).map { ($0["id"] as! String, $0["status"] as! String) }, uniquingKeysWith: { $1 })
        return (result.status, checks, array, result)
    }

    func message(_ json: [[String: Any]], _ id: String) -> String {
        ((json.first?["checks"] as? [[String: Any]]) ?? []).filter { $0["id"] as? String == id }.compactMap { $0["message"] as? String }.joined(separator: " | ")
    }

    func remedy(_ json: [[String: Any]], _ id: String) -> String {
        ((json.first?["checks"] as? [[String: Any]]) ?? []).filter { $0["id"] as? String == id }.compactMap { $0["remedy"] as? String }.joined(separator: " | ")
    }

    @Test func eachPublishedRecordIsMatchedAsASenderWould() throws {
        let server = try AuditFixture()
        let leaf = try Self.spkiSHA256(certificate: server.pki.path("leaf"))
        let inter = try Self.spkiSHA256(certificate: server.pki.path("inter"))
        let nextKey = server.directory.file("next.key")
        _ = try run("/usr/bin/openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", nextKey])
        let next = try Self.spkiSHA256(key: nextKey)
        let wrong = String(repeating: "ab", count: 32)
        let smtps = server.smtps, imaps = server.imaps
        // One host name per case, every one at 127.0.0.1; the certificate is for mail.example.com.
        let knot = try KnotFixture(records: """
        mail IN A 127.0.0.1
        _\(smtps)._tcp.mail IN TLSA 3 1 1 \(leaf)
        _\(imaps)._tcp.mail IN TLSA 3 1 1 \(leaf)
        next IN A 127.0.0.1
        _\(smtps)._tcp.next IN TLSA 3 1 1 \(leaf)
        _\(smtps)._tcp.next IN TLSA 3 1 1 \(next)
        wrong IN A 127.0.0.1
        _\(smtps)._tcp.wrong IN TLSA 3 1 1 \(wrong)
        ta IN A 127.0.0.1
        _\(smtps)._tcp.ta IN TLSA 2 1 1 \(inter)
        none IN A 127.0.0.1
        """, signed: "example.com", unsigned: "example.org")
        let trust = ["--ca-file", server.root, "--verify-host", "mail.example.com"]

        // A matching 3 1 1 alone: it works, and the next renewal with a new key would break it.
        let current = try probe(knot, trust + ["smtps://mail.example.com:\(smtps)"])
        #expect(current.status == 0, "\(current.result.stdout)\(current.result.stderr)")
        #expect(current.checks["connect"] == "pass" && current.checks["dane-tlsa"] == "pass" && current.checks["dane-match"] == "pass")
        #expect(message(current.json, "dane-tlsa").contains("3 1 1 \(leaf)") && message(current.json, "dane-tlsa").contains("secure"))
        #expect(current.checks["dane-rollover"] == "warn", "\(message(current.json, "dane-rollover"))")
        #expect(current.checks["dane-mx"] == nil, "only for targets found through MX records")

        // The same over IMAP: DANE is any TLS service's.
        let imap = try probe(knot, trust + ["imaps://mail.example.com:\(imaps)"])
        #expect(imap.checks["dane-match"] == "pass", "\(imap.result.stdout)")

        // The current key and the next one: a rollover is already published.
        let both = try probe(knot, trust + ["smtps://next.example.com:\(smtps)"])
        #expect(both.checks["dane-match"] == "pass" && both.checks["dane-rollover"] == "pass", "\(both.result.stdout)")
        #expect(message(both.json, "dane-rollover").contains(next))

        // Only a wrong record: mail would bounce; the fix is the record openssl computes.
        let broken = try probe(knot, trust + ["smtps://wrong.example.com:\(smtps)"])
        #expect(broken.status == 1)
        #expect(broken.checks["dane-tlsa"] == "pass" && broken.checks["dane-match"] == "fail", "\(broken.result.stdout)")
        #expect(remedy(broken.json, "dane-match").contains("_\(smtps)._tcp.wrong.example.com. IN TLSA 3 1 1 \(leaf)"), "\(remedy(broken.json, "dane-match"))")
        #expect(broken.checks["dane-rollover"] == "skip")

        // 2 1 1 on the intermediate the server sends: a match at depth 1, and any new key from that CA keeps matching.
        let anchor = try probe(knot, trust + ["smtps://ta.example.com:\(smtps)"])
        #expect(anchor.checks["dane-match"] == "pass", "\(anchor.result.stdout)")
        #expect(message(anchor.json, "dane-match").contains("depth 1"))
        #expect(anchor.checks["dane-rollover"] == "pass")

        // No records: DANE is not in use, which is not a failure.
        let unused = try probe(knot, trust + ["smtps://none.example.com:\(smtps)"])
        #expect(unused.status == 0, "\(unused.result.stdout)")
        #expect(unused.checks["dane-tlsa"] == "skip" && message(unused.json, "dane-tlsa").contains("not in use"))
        #expect(unused.checks["dane-match"] == "skip")

        // kdig, an independent resolver, sees the records the probe matched.
        let kdig = try run("/usr/bin/kdig", ["@127.0.0.1", "-p", String(knot.port), "+short", "TLSA", "_\(smtps)._tcp.mail.example.com"])
        #expect(kdig.stdout.lowercased().replacingOccurrences(of: " ", with: "").contains(leaf), "\(kdig.stdout)")
    }

    /// RFC 7672 section 3.1.1: a DANE-EE record stands for the key alone, so an
    /// expired certificate for another name still matches it (while the
    /// certificate checks still say what a PKIX client would see).
    @Test func daneEEIgnoresTheCertificatesNamesAndDates() throws {
        let server = try AuditFixture()
        try server.install("expired")
        server.reload()
        let expired = try Self.spkiSHA256(certificate: server.pki.path("expired"))
        let knot = try KnotFixture(records: "other IN A 127.0.0.1\n_\(server.smtps)._tcp.other IN TLSA 3 1 1 \(expired)", signed: "example.com", unsigned: "example.org")
        let result = try probe(knot, ["--ca-file", server.root, "smtps://other.example.com:\(server.smtps)"])
        #expect(result.checks["dane-match"] == "pass", "\(result.result.stdout)")
        #expect(result.checks["certificate-expiry"] == "fail" && result.checks["certificate-hostname"] == "fail")
    }

    @Test func anUnsignedZoneIsInsecureAndAZoneWithoutItsSignaturesIsBogus() throws {
        let server = try AuditFixture()
        let leaf = try Self.spkiSHA256(certificate: server.pki.path("leaf"))
        let knot = try KnotFixture(records: "mail IN A 127.0.0.1\n_\(server.smtps)._tcp.mail IN TLSA 3 1 1 \(leaf)", signed: "example.com", unsigned: "example.org")
        let trust = ["--ca-file", server.root, "--verify-host", "mail.example.com"]
        let target = "smtps://mail.example.org:\(server.smtps)"

        // No anchor covers example.org: the records exist but no sender may use them.
        let insecure = try probe(knot, trust + [target])
        #expect(insecure.status == 1)
        #expect(insecure.checks["dane-tlsa"] == "fail" && message(insecure.json, "dane-tlsa").contains("insecure"), "\(insecure.result.stdout)")

        // An anchor for example.org, which Knot serves unsigned: bogus, with libunbound's reason.
        let orgAnchor = knot.directory.file("example.org.ds")
        try String(contentsOfFile: knot.trustAnchor, encoding: .utf8).replacingOccurrences(of: "example.com.", with: "example.org.")
            .write(toFile: orgAnchor, atomically: true, encoding: .utf8)
        let result = try mailsec(arguments: ["probe", "--json", "--dane", "--timeout", "20", "--resolver", knot.resolver, "--trust-anchor", orgAnchor] + trust + [target])
        let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]] ?? []
        let checks = ((json.first?["checks"] as? [[String: Any]]) ?? [])
        let tlsa = checks.first { $0["id"] as? String == "dane-tlsa" }
        // The A record is bogus too, so the probe cannot even connect: both say why.
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect((tlsa?["status"] as? String) == "fail" && ((tlsa?["message"] as? String) ?? "").contains("DNSSEC"), "\(result.stdout)")

        // A trust anchor that is not one stops the command before any probe.
        let garbage = knot.directory.file("garbage.ds")
        try "not a record\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let refused = try mailsec("probe", "--dane", "--resolver", knot.resolver, "--trust-anchor", garbage, target)
        #expect(refused.status == 2 && refused.stderr.contains("garbage.ds"), "\(refused.stderr)")
    }

    @Test func mxDiscoveryProbesEachHostAndSaysWhetherTheMXAnswerIsSecure() throws {
        let server = try AuditFixture()
        let leaf = try Self.spkiSHA256(certificate: server.pki.path("leaf"))
        let port = server.submission
        let knot = try KnotFixture(records: """
        @ IN MX 10 mail
        @ IN MX 20 backup
        mail IN A 127.0.0.1
        backup IN A 127.0.0.1
        _\(port)._tcp.mail IN TLSA 3 1 1 \(leaf)
        """, signed: "example.com", unsigned: "example.org")
        let trust = ["--ca-file", server.root, "--verify-host", "mail.example.com"]

        let found = try probe(knot, trust + ["--mx", "example.com", "--port", String(port)])
        #expect(found.json.map { $0["target"] as? String } == ["smtp://mail.example.com:\(port)", "smtp://backup.example.com:\(port)"], "\(found.result.stdout)")
        #expect(found.checks["dane-mx"] == "pass" && message(found.json, "dane-mx").contains("MX 10 of example.com"))
        #expect(found.checks["tls-handshake"] == "pass" && found.checks["dane-match"] == "pass", "\(found.result.stdout)")
        let backup = Dictionary(((found.json.last?["checks"] as? [[String: Any]]) ?? []).map { ($0["id"] as! String, $0["status"] as! String) }, uniquingKeysWith: { $1 })
        #expect(backup["dane-tlsa"] == "skip", "the backup MX publishes no records")

        let unsigned = try probe(knot, trust + ["--mx", "example.org", "--port", String(port)])
        #expect(unsigned.checks["dane-mx"] == "warn", "\(unsigned.result.stdout)")
        #expect(message(unsigned.json, "dane-mx").contains("insecure"))

        let nowhere = try mailsec(arguments: ["probe", "--dane"] + knot.arguments + ["--mx", "nowhere.example.com"])
        #expect(nowhere.status == 2 && nowhere.stderr.contains("NXDOMAIN"), "\(nowhere.stderr)")
    }

    /// The exporter's `dane` module options: the DANE checks become series,
    /// and promtool accepts the exposition.
    @Test func anExporterModuleWithDaneExportsTheChecks() throws {
        let server = try AuditFixture()
        let leaf = try Self.spkiSHA256(certificate: server.pki.path("leaf"))
        let knot = try KnotFixture(records: "mail IN A 127.0.0.1\n_\(server.smtps)._tcp.mail IN TLSA 3 1 1 \(leaf)", signed: "example.com", unsigned: "example.org")
        let exporter = try ExporterProcess(config: """
        modules:
          default:
            ca_file: \(server.root)
            dane: true
            resolver: \(knot.resolver)
            trust_anchors:
              - \(knot.trustAnchor)
            timeout: 20s
        """)
        let (status, body) = try exporter.get("/probe?target=smtps://mail.example.com:\(server.smtps)")
        #expect(status == 200)
        #expect(body.contains("mailsec_probe_success{target=\"smtps://mail.example.com:\(server.smtps)\",module=\"default\"} 1")
                || body.contains("mailsec_probe_success 1"), "\(body)")
        for check in ["dane-tlsa", "dane-match"] {
            #expect(body.contains("check=\"\(check)\",status=\"pass\""), "\(check): \(body)")
        }
        #expect(body.contains("check=\"dane-rollover\",status=\"warn\""))
        let promtool = try run("/usr/bin/promtool", ["check", "metrics"], input: body)
        #expect(promtool.status == 0, "\(promtool.stdout)\(promtool.stderr)")

        // A module whose anchor is not one is refused at start, naming the line.
        let garbage = knot.directory.file("garbage.ds")
        try "not a record\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let refused = try mailsec("exporter", "--listen", "127.0.0.1:1", "--config", try { () throws -> String in
            let path = knot.directory.file("bad.yml")
            try "modules:\n  default:\n    dane: true\n    trust_anchors: [\(garbage)]\n".write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }())
        #expect(refused.status == 2 && refused.stderr.contains("bad.yml:3") && refused.stderr.contains("garbage.ds"), "\(refused.stderr)")
    }
}
