import Foundation
import Testing

/// A private sasldb and the smtpd.conf files that point libsasl2 at it.
final class SasldbFixture: Sendable {
    /// Started once, on first use. A server that cannot start fails every test
    /// that needs it, with the reason (its log included), instead of ending the run.
    private static let made: Result<SasldbFixture, any Error> = {
        let made = Result { try SasldbFixture() }
        return made.mapError { FixtureError(what: "the sasldb fixture", underlying: $0) }
    }()

    static var shared: SasldbFixture { get throws { try made.get() } }

    let directory: String
    var database: String { directory + "/sasldb2" }
    /// A directory with smtpd.conf: pwcheck_method auxprop, sasldb at `database`.
    var auxpropConfig: String { directory + "/auxprop" }

    private init() throws {
        var template = Array("/tmp/mailsec-sasldb-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        for (user, password, realm) in [("sasluser", "sasl-pass-1", nil), ("realmuser", "sasl-pass-2", "example.com")] as [(String, String, String?)] {
            var arguments = ["-f", database, "-c", "-p"]
            if let realm { arguments += ["-u", realm] }
            let made = try run("/usr/sbin/saslpasswd2", arguments + [user], input: password + "\n")
            guard made.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "saslpasswd2: \(made.stderr)"]) }
        }
        try FileManager.default.createDirectory(atPath: auxpropConfig, withIntermediateDirectories: true)
        try "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: \(database)\nmech_list: PLAIN LOGIN CRAM-MD5\n"
            .write(toFile: auxpropConfig + "/smtpd.conf", atomically: true, encoding: .utf8)
    }
}

/// A real saslauthd (-a shadow) for a test user that exists only inside a
/// private mount namespace: copies of /etc/passwd and /etc/shadow with the
/// user added are bind-mounted over the real ones for saslauthd alone, so
/// the system's files are never touched. Stopped when the test process exits.
final class SaslauthdFixture: Sendable {
    /// Started once, on first use. A server that cannot start fails every test
    /// that needs it, with the reason (its log included), instead of ending the run.
    private static let made: Result<SaslauthdFixture, any Error> = {
        let made = Result { try SaslauthdFixture() }
        if case .success = made { atexit { SaslauthdFixture.stopShared() } }
        return made.mapError { FixtureError(what: "the saslauthd fixture", underlying: $0) }
    }()

    static var shared: SaslauthdFixture { get throws { try made.get() } }

    static let user = "mailsec-sasl"
    static let password = "shadow-pass-7"

    let directory: String
    var socket: String { directory + "/run/mux" }
    /// A directory with smtpd.conf: pwcheck_method saslauthd at `socket`.
    var saslauthdConfig: String { directory + "/conf" }

    private init() throws {
        var template = Array("/tmp/mailsec-saslauthd-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        chmod(directory, 0o755)
        try FileManager.default.createDirectory(atPath: directory + "/run", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: saslauthdConfig, withIntermediateDirectories: true)
        let hash = try run("/usr/bin/openssl", ["passwd", "-6", Self.password]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let passwd = try String(contentsOfFile: "/etc/passwd", encoding: .utf8) + "\(Self.user):x:64123:64123::/nonexistent:/usr/sbin/nologin\n"
        let shadow = try String(contentsOfFile: "/etc/shadow", encoding: .utf8) + "\(Self.user):\(hash):19000:0:99999:7:::\n"
        try passwd.write(toFile: directory + "/passwd", atomically: true, encoding: .utf8)
        try shadow.write(toFile: directory + "/shadow", atomically: true, encoding: .utf8)
        chmod(directory + "/shadow", 0o640)
        try "pwcheck_method: saslauthd\nsaslauthd_path: \(socket)\nmech_list: PLAIN LOGIN\n"
            .write(toFile: saslauthdConfig + "/smtpd.conf", atomically: true, encoding: .utf8)
        let script = "mount --bind '\(directory)/passwd' /etc/passwd && mount --bind '\(directory)/shadow' /etc/shadow && exec /usr/sbin/saslauthd -a shadow -m '\(directory)/run' -n 4"
        let status = spawnDaemon("/usr/bin/unshare", ["-m", "/bin/sh", "-c", script])
        guard status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "saslauthd in a private namespace exited \(status)"]) }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(50_000) }
    }

    /// `testsaslauthd -s smtp`: its verdict, for cross-checking.
    func testsaslauthd(_ user: String, _ password: String) throws -> Bool {
        let result = try run("/usr/sbin/testsaslauthd", ["-f", socket, "-s", "smtp", "-u", user, "-p", password])
        return result.stdout.contains("OK")
    }

    private static func stopShared() {
        guard let fixture = try? made.get() else { return }
        if let pid = try? String(contentsOfFile: fixture.directory + "/run/saslauthd.pid", encoding: .utf8),
           let number = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(number, SIGTERM)
        }
        try? FileManager.default.removeItem(atPath: fixture.directory)
    }
}
