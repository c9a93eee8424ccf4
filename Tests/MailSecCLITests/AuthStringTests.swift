import Foundation
import Testing

/// `mailsec auth plain|login|cram-md5|xoauth2|decode`.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct AuthStringTests {
    @Test func plainMakesTheStringPerlMakes() throws {
        let result = try mailsec("auth", "plain", "test", "test1234")
        #expect(result.status == 0)
        #expect(result.stdout == "AHRlc3QAdGVzdDEyMzQ=\n")
        #expect(result.stderr.contains("ps"), "a password argument draws a warning")
        let perl = try run("/usr/bin/perl", ["-MMIME::Base64", "-e", "print encode_base64(\"\\000test\\000test1234\", \"\")"])
        #expect(perl.stdout == "AHRlc3QAdGVzdDEyMzQ=")
    }

    @Test func plainReadsThePasswordFromStdinOrAFileWithoutWarning() throws {
        let piped = try mailsec("auth", "plain", "test", input: "test1234\n")
        #expect(piped.stdout == "AHRlc3QAdGVzdDEyMzQ=\n")
        #expect(piped.stderr.isEmpty)
        let temp = try TemporaryDirectory()
        try Data("test1234\r\nignored\n".utf8).write(to: URL(fileURLWithPath: temp.file("pw")))
        let fromFile = try mailsec("auth", "plain", "--password-file", temp.file("pw"), "test")
        #expect(fromFile.stdout == "AHRlc3QAdGVzdDEyMzQ=\n")
    }

    @Test func plainKeepsUTF8AndTheAuthorizationIdentity() throws {
        let result = try mailsec("auth", "plain", "--authzid", "admin", "jürgen", input: "grüße\n")
        let expected = Data("admin\u{0}jürgen\u{0}grüße".utf8).base64EncodedString()
        #expect(result.stdout == expected + "\n")
        let smtp = try mailsec("auth", "plain", "--smtp", "test", input: "test1234\n")
        #expect(smtp.stdout == "AUTH PLAIN AHRlc3QAdGVzdDEyMzQ=\n")
    }

    @Test func rejectsANulInsideAFieldAndOverlongLines() throws {
        let nul = try mailsec("auth", "plain", "te\u{1}st", input: "pass\n")
        #expect(nul.status == 0, "0x01 is fine in PLAIN")
        let long = try mailsec("auth", "plain", "test", input: String(repeating: "x", count: 9_300) + "\n")
        #expect(long.status == 2)
        #expect(long.stderr.contains("12288"))
        let fits = try mailsec("auth", "plain", "test", input: String(repeating: "x", count: 9_000) + "\n")
        #expect(fits.status == 0)
    }

    @Test func loginPrintsTwoLinesOrTheExchange() throws {
        let result = try mailsec("auth", "login", "test", input: "test1234\n")
        #expect(result.stdout == "dGVzdA==\ndGVzdDEyMzQ=\n")
        let smtp = try mailsec("auth", "login", "--smtp", "test", input: "test1234\n")
        #expect(smtp.stdout.contains("334 VXNlcm5hbWU6") && smtp.stdout.contains("334 UGFzc3dvcmQ6"))
        #expect(smtp.stdout.contains("C: dGVzdA==\n") && smtp.stdout.contains("C: dGVzdDEyMzQ=\n"))
    }

    @Test func cramMD5ReproducesRFC2195() throws {
        let result = try mailsec("auth", "cram-md5", "--challenge", "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", "tim",
                                 input: "tanstaaftanstaaf\n")
        #expect(result.stdout == "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\n")
        let bad = try mailsec("auth", "cram-md5", "--challenge", "not base64!", "tim", input: "x\n")
        #expect(bad.status == 2 && bad.stderr.contains("challenge"))
    }

    @Test func xoauth2MatchesTheDocumentedFormat() throws {
        let token = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
        let result = try mailsec("auth", "xoauth2", "someuser@example.com", input: token + "\n")
        // Google's example of the XOAUTH2 initial client response.
        #expect(result.stdout == "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==\n")
    }

    @Test func decodeShowsFieldsAndHidesPasswords() throws {
        let result = try mailsec("auth", "decode", "AHRlc3QAdGVzdDEyMzQ=")
        #expect(result.status == 0)
        #expect(result.stdout.contains("PLAIN") && result.stdout.contains("test") && result.stdout.contains("<8 bytes>"))
        #expect(!result.stdout.contains("test1234"))
        let shown = try mailsec("auth", "decode", "--show-password", "AHRlc3QAdGVzdDEyMzQ=")
        #expect(shown.stdout.contains("test1234"))
        let xoauth = try mailsec("auth", "decode", "--json", "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==")
        let object = try parseJSON(xoauth.stdout)
        #expect(object["kind"] as? String == "XOAUTH2")
        #expect(object["user"] as? String == "someuser@example.com")
        #expect((object["auth (bearer token)"] as? String)?.hasPrefix("<") == true)
    }

    @Test func decodeNamesThePositionOfBadBase64() throws {
        let result = try mailsec("auth", "decode", "AHRlc3Q*dGVzdDEyMzQ=")
        #expect(result.status == 2)
        #expect(result.stderr.contains("position 8") && result.stderr.contains("'*'"))
    }

    @Test func decodeReadsTranscriptsAndLogs() throws {
        let temp = try TemporaryDirectory()
        let transcript = """
        === Trying 127.0.0.1:587...
         -> EHLO client.example.com
        <-  250-mail.example.com
        <-  250 AUTH PLAIN LOGIN
         -> AUTH LOGIN
        <-  334 VXNlcm5hbWU6
         -> YWxpY2U=
        <-  334 UGFzc3dvcmQ6
         -> c2VjcmV0MQ==
        <-  235 2.7.0 Authentication successful
        C: AUTH PLAIN AGJvYgBib2ItcGFzcw==
        S: 535 5.7.8 Error: authentication failed
        Nov 21 10:00:00 mx dovecot: auth: Debug: client in: AUTH\t1\tPLAIN\tservice=smtp\tnologin\tresp=AGNhcm9sAGNhcm9sLXBhc3M=
        Nov 21 10:00:01 mx dovecot: auth: Debug: client in: AUTH\t2\tPLAIN\tservice=smtp\tresp=<hidden>

        """
        try Data(transcript.utf8).write(to: URL(fileURLWithPath: temp.file("log")))
        let result = try mailsec("auth", "decode", "--json", "--log", temp.file("log"))
        #expect(result.status == 0, "\(result.stderr)")
        let objects = try result.stdout.split(separator: "\n").map { try parseJSON(String($0)) }
        #expect(objects.map { $0["kind"] as? String } == ["LOGIN user name", "LOGIN password", "PLAIN", "PLAIN"])
        #expect(objects[0]["user"] as? String == "alice")
        #expect(objects[0]["line"] as? String == "7")
        #expect(objects[1]["password"] as? String == "<7 bytes>")
        #expect(objects[2]["user"] as? String == "bob")
        #expect(objects[3]["user"] as? String == "carol")
        #expect(!result.stdout.contains("secret1") && !result.stdout.contains("bob-pass"))
    }
}
