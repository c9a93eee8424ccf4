import Foundation
import Testing

/// A private Dovecot 2.3 serving IMAP, POP3 and ManageSieve on loopback
/// (Debian's dovecot-imapd, -pop3d, -managesieved) with a certificate from
/// `mailsec genkey`, for the probe tests. Clear-text logins are refused, as
/// by default, except for clients from 127.0.0.3 (a `remote` block), so the
/// tests can see both. Dovecot counts a client from its own address
/// (127.0.0.1) as secure: the tests connect from 127.0.0.2 to see what a
/// remote client sees. Stopped when the test process exits.
final class DovecotMailFixture: Sendable {
    /// Started once, on first use. A server that cannot start fails every test
    /// that needs it, with the reason (its log included), instead of ending the run.
    private static let made: Result<DovecotMailFixture, any Error> = {
        let made = Result { try DovecotMailFixture() }
        if case .success = made { atexit { DovecotMailFixture.stopShared() } }
        return made.mapError { FixtureError(what: "the Dovecot mail fixture", underlying: $0) }
    }()

    static var shared: DovecotMailFixture { get throws { try made.get() } }

    let directory: String
    let imap: UInt16, imaps: UInt16, pop3: UInt16, pop3s: UInt16, sieve: UInt16
    var config: String { directory + "/dovecot.conf" }
    /// The certificate every listener serves (self-signed by genkey, for --ca-file).
    var certificate: String { directory + "/pki/etc/pki/tls/certs/mail.example.com.crt" }
    var key: String { directory + "/pki/etc/pki/tls/private/mail.example.com.key" }

    /// `--ca-file` and `--verify-host` for the fixture's certificate.
    var trust: [String] { ["--ca-file", certificate, "--verify-host", "mail.example.com"] }

    private init() throws {
        var template = Array("/tmp/mailsec-dovecot-mail-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        chmod(directory, 0o755)
        let ports = try PostfixFixture.freePorts(5)
        (imap, imaps, pop3, pop3s, sieve) = (ports[0], ports[1], ports[2], ports[3], ports[4])
        let made = try mailsec("genkey", "--root", directory + "/pki", "--batch", "--key-type", "ec", "mail.example.com")
        guard made.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: made.stderr]) }
        try "alice:{PLAIN}alice-pass::::::\n".write(toFile: directory + "/users", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/mail", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        let conf = Self.configuration(directory: directory, certificate: certificate, key: key,
                                      ports: (imap, imaps, pop3, pop3s, sieve), passdb: "driver = passwd-file\n  args = \(directory)/users", extra: """
        auth_mechanisms = plain login cram-md5 scram-sha-256
        service auth {
          unix_listener auth-client {
            mode = 0666
          }
        }
        remote 127.0.0.3 {
          disable_plaintext_auth = no
        }
        """)
        try conf.write(toFile: config, atomically: true, encoding: .utf8)
        let status = spawnDaemon("/usr/sbin/dovecot", ["-c", config])
        guard status == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "dovecot -c \(config) exited \(status); \(logTail(directory + "/dovecot.log"))"])
        }
        for port in ports { try PostfixFixture.waitForListener(port) }
    }

    /// Every target the fixture serves, by scheme.
    /// The dovecot.conf of a private IMAP, POP3 and ManageSieve server on
    /// loopback, its state under `directory`; `passdb` and `extra` are what
    /// one fixture's server has that another's has not.
    static func configuration(directory: String, certificate: String, key: String,
                              ports: (imap: UInt16, imaps: UInt16, pop3: UInt16, pop3s: UInt16, sieve: UInt16),
                              passdb: String, extra: String = "") -> String {
        func listener(_ name: String, _ port: UInt16, ssl: Bool = false) -> String {
            "  inet_listener \(name) {\n    port = \(port)\n" + (ssl ? "    ssl = yes\n" : "") + "  }\n"
        }
        return """
        base_dir = \(directory)/base
        state_dir = \(directory)/state
        log_path = \(directory)/dovecot.log
        protocols = imap pop3 sieve
        listen = 127.0.0.1
        ssl = yes
        ssl_cert = <\(certificate)
        ssl_key = <\(key)
        default_login_user = dovenull
        default_internal_user = dovecot
        first_valid_uid = 100
        mail_location = maildir:\(directory)/mail/%u
        passdb {
          \(passdb)
        }
        userdb {
          driver = static
          args = uid=dovecot gid=dovecot home=\(directory)/mail/%u
        }
        service imap-login {
        \(listener("imap", ports.imap))\(listener("imaps", ports.imaps, ssl: true))}
        service pop3-login {
        \(listener("pop3", ports.pop3))\(listener("pop3s", ports.pop3s, ssl: true))}
        service managesieve-login {
        \(listener("sieve", ports.sieve))}
        \(extra)

        """
    }

    var targets: [(scheme: String, port: UInt16)] {
        [("imap", imap), ("imaps", imaps), ("pop3", pop3), ("pop3s", pop3s), ("sieve", sieve)]
    }

    private static func stopShared() {
        guard let fixture = try? made.get() else { return }
        _ = spawnDaemon("/usr/bin/doveadm", ["-c", fixture.config, "stop"])
        try? FileManager.default.removeItem(atPath: fixture.directory)
    }
}
