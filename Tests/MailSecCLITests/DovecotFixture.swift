import Foundation
import Testing

/// A private Dovecot 2.3 started by the tests (Debian's dovecot-core): a
/// temporary base_dir, a passwd-file with users for every verdict, an
/// auth-client and an auth-master listener. Stopped when the test process exits.
final class DovecotFixture: Sendable {
    /// Started once, on first use. A server that cannot start fails every test
    /// that needs it, with the reason (its log included), instead of ending the run.
    private static let made: Result<DovecotFixture, any Error> = {
        let made = Result { try DovecotFixture() }
        if case .success = made { atexit { DovecotFixture.stopShared() } }
        return made.mapError { FixtureError(what: "the Dovecot auth fixture", underlying: $0) }
    }()

    static var shared: DovecotFixture { get throws { try made.get() } }

    /// Users of the batch: user00000 ... with password pw-<n>.
    static let batchUsers = 10_000

    let directory: String
    var socket: String { directory + "/auth" }
    var masterSocket: String { directory + "/auth-master" }
    var config: String { directory + "/dovecot.conf" }

    private init() throws {
        var template = Array("/tmp/mailsec-dovecot-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        chmod(directory, 0o755)
        func crypt(_ password: String) throws -> String {
            try run("/usr/bin/doveadm", ["pw", "-s", "SHA512-CRYPT", "-p", password]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let hash = try crypt("crypt-pass")
        // A password with colons: the batch format splits at the first colon only.
        let colonHash = try crypt("pa:ss:word")
        var users = """
        alice:{PLAIN}alice-pass::::::
        bob:\(hash)::::::
        carol:{PLAIN}carol-pass::::::nologin
        erin:{PLAIN}erin-pass::::::proxy host=192.0.2.99
        jürgen:{PLAIN}grüße-pass::::::
        colon:\(colonHash)::::::

        """
        for index in 0..<Self.batchUsers { users += "user\(Self.number(index)):{PLAIN}pw-\(index)::::::\n" }
        try users.write(toFile: directory + "/users", atomically: true, encoding: .utf8)
        let conf = """
        base_dir = \(directory)/base
        state_dir = \(directory)/state
        log_path = \(directory)/dovecot.log
        protocols = none
        ssl = no
        default_internal_user = root
        default_login_user = root
        auth_mechanisms = plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256
        auth_username_chars =
        auth_debug = yes
        passdb {
          driver = passwd-file
          args = \(directory)/users
        }
        userdb {
          driver = static
          args = uid=root gid=root home=/tmp
        }
        service auth {
          unix_listener \(directory)/auth {
            mode = 0666
          }
          unix_listener \(directory)/auth-master {
            mode = 0666
          }
        }

        """
        try conf.write(toFile: config, atomically: true, encoding: .utf8)
        let status = spawnDaemon("/usr/sbin/dovecot", ["-c", config])
        guard status == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "dovecot -c \(config) exited \(status); \(logTail(directory + "/dovecot.log"))"])
        }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(50_000) }
        guard FileManager.default.fileExists(atPath: socket) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "dovecot did not create \(socket)"])
        }
    }

    static func number(_ index: Int) -> String {
        let digits = String(index)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// The requests Dovecot received, as its auth_debug log shows them (`resp=<hidden>`).
    func receivedRequests() throws -> [String] {
        try String(contentsOfFile: directory + "/dovecot.log", encoding: .utf8)
            .split(separator: "\n").compactMap { line in line.range(of: "client in: AUTH").map { String(line[$0.lowerBound...].dropFirst("client in: ".count)) } }
    }

    /// `doveadm auth test`: its exit code (0 ok, 77 failed) and output.
    func doveadm(_ user: String, _ password: String) throws -> RunResult {
        try run("/usr/bin/doveadm", ["-c", config, "auth", "test", "-a", socket, user, password])
    }

    private static func stopShared() {
        guard let fixture = try? made.get() else { return }
        _ = spawnDaemon("/usr/bin/doveadm", ["-c", fixture.config, "stop"])
        try? FileManager.default.removeItem(atPath: fixture.directory)
    }
}
