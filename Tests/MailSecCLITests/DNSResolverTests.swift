import Foundation
import MailSec
import Synchronization
import Testing

/// libunbound's validation against a real signed zone (Knot), cross-checked with kdig.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct DNSResolverTests {
    static let hash = "a5a66262bec3ca82479df2609470f7ef77bfcd5b71ffde5790c22d0d84c7394e"
    static let records = """
    @ IN MX 10 mail
    mail IN A 127.0.0.1
    _25._tcp.mail IN TLSA 3 1 1 \(hash)
    """

    func resolver(_ knot: KnotFixture, anchors: [String]? = nil) throws -> DNSResolver {
        var options = DNSResolverOptions()
        options.forwarder = knot.resolver
        options.trustAnchorFiles = anchors ?? [knot.trustAnchor]
        return try DNSResolver(options)
    }

    @Test func aSignedTLSARecordIsSecureAndMatchesKdig() throws {
        let knot = try KnotFixture(records: Self.records)
        let answer = try resolver(knot).query("_25._tcp.mail.example.net", type: DNSType.tlsa, deadline: .after(.seconds(10)))
        #expect(answer.security == .secure, "\(answer.security)")
        #expect(answer.rcode == 0 && answer.ttl == 300)
        #expect(answer.records.count == 1)
        let rdata = try #require(answer.records.first)
        #expect(Array(rdata.prefix(3)) == [3, 1, 1])
        #expect(TLSARecord(rdata: rdata)?.description == "3 1 1 \(Self.hash)")
        let kdig = try run("/usr/bin/kdig", ["@127.0.0.1", "-p", String(knot.port), "+short", "TLSA", "_25._tcp.mail.example.net"])
        #expect(kdig.stdout.lowercased().contains(rdata.dropFirst(3).map { String(format: "%02x", $0) }.joined()), "\(kdig.stdout)")

        let missing = try resolver(knot).query("_465._tcp.mail.example.net", type: DNSType.tlsa, deadline: .after(.seconds(10)))
        #expect(missing.security == .secure && missing.isNameError && missing.records.isEmpty, "a proven absence: \(missing)")
    }

    /// One resolver shared by threads (as probe --mx and the exporter share one): every
    /// caller gets its own answers, whichever thread libunbound handed them to.
    @Test func threadsSharingOneResolverEachGetTheirOwnAnswers() throws {
        let knot = try KnotFixture(records: Self.records + "\nmx2 IN A 127.0.0.2\nmx3 IN A 127.0.0.3")
        let shared = try resolver(knot)
        let hosts = ["mail", "mx2", "mx3"]
        let results = Mutex<[String: [String]]>([:])
        DispatchQueue.concurrentPerform(iterations: 24) { index in
            let host = hosts[index % 3] + ".example.net"
            let answers = (try? shared.queries([.init(host, type: DNSType.a), .init("_25._tcp.mail.example.net", type: DNSType.tlsa)],
                                               deadline: .after(.seconds(10)))) ?? []
            let seen = answers.map { (try? $0.get()).map { "\($0.name) \($0.security) \($0.records.count)" } ?? "failed" }
            results.withLock { $0["\(index) \(host)"] = seen }
        }
        let all = results.withLock { $0 }
        #expect(all.count == 24)
        for (key, seen) in all {
            let host = String(key.split(separator: " ")[1])
            #expect(seen == ["\(host) secure 1", "_25._tcp.mail.example.net secure 1"], "\(key): \(seen)")
        }
    }

    @Test func anUnsignedZoneIsInsecureAndAWrongAnchorIsBogusWithItsReason() throws {
        let knot = try KnotFixture(records: Self.records)
        // No anchor covers example.org: provably nothing to validate.
        let unsigned = try resolver(knot).query("_25._tcp.mail.example.org", type: DNSType.tlsa, deadline: .after(.seconds(10)))
        #expect(unsigned.security == .insecure, "\(unsigned.security)")
        #expect(unsigned.records.count == 1)

        // An anchor for example.org, which serves no signatures: bogus.
        let orgAnchor = knot.directory.file("example.org.ds")
        let ds = try String(contentsOfFile: knot.trustAnchor, encoding: .utf8).replacingOccurrences(of: "example.net.", with: "example.org.")
        try ds.write(toFile: orgAnchor, atomically: true, encoding: .utf8)
        let stripped = try resolver(knot, anchors: [orgAnchor]).query("_25._tcp.mail.example.org", type: DNSType.tlsa, deadline: .after(.seconds(10)))
        guard case .bogus(let reason) = stripped.security else {
            Issue.record("expected bogus, got \(stripped.security)")
            return
        }
        #expect(reason.contains("example.org") || reason.contains("DNSKEY") || reason.contains("signature"), "libunbound says why: \(reason)")
    }

    @Test func aResolverThatNeverAnswersHitsTheDeadline() throws {
        // A UDP socket that reads and never answers.
        let silent = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) } }
        var options = DNSResolverOptions()
        options.forwarder = "127.0.0.1@\(UInt16(bigEndian: address.sin_port))"
        options.trustAnchorFiles = []
        let resolver = try DNSResolver(options)
        // Our deadline ends it (a timeout), not libunbound's own retries (which end in a server failure).
        do {
            let answer = try resolver.query("mail.example.net", type: DNSType.a, deadline: .after(.milliseconds(700)))
            Issue.record("a silent resolver answered: \(answer)")
        } catch let error as MailSecError {
            #expect(error.code == .timeout, "\(error.code): \(error.message)")
        }
    }

    @Test func unusableTLSARecordsAreSkipped() {
        let digest = [UInt8](repeating: 0xab, count: 32)
        #expect(TLSARecord(rdata: [3, 1, 1] + digest)?.matchingType == .sha256)
        #expect(TLSARecord(rdata: [4, 1, 1] + digest) == nil, "unknown usage")
        #expect(TLSARecord(rdata: [3, 2, 1] + digest) == nil, "unknown selector")
        #expect(TLSARecord(rdata: [3, 1, 3] + digest) == nil, "unknown matching type")
        #expect(TLSARecord(rdata: [3, 1, 1] + digest.dropLast()) == nil, "a SHA-256 digest of 31 bytes")
        #expect(TLSARecord(rdata: [3, 1, 2] + digest) == nil, "a SHA-512 digest of 32 bytes")
        #expect(TLSARecord(rdata: [3, 1]) == nil && TLSARecord(rdata: []) == nil)
        #expect(TLSARecord(rdata: [3, 0, 0, 0x30])?.data == [0x30])
    }

    @Test func mxRecordsAreReadStrictly() {
        func name(_ labels: [String]) -> [UInt8] { labels.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0] }
        #expect(MXRecord(rdata: [0, 10] + name(["Mail", "Example", "NET"])) == MXRecord(preference: 10, exchange: "mail.example.net"))
        #expect(MXRecord(rdata: [0, 0, 0])?.isNullMX == true, "RFC 7505's 0 .")
        #expect(MXRecord(rdata: [0, 10, 0xc0, 0x0c]) == nil, "a compression pointer")
        #expect(MXRecord(rdata: [0, 10, 4] + Array("mail".utf8)) == nil, "a name without its end")
        #expect(MXRecord(rdata: [0, 10] + name(["mail"]) + [1]) == nil, "bytes after the name")
        #expect(MXRecord(rdata: [0, 10] + name(["ma il"])) == nil, "a label no host name has")
        #expect(MXRecord(rdata: [0, 10] + name(Array(repeating: String(repeating: "a", count: 63), count: 4))) == nil, "a name over 255 bytes")
    }
}
