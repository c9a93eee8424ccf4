import Testing
@testable import MailSec

@Suite struct HostnameTests {
    @Test(arguments: [
        ("mail.example.com", "mail.example.com"),
        ("MAIL.Example.COM.", "mail.example.com"),
        ("xn--mller-kva.example", "xn--mller-kva.example"),
        ("localhost", "localhost"),
        ("a-b.c1.example", "a-b.c1.example"),
    ])
    func normalizesValidNames(_ input: String, _ expected: String) throws {
        #expect(try Hostname.normalize(input) == expected)
    }

    @Test(arguments: ["", ".", "a..b", "-a.example", "a-.example", "a_b.example", "müller.example", "*.example.com",
                      "192.0.2.1", "2001:db8::1", "a/b", String(repeating: "a", count: 64) + ".example"])
    func rejectsInvalidNames(_ input: String) {
        #expect(throws: MailSecError.self) { try Hostname.normalize(input) }
    }

    @Test func acceptsWildcardsOnlyAsTheWholeLeftmostLabel() throws {
        #expect(try Hostname.normalize("*.example.com", allowWildcard: true) == "*.example.com")
        #expect(throws: MailSecError.self) { try Hostname.normalize("*.com", allowWildcard: true) }
        #expect(throws: MailSecError.self) { try Hostname.normalize("mail.*.example.com", allowWildcard: true) }
        #expect(throws: MailSecError.self) { try Hostname.normalize("m*.example.com", allowWildcard: true) }
    }

    @Test func rejectsNamesLongerThan253Octets() {
        let long = Array(repeating: String(repeating: "a", count: 60), count: 5).joined(separator: ".")
        #expect(long.count > 253)
        #expect(throws: MailSecError.self) { try Hostname.normalize(long) }
    }
}

@Suite struct SubjectAlternativeNameTests {
    @Test(arguments: [
        ("smtp.example.com", "DNS:smtp.example.com"),
        ("DNS:*.example.com", "DNS:*.example.com"),
        ("dns:Mail.Example.com", "DNS:mail.example.com"),
        ("IP:192.0.2.1", "IP:192.0.2.1"),
        ("192.0.2.1", "IP:192.0.2.1"),
        ("2001:DB8:0::1", "IP:2001:db8::1"),
        ("IP:2001:db8::25", "IP:2001:db8::25"),
    ])
    func parsesNamesAndAddresses(_ input: String, _ expected: String) throws {
        #expect(try SubjectAlternativeName(parsing: input).description == expected)
    }

    @Test(arguments: ["IP:999.1.1.1", "URI:http://x", "bad name", "IP:"])
    func rejectsWhatItCannotUse(_ input: String) {
        #expect(throws: MailSecError.self) { try SubjectAlternativeName(parsing: input) }
    }
}

@Suite struct DistinguishedNameTests {
    @Test func parsesTheOpenSSLSlashForm() throws {
        let name = try DistinguishedName(parsing: "/C=DE/ST=Berlin/O=Example\\/Sub/OU=Mail/CN=mail.example.com")
        #expect(name.attributes.map(\.key) == ["C", "ST", "O", "OU", "CN"])
        #expect(name["O"] == "Example/Sub")
        #expect(name.description == "C=DE, ST=Berlin, O=Example/Sub, OU=Mail, CN=mail.example.com")
        #expect(try DistinguishedName(parsing: name.slashForm) == name)
    }

    @Test func acceptsLongAttributeNames() throws {
        let name = try DistinguishedName(parsing: "/organizationName=Example/commonName=x")
        #expect(name.attributes.map(\.key) == ["O", "CN"])
    }

    @Test(arguments: ["C=DE", "/C=Germany", "/O=", "/Q=1", "/O", "/CN=" + String(repeating: "x", count: 65)])
    func rejectsMalformedSubjects(_ input: String) {
        #expect(throws: MailSecError.self) { try DistinguishedName(parsing: input) }
    }

    @Test func sortsIntoTheConventionalOrder() {
        let name = DistinguishedName([.init("CN", "x"), .init("O", "Example"), .init("C", "DE")])
        #expect(name.sortedConventionally().description == "C=DE, O=Example, CN=x")
    }
}

@Suite struct Base64Tests {
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("\0test\0test1234", "AHRlc3QAdGVzdDEyMzQ=")])
    func roundTripsRFC4648Vectors(_ plain: String, _ encoded: String) throws {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(try Base64.decode(Array(encoded.utf8)) == Array(plain.utf8))
    }

    @Test func pointsAtTheOffendingCharacter() {
        do {
            _ = try Base64.decode(Array("AHRl!3QA".utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 4)
            #expect(error.description.contains("position 5"))
        }
    }

    @Test func rejectsTruncatedAndOverPaddedInput() {
        #expect(throws: Base64.DecodingError.self) { try Base64.decode(Array("Zm9".utf8)) }
        #expect(throws: Base64.DecodingError.self) { try Base64.decode(Array("Zg===".utf8)) }
        #expect(throws: Base64.DecodingError.self) { try Base64.decode(Array("Zg==Zg==".utf8)) }
        #expect(throws: Base64.DecodingError.self) { try Base64.decode(Array("=Zg=".utf8)) }
    }

    @Test func skipsLineBreaksWhenAsked() throws {
        #expect(try Base64.decode(Array("Zm9v\nYg==\r\n".utf8), ignoringWhitespace: true) == Array("foob".utf8))
        #expect(throws: Base64.DecodingError.self) { try Base64.decode(Array("Zm9v\nYg==".utf8)) }
    }
}
