import Foundation
import Testing
@testable import MailSec

@Suite struct AuthProtocolLineTests {
    @Test func escapesAndUnescapesEverySpecialCharacter() {
        let value = "a\tb\rc\nd\u{1}e"
        let escaped = AuthProtocolLine.escape(value)
        #expect(escaped == "a\u{1}tb\u{1}rc\u{1}nd\u{1}1e")
        #expect(!escaped.contains("\t") && !escaped.contains("\n"))
        #expect(AuthProtocolLine.unescape(Substring(escaped)) == value)
    }

    @Test func splitsFieldsAndParameters() {
        let fields = AuthProtocolLine.fields(Array("FAIL\t3\tcode=temp_fail\treason=db\u{1}tdown\ttemp".utf8))
        #expect(fields == ["FAIL", "3", "code=temp_fail", "reason=db\tdown", "temp"])
        let parameters = AuthProtocolLine.parameters(fields.dropFirst(2))
        #expect(parameters == ["code": "temp_fail", "reason": "db\tdown", "temp": ""])
    }

    @Test func hidesResponsesInErrorMessages() {
        #expect(AuthProtocolLine.sanitized(Array("AUTH\t1\tPLAIN\tresp=AHRlc3QAdGVzdDEyMzQ=".utf8)) == "AUTH<TAB>1<TAB>PLAIN<TAB>resp=<hidden>")
    }
}

@Suite struct DovecotClientTests {
    private func password(_ text: String) -> SecureBytes { SecureBytes(Array(text.utf8)) }

    @Test func handlesDovecot24HandshakeOrder() throws {
        // 2.4 sends only VERSION, then waits for the client's VERSION before the rest.
        let server = try FakeAuthServer { connection in
            connection.send("VERSION\t1\t3\n")
            guard connection.read(until: "VERSION") != nil else { return }
            connection.send("MECH\tPLAIN\tplaintext\nMECH\tSCRAM-SHA-256\tmutual-auth\nSPID\t1\nCUID\t2\nCOOKIE\tabc\nDONE\n")
            guard let auth = connection.read(until: "AUTH") else { return }
            let id = auth.split(separator: "\t")[1]
            connection.send("OK\t\(id)\tuser=alice\n")
        }
        let client = try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(5))
        #expect(client.handshake.minorVersion == 3)
        #expect(client.handshake.mechanisms.map(\.name) == ["PLAIN", "SCRAM-SHA-256"])
        let verdict = try client.authenticate(user: "alice", password: password("secret"), request: AuthRequest())
        #expect(verdict.outcome == .success && verdict.user == "alice")
    }

    @Test func temporaryFailureIsUndecided() throws {
        let server = try FakeAuthServer { connection in
            connection.send(FakeAuthConnection.handshake23)
            guard let auth = connection.read(until: "AUTH") else { return }
            connection.send("FAIL\t\(auth.split(separator: "\t")[1])\tcode=temp_fail\treason=LDAP server down\n")
        }
        let verdict = try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(5)).authenticate(user: "a", password: password("b"), request: AuthRequest())
        #expect(verdict.outcome == .temporary && verdict.code == "temp_fail" && verdict.reason == "LDAP server down")
    }

    @Test func droppedConnectionIsUndecided() throws {
        // Dovecot drops the connection on a duplicate id, a missing service= or an unknown mechanism.
        let server = try FakeAuthServer { connection in
            connection.send(FakeAuthConnection.handshake23)
            _ = connection.read(until: "AUTH")
        }
        let client = try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(5))
        var results: [BatchResult] = []
        // The request in flight is reported; reconnecting then fails (the fake accepts once),
        // so the second line is counted as unchecked, with why, instead of vanishing.
        let outcome = try client.check([BatchCredential(line: 1, user: "a", password: password("b")),
                                        BatchCredential(line: 2, user: "c", password: password("d"))],
                                       request: AuthRequest(), concurrency: 1) { results.append($0) }
        #expect(results.count == 1)
        #expect(outcome.unchecked == 1)
        #expect(outcome.stopReason != nil)
        #expect(results.first?.verdict.outcome == .temporary)
        #expect(results.first?.verdict.reason?.contains("closed the connection") == true)
    }

    @Test func refusesOversizedLines() throws {
        let server = try FakeAuthServer { connection in
            connection.send("VERSION\t1\t2\nMECH\t" + String(repeating: "X", count: 20_000) + "\n")
            Thread.sleep(forTimeInterval: 1)
        }
        #expect { try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(5)) } throws: {
            ($0 as? MailSecError)?.message.contains("longer than 16384 bytes") == true
        }
    }

    @Test func timesOutOnAServerThatSaysNothing() throws {
        // The server stays silent for 3 s, then closes. Had the 1 s deadline not
        // held, the error would be the close ("closed the connection"), not this.
        let server = try FakeAuthServer { _ in Thread.sleep(forTimeInterval: 3) }
        #expect { try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(1)) } throws: {
            ($0 as? MailSecError)?.message.contains("no complete handshake within 1 s") == true
        }
    }

    @Test func timesOutOnARequestThatIsNeverAnswered() throws {
        let server = try FakeAuthServer { connection in
            connection.send(FakeAuthConnection.handshake23)
            _ = connection.read(until: "AUTH")
            Thread.sleep(forTimeInterval: 3)
        }
        let verdict = try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(1)).authenticate(user: "a", password: password("b"), request: AuthRequest())
        #expect(verdict.outcome == .temporary && verdict.code == "timeout")
    }

    @Test func recognisesSomethingElseOnTheSocket() throws {
        let server = try FakeAuthServer { connection in
            connection.send("220 mail.example.com ESMTP Postfix\r\n")
            Thread.sleep(forTimeInterval: 1)
        }
        #expect { try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(5)) } throws: {
            ($0 as? MailSecError)?.message.contains("is not a Dovecot auth socket: it began with \"220 mail.example.com ESMTP Postfix\"") == true
        }
    }

    @Test func rejectsMalformedReplies() throws {
        let server = try FakeAuthServer { connection in
            connection.send(FakeAuthConnection.handshake23)
            _ = connection.read(until: "AUTH")
            connection.send("OK\tnot-a-number\tuser=x\n")
            Thread.sleep(forTimeInterval: 1)
        }
        let client = try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(5))
        #expect { try client.authenticate(user: "a", password: password("b"), request: AuthRequest()) } throws: {
            ($0 as? MailSecError)?.message.contains("malformed reply") == true
        }
    }

    @Test func explainsASlowAnswer() throws {
        let server = try FakeAuthServer { connection in
            connection.send(FakeAuthConnection.handshake23)
            guard let auth = connection.read(until: "AUTH") else { return }
            Thread.sleep(forTimeInterval: 2.2)
            connection.send("FAIL\t\(auth.split(separator: "\t")[1])\n")
        }
        let verdict = try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(5)).authenticate(user: "a", password: password("b"), request: AuthRequest())
        #expect(verdict.outcome == .rejected)
        #expect(verdict.slowness?.contains("auth_failure_delay") == true)
    }
}
