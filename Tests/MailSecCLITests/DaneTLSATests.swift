import Foundation
import Testing

/// `mailsec dane tlsa`, each record cross-checked with the openssl pipeline
/// admins use (`openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum`).
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct DaneTLSATests {
    let fixtures: VerifyFixtures

    init() throws {
        fixtures = try VerifyFixtures.shared
    }

    func digest(_ pipeline: String) throws -> String {
        let result = try shell(pipeline)
        #expect(result.status == 0, "\(pipeline): \(result.stderr)")
        return String(result.stdout.prefix { $0 != " " })
    }

    @Test func currentRecordsMatchOpenssl() throws {
        let cert = fixtures.path("ec.crt"), key = fixtures.path("ec.key")
        let spki = try digest("openssl x509 -in '\(cert)' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum")
        let result = try mailsec("dane", "tlsa", "--cert", cert, "--key", key, "--host", "Mail.Example.com", "--submission")
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines == ["; current, from \(cert)",
                          "_25._tcp.mail.example.com. IN TLSA 3 1 1 \(spki)",
                          "_465._tcp.mail.example.com. IN TLSA 3 1 1 \(spki)",
                          "_587._tcp.mail.example.com. IN TLSA 3 1 1 \(spki)"], "\(lines)")

        let whole = try digest("openssl x509 -in '\(cert)' -outform DER | sha256sum")
        #expect(try mailsec("dane", "tlsa", "--cert", cert, "--selector", "0", "--host", "mail.example.com").stdout.contains("IN TLSA 3 0 1 \(whole)"))
        let sha512 = try digest("openssl x509 -in '\(cert)' -noout -pubkey | openssl pkey -pubin -outform DER | sha512sum")
        #expect(try mailsec("dane", "tlsa", "--key", key, "--mtype", "2", "--port", "2525", "--host", "mail.example.com").stdout
            .contains("_2525._tcp.mail.example.com. IN TLSA 3 1 2 \(sha512)"))
    }

    @Test func aNextKeyIsPublishedAfterTheCurrentOne() throws {
        let directory = try TemporaryDirectory()
        let next = directory.file("next.key")
        #expect(try shell("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '\(next)'").status == 0)
        let current = try digest("openssl pkey -in '\(fixtures.path("ec.key"))' -pubout -outform DER | sha256sum")
        let upcoming = try digest("openssl pkey -in '\(next)' -pubout -outform DER | sha256sum")
        let result = try mailsec("dane", "tlsa", "--key", fixtures.path("ec.key"), "--next-key", next, "--host", "mail.example.com", "--json")
        #expect(result.status == 0, "\(result.stderr)")
        let records = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(records.map { $0["role"] as? String } == ["current", "next"])
        #expect(records.map { $0["data"] as? String } == [current, upcoming])
        #expect(records.allSatisfy { $0["name"] as? String == "_25._tcp.mail.example.com." && $0["usage"] as? Int == 3 })

        let same = try mailsec("dane", "tlsa", "--key", fixtures.path("ec.key"), "--next-key", fixtures.path("ec.key"), "--host", "mail.example.com")
        #expect(same.status == 2 && same.stderr.contains("already in use"), "\(same.stderr)")
        let selectorZero = try mailsec("dane", "tlsa", "--cert", fixtures.path("ec.crt"), "--next-key", next, "--selector", "0", "--host", "mail.example.com")
        #expect(selectorZero.status == 2 && selectorZero.stderr.contains("selector 1"), "\(selectorZero.stderr)")
    }

    @Test func aTrustAnchorRecordPinsTheIntermediate() throws {
        let directory = try TemporaryDirectory()
        let chain = directory.file("fullchain.pem")
        try (String(contentsOfFile: fixtures.path("ec.crt"), encoding: .utf8) + String(contentsOfFile: fixtures.path("inter.crt"), encoding: .utf8))
            .write(toFile: chain, atomically: true, encoding: .utf8)
        let intermediate = try digest("openssl x509 -in '\(fixtures.path("inter.crt"))' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum")
        let result = try mailsec("dane", "tlsa", "--cert", chain, "--usage", "2", "--host", "mail.example.com")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("_25._tcp.mail.example.com. IN TLSA 2 1 1 \(intermediate)"), "\(result.stdout)")
        let leafOnly = try mailsec("dane", "tlsa", "--cert", fixtures.path("ec.crt"), "--usage", "2", "--host", "mail.example.com")
        #expect(leafOnly.status == 2 && leafOnly.stderr.contains("only the leaf"), "\(leafOnly.stderr)")
    }

    @Test func mistakesAreRefused() throws {
        let wrongKey = try mailsec("dane", "tlsa", "--cert", fixtures.path("ec.crt"), "--key", fixtures.path("rsa.key"), "--host", "mail.example.com")
        #expect(wrongKey.status == 2 && wrongKey.stderr.contains("is not the key of"), "\(wrongKey.stderr)")
        #expect(try mailsec("dane", "tlsa", "--cert", fixtures.path("ec.crt"), "--usage", "1", "--host", "mail.example.com").status == 64)
        #expect(try mailsec("dane", "tlsa", "--host", "mail.example.com").status == 64)
        #expect(try mailsec("dane", "tlsa", "--cert", fixtures.path("ec.crt"), "--host", "bad host").status == 64)
        let keyOnlyWhole = try mailsec("dane", "tlsa", "--key", fixtures.path("ec.key"), "--selector", "0", "--host", "mail.example.com")
        #expect(keyOnlyWhole.status == 2 && keyOnlyWhole.stderr.contains("selector 0"), "\(keyOnlyWhole.stderr)")
    }
}
