import Foundation
import Testing

/// A private Postfix 3.7 started by the tests on loopback: its own config,
/// queue and data directories under /tmp, smtpd services on free high ports,
/// SASL through the test Dovecot, a certificate from `mailsec genkey`.
/// Good services and deliberately broken ones run side by side, each a
/// master.cf entry with -o overrides. Stopped when the test process exits.
final class PostfixFixture: Sendable {
    /// Started once, on first use. A server that cannot start fails every test
    /// that needs it, with the reason (its log included), instead of ending the run.
    private static let made: Result<PostfixFixture, any Error> = {
        let made = Result { try PostfixFixture() }
        if case .success = made { atexit { PostfixFixture.stopShared() } }
        return made.mapError { FixtureError(what: "the Postfix fixture", underlying: $0) }
    }()

    static var shared: PostfixFixture { get throws { try made.get() } }

    let directory: String
    /// wrapper mode (465-style)
    let smtps: UInt16
    /// STARTTLS required, smtpd_tls_auth_only (587-style)
    let submission: UInt16
    /// broken: the 465-style service without smtpd_tls_wrappermode
    let clearTextOnImplicit: UInt16
    /// broken: submission without smtpd_tls_auth_only
    let authBeforeTLS: UInt16
    /// broken: an open relay (permit_mynetworks, and mynetworks holds the client: loopback)
    let openRelay: UInt16
    /// broken: wrapper mode with an expired certificate (from the verify fixtures, chained to their root)
    let expired: UInt16
    /// The certificate of the good services (self-signed by genkey), to trust with --ca-file.
    var certificate: String { directory + "/pki/etc/pki/tls/certs/mail.example.com.crt" }
    var config: String { directory + "/conf" }

    private init() throws {
        var template = Array("/tmp/mailsec-postfix-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        chmod(directory, 0o755)
        let ports = try Self.freePorts(6)
        (smtps, submission, clearTextOnImplicit, authBeforeTLS, openRelay, expired) = (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5])
        let dovecot = try DovecotFixture.shared
        let verify = try VerifyFixtures.shared

        let made = try run(mailsecPath, ["genkey", "--root", directory + "/pki", "--batch", "--key-type", "ec", "mail.example.com"])
        guard made.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "genkey: \(made.stderr)"]) }
        // Postfix sends what the file holds: the expired leaf followed by its intermediate.
        let expiredChain = directory + "/expired-chain.pem"
        try (String(contentsOfFile: verify.path("expired.crt"), encoding: .utf8) + String(contentsOfFile: verify.path("inter.crt"), encoding: .utf8))
            .write(toFile: expiredChain, atomically: true, encoding: .utf8)

        for sub in ["conf", "queue", "data"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
        }
        _ = try run("/bin/chown", ["postfix", directory + "/data"])
        let main = """
        compatibility_level = 3.6
        queue_directory = \(directory)/queue
        data_directory = \(directory)/data
        mail_owner = postfix
        inet_interfaces = 127.0.0.1
        inet_protocols = ipv4
        myhostname = mail.example.com
        mydestination = mail.example.com
        mynetworks = 127.0.0.0/8
        maillog_file = \(directory)/maillog
        maillog_file_prefixes = \(directory)
        smtpd_banner = $myhostname ESMTP
        smtpd_tls_cert_file = \(directory)/pki/etc/pki/tls/certs/mail.example.com.crt
        smtpd_tls_key_file = \(directory)/pki/etc/pki/tls/private/mail.example.com.key
        smtpd_tls_security_level = may
        smtpd_sasl_type = dovecot
        smtpd_sasl_path = \(dovecot.socket)
        smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
        smtpd_client_connection_rate_limit = 0
        anvil_rate_time_unit = 60s

        """
        let services = """
        \(smtps) inet n - n - - smtpd
          -o syslog_name=postfix/smtps
          -o smtpd_tls_wrappermode=yes
          -o smtpd_sasl_auth_enable=yes
          -o smtpd_client_restrictions=permit_sasl_authenticated,reject_unauth_destination
        \(submission) inet n - n - - smtpd
          -o syslog_name=postfix/submission
          -o smtpd_tls_security_level=encrypt
          -o smtpd_tls_auth_only=yes
          -o smtpd_sasl_auth_enable=yes
        \(clearTextOnImplicit) inet n - n - - smtpd
          -o syslog_name=postfix/broken-smtps
          -o smtpd_sasl_auth_enable=yes
        \(authBeforeTLS) inet n - n - - smtpd
          -o syslog_name=postfix/broken-submission
          -o smtpd_tls_auth_only=no
          -o smtpd_sasl_auth_enable=yes
        \(openRelay) inet n - n - - smtpd
          -o syslog_name=postfix/open-relay
          -o smtpd_tls_wrappermode=yes
          -o smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination
        \(expired) inet n - n - - smtpd
          -o syslog_name=postfix/expired
          -o smtpd_tls_wrappermode=yes
          -o smtpd_sasl_auth_enable=yes
          -o smtpd_tls_cert_file=\(expiredChain)
          -o smtpd_tls_key_file=\(verify.path("expired.key"))

        """
        // The internal services, shared with Scripts/fixtures/postfix.sh.
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let internalServices = try String(contentsOf: repository.appendingPathComponent("Scripts/fixtures/postfix-internal.cf"), encoding: .utf8)
        try main.write(toFile: config + "/main.cf", atomically: true, encoding: .utf8)
        try (services + internalServices).write(toFile: config + "/master.cf", atomically: true, encoding: .utf8)
        let status = spawnDaemon("/usr/sbin/postfix", ["-c", config, "start"])
        guard status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "postfix start exited \(status); \(logTail(directory + "/maillog"))"]) }
        do {
            for port in ports { try Self.waitForListener(port) }
        } catch {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(error.localizedDescription); \(logTail(directory + "/maillog"))"])
        }
    }

    /// Ports the kernel hands out as free right now (all held at once, so they differ).
    static func freePorts(_ count: Int) throws -> [UInt16] {
        try (0..<count).map { _ in try Listener() }.map(\.port)
    }

    static func waitForListener(_ port: UInt16) throws {
        for _ in 0..<100 {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = port.bigEndian
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(descriptor)
            if connected == 0 { return }
            usleep(50_000)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "nothing listens on 127.0.0.1:\(port)"])
    }

    private static func stopShared() {
        guard let fixture = try? made.get() else { return }
        _ = spawnDaemon("/usr/sbin/postfix", ["-c", fixture.config, "stop"])
        try? FileManager.default.removeItem(atPath: fixture.directory)
    }
}
