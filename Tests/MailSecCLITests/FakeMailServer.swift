import Foundation
import Testing

/// Misbehaving IMAP, POP3 and ManageSieve servers in a few lines of Python,
/// only for what Dovecot will not do. Serves connections until released.
final class FakeMailServer {
    enum Behaviour: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case imapNoStartTLS = "imap-no-starttls"
        case imapGarbage = "imap-garbage"
        case imapEndlessLine = "imap-endless-line"
        case imapSilent = "imap-silent"
        case imapBigLiteral = "imap-big-literal"
        case pop3NoSTLS = "pop3-no-stls"
        case pop3EndlessCapa = "pop3-endless-capa"
        case sieveNoStartTLS = "sieve-no-starttls"
        case sieveBigLiteral = "sieve-big-literal"
        case sieveUnterminatedString = "sieve-unterminated-string"
        var testDescription: String { rawValue }
        var scheme: String { String(rawValue.prefix { $0 != "-" }) }
    }

    let port: UInt16
    private let process: SpawnedProcess

    private static let script = FakeServerPython.prelude + #"""
    def serve(conn):
        try:
            if mode == "imap-no-starttls":
                conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n")
                for line in lines(conn):
                    tag = line.split(b" ")[0]
                    if b"CAPABILITY" in line.upper():
                        conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
                    else:
                        conn.sendall(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                        return
            elif mode == "imap-garbage":
                conn.sendall(b"\x00\x01\xff garbage, not IMAP\r\n")
                time.sleep(5)
            elif mode == "imap-endless-line":
                conn.sendall(b"* OK " + b"x" * 200000)
                time.sleep(5)
            elif mode == "imap-silent":
                time.sleep(30)
            elif mode == "imap-big-literal":
                conn.sendall(b"* OK fake ready\r\n")
                for line in lines(conn):
                    tag = line.split(b" ")[0]
                    conn.sendall(b"* CAPABILITY {10485760}\r\n")
                    try:
                        conn.sendall(b"A" * 10485760 + b"\r\n" + tag + b" OK done\r\n")
                    except OSError:
                        return
            elif mode == "pop3-no-stls":
                conn.sendall(b"+OK fake ready\r\n")
                for line in lines(conn):
                    if line.upper() == b"CAPA":
                        conn.sendall(b"+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n")
                    else:
                        conn.sendall(b"+OK bye\r\n")
                        return
            elif mode == "pop3-endless-capa":
                conn.sendall(b"+OK fake ready\r\n")
                for line in lines(conn):
                    conn.sendall(b"+OK\r\n")
                    try:
                        while True:
                            conn.sendall(b"X-ENDLESS\r\n" * 1000)
                    except OSError:
                        return
            elif mode == "sieve-no-starttls":
                conn.sendall(b'"IMPLEMENTATION" "fake"\r\n"SASL" "PLAIN LOGIN"\r\n"VERSION" "1.0"\r\nOK "ready"\r\n')
                for line in lines(conn):
                    conn.sendall(b'OK "bye"\r\n')
                    return
            elif mode == "sieve-big-literal":
                conn.sendall(b'"IMPLEMENTATION" {10485760}\r\n')
                try:
                    conn.sendall(b"A" * 10485760 + b'\r\nOK "ready"\r\n')
                except OSError:
                    return
            elif mode == "sieve-unterminated-string":
                conn.sendall(b'"IMPLEMENTATION" "fake\r\nOK "ready"\r\n')
                time.sleep(5)
        finally:
            conn.close()
    """# + FakeServerPython.serveForever

    init(_ behaviour: Behaviour) throws {
        port = try PostfixFixture.freePorts(1)[0]
        process = try SpawnedProcess("/usr/bin/python3", ["-c", Self.script, behaviour.rawValue, String(port)], capture: false)
        try PostfixFixture.waitForListener(port)
    }

    deinit {
        kill(process.pid, SIGTERM)
        process.wait()
    }
}

/// What Dovecot will not do, from fakes: each a failed check that names what was wrong, never a hang.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct MailProbeFakeServerTests {
    static let expected: [FakeMailServer.Behaviour: (failing: Set<String>, mentions: String)] = [
        .imapNoStartTLS: (["auth-before-tls", "tls-handshake"], "STARTTLS is not offered"),
        .imapGarbage: (["banner"], "not an IMAP"),
        .imapEndlessLine: (["banner"], "longer than 16384 bytes"),
        .imapSilent: (["banner"], "no greeting within 2 s"),
        .imapBigLiteral: (["capabilities"], "literal of 10485760 bytes"),
        .pop3NoSTLS: (["auth-before-tls", "tls-handshake"], "STLS is not offered"),
        .pop3EndlessCapa: (["capabilities"], "more than 1000 lines"),
        .sieveNoStartTLS: (["auth-before-tls", "tls-handshake"], "STARTTLS is not offered"),
        .sieveBigLiteral: (["banner"], "literal of 10485760 bytes"),
        .sieveUnterminatedString: (["banner"], "unterminated quoted string"),
    ]

    @Test(arguments: FakeMailServer.Behaviour.allCases)
    func eachMisbehaviourIsAFailedCheckThatSaysWhat(_ behaviour: FakeMailServer.Behaviour) throws {
        let server = try FakeMailServer(behaviour)
        let result = try mailsec(arguments: ["probe", "--json", "--timeout", "2", "\(behaviour.scheme)://127.0.0.1:\(server.port)"], timeout: 60)
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        let checks = (((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]])?.first?["checks"] as? [[String: Any]]) ?? []
        let failed = Set(checks.filter { $0["status"] as? String == "fail" }.compactMap { $0["id"] as? String })
        let (failing, mentions) = try #require(Self.expected[behaviour])
        #expect(failed == failing, "\(checks)")
        let messages = checks.filter { $0["status"] as? String == "fail" }.compactMap { $0["message"] as? String }.joined(separator: " | ")
        #expect(messages.contains(mentions), "\(messages)")
    }
}
