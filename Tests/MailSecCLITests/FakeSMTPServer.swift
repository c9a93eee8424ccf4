import Foundation
import Testing

/// A misbehaving SMTP server in a few lines of Python, only for what Postfix
/// will not do: STARTTLS inside TLS, no banner, an endless line, garbage
/// instead of TLS, a close mid-handshake. Serves connections until released.
/// What every fake server's Python shares: the listener on 127.0.0.1 at
/// argv[2] (argv[1] is the behaviour), a line reader, and a thread per
/// connection running the `serve(conn)` the script defines between them.
enum FakeServerPython {
    static let prelude = #"""
    import socket, ssl, struct, sys, threading, time
    mode, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)

    def lines(conn):
        data = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
            while b"\n" in data:
                line, data = data.split(b"\n", 1)
                yield line.strip()

    """# + "\n"

    static let serveForever = "\n" + #"""
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()
    """#
}

final class FakeSMTPServer {
    enum Behaviour: String {
        case starttlsAfterTLS = "starttls-after-tls"
        case silent
        case endlessLine = "endless-line"
        case garbageTLS = "garbage-tls"
        case closeMidHandshake = "close-mid-handshake"
        /// TLS, the banner, then close_notify and close: a graceful end at the worst moment.
        case tlsCloseAfterBanner = "tls-close-after-banner"
        /// TLS, the banner, then a TCP reset.
        case tlsResetAfterBanner = "tls-reset-after-banner"
        /// TLS, the banner, 421 to EHLO, then a close without close_notify (what an overloaded Postfix does).
        case tls421 = "tls-421"
        /// A banner and EHLO answer full of terminal escape sequences.
        case hostileBanner = "hostile-banner"
        /// Half a greeting, then nothing.
        case partialGreeting = "partial-greeting"
        /// Every reply a second late: each step within --timeout 2, the whole probe not.
        case slowReplies = "slow-replies"
    }

    let port: UInt16
    private let process: SpawnedProcess

    private static let script = FakeServerPython.prelude + #"""
    cert, key = sys.argv[3], sys.argv[4]

    def serve(conn):
        try:
            if mode == "starttls-after-tls":
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(cert, key)
                conn = context.wrap_socket(conn, server_side=True)
                conn.sendall(b"220 fake.example.com ESMTP\r\n")
                for line in lines(conn):
                    if line.upper().startswith(b"EHLO"):
                        conn.sendall(b"250-fake.example.com\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n")
                    elif line.upper().startswith(b"QUIT"):
                        conn.sendall(b"221 bye\r\n")
                        return
                    else:
                        conn.sendall(b"502 no\r\n")
            elif mode == "silent":
                time.sleep(30)
            elif mode == "endless-line":
                conn.sendall(b"220-" + b"x" * 200000)
                time.sleep(5)
            elif mode == "garbage-tls":
                conn.recv(4096)
                conn.sendall(b"\x00\x01garbage that is not a TLS record\xff" * 20)
                time.sleep(2)
            elif mode == "close-mid-handshake":
                conn.recv(4096)
            elif mode == "slow-replies":
                time.sleep(1.2)
                conn.sendall(b"220 slow.example.com ESMTP\r\n")
                for line in lines(conn):
                    time.sleep(1.2)
                    if line.upper().startswith(b"EHLO"):
                        conn.sendall(b"250-slow.example.com\r\n250 SIZE 1000\r\n")
                    elif line.upper().startswith(b"QUIT"):
                        conn.sendall(b"221 bye\r\n")
                        return
                    else:
                        conn.sendall(b"250 ok\r\n")
            elif mode == "partial-greeting":
                conn.sendall(b"220 mail.exam")
                time.sleep(30)
            elif mode == "hostile-banner":
                conn.sendall(b"220-\x1b[2J\x1b[H\r\n220 mail.example.com \x1b[32m\xe2\x9c\x93 ALL CHECKS PASSED\x1b[0m\x07\r\n")
                for line in lines(conn):
                    if line.upper().startswith(b"EHLO"):
                        conn.sendall(b"250-fake\x1b]0;owned\x07\r\n250 AUTH PLAIN\r\n")
                    elif line.upper().startswith(b"QUIT"):
                        conn.sendall(b"221 bye\r\n")
                        return
                    else:
                        conn.sendall(b"502 \x1b[1mno\r\n")
            elif mode in ("tls-close-after-banner", "tls-reset-after-banner", "tls-421"):
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(cert, key)
                conn = context.wrap_socket(conn, server_side=True)
                conn.sendall(b"220 fake.example.com ESMTP\r\n")
                if mode == "tls-421":
                    conn.recv(4096)
                    conn.sendall(b"421 4.3.2 Service shutting down, closing transmission channel\r\n")
                if mode == "tls-close-after-banner":
                    conn = conn.unwrap()
                elif mode == "tls-reset-after-banner":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            conn.close()
    """# + FakeServerPython.serveForever

    init(_ behaviour: Behaviour) throws {
        port = try PostfixFixture.freePorts(1)[0]
        let fixtures = try VerifyFixtures.shared
        // The leaf and its intermediate, as a real server sends them.
        let chain = fixtures.path("ec-chain.pem")
        if !FileManager.default.fileExists(atPath: chain) {
            try (String(contentsOfFile: fixtures.path("ec.crt"), encoding: .utf8) + String(contentsOfFile: fixtures.path("inter.crt"), encoding: .utf8))
                .write(toFile: chain, atomically: true, encoding: .utf8)
        }
        process = try SpawnedProcess("/usr/bin/python3", ["-c", Self.script, behaviour.rawValue, String(port), chain, fixtures.path("ec.key")], capture: false)
        try PostfixFixture.waitForListener(port)
    }

    deinit {
        kill(process.pid, SIGTERM)
        process.wait()
    }
}
