import Foundation
import Glibc
import Testing

/// A real Knot DNS on a free loopback port serving `signed` (example.net
/// unless told) signed (dnssec-signing: on, keys made in the temporary
/// directory) and `unsigned` (example.org) unsigned, both with the same
/// records. The signed zone's DS records are the trust anchor.
/// (Not `test.`: unbound answers that locally, RFC 6761.)
final class KnotFixture {
    let directory: TemporaryDirectory
    let port: UInt16
    let process: SpawnedProcess
    var config: String { directory.file("knot.conf") }
    let signed: String
    let unsigned: String
    var trustAnchor: String { directory.file(signed + ".ds") }
    var resolver: String { "127.0.0.1@\(port)" }
    /// The arguments that send a command's lookups here.
    var arguments: [String] { ["--resolver", resolver, "--trust-anchor", trustAnchor] }

    init(records: String, signed: String = "example.net", unsigned: String = "example.org") throws {
        self.signed = signed
        self.unsigned = unsigned
        directory = try TemporaryDirectory()
        port = try PostfixFixture.freePorts(1)[0]
        for sub in ["zones", "db"] { try FileManager.default.createDirectory(atPath: directory.file(sub), withIntermediateDirectories: true) }
        let conf = """
        server:
            rundir: \(directory.path)
            listen: 127.0.0.1@\(port)
            pidfile: \(directory.file("knot.pid"))
        database:
            storage: \(directory.file("db"))
        log:
          - target: stderr
            any: notice
        template:
          - id: default
            storage: \(directory.file("zones"))
            file: "%s.zone"
            zonefile-load: difference-no-serial
            journal-content: all
        zone:
          - domain: \(signed)
            dnssec-signing: on
          - domain: \(unsigned)
        """
        let config = directory.file("knot.conf")
        try conf.write(toFile: config, atomically: true, encoding: .utf8)
        for zone in [signed, unsigned] {
            try Self.zone(records, origin: zone).write(toFile: directory.file("zones/\(zone).zone"), atomically: true, encoding: .utf8)
        }
        process = try SpawnedProcess("/bin/sh", ["-c", "exec /usr/sbin/knotd -c \"$0\" 2>\"$0.log\"", directory.file("knot.conf")], capture: false)
        // The zone is signed (and its keys made) once knotd has loaded it.
        var ds = ""
        for _ in 0..<100 {
            let keys = try run("/usr/sbin/keymgr", ["-c", config, signed, "ds"])
            if keys.status == 0, keys.stdout.contains(" DS "),
               try run("/usr/bin/kdig", ["@127.0.0.1", "-p", String(port), "+short", "+dnssec", "SOA", signed]).stdout.split(separator: "\n").count >= 2 {   // the SOA and its RRSIG
                ds = keys.stdout
                break
            }
            usleep(100_000)
        }
        guard !ds.isEmpty else {
            let log = (try? String(contentsOfFile: config + ".log", encoding: .utf8)) ?? ""
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "knotd did not sign \(signed): \(log)"])
        }
        try ds.write(toFile: trustAnchor, atomically: true, encoding: .utf8)
    }

    /// Replaces both zones' records and has knotd load and sign them (knotc
    /// zone-reload, blocking); returns once kdig sees `expect` at `name`.
    func publish(_ records: String, name: String, expect: String) throws {
        for zone in [signed, unsigned] {
            try Self.zone(records, origin: zone).write(toFile: directory.file("zones/\(zone).zone"), atomically: true, encoding: .utf8)
        }
        let reload = try run("/usr/sbin/knotc", ["-c", config, "-b", "zone-reload"])
        guard reload.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "knotc zone-reload: \(reload.stdout)\(reload.stderr)"]) }
        for _ in 0..<100 {
            let seen = try run("/usr/bin/kdig", ["@127.0.0.1", "-p", String(port), "+short", "TLSA", name]).stdout
            if seen.lowercased().replacingOccurrences(of: " ", with: "").contains(expect.lowercased()) { return }
            usleep(100_000)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "knotd does not serve the new \(name)"])
    }

    static func zone(_ records: String, origin: String) -> String {
        """
        $ORIGIN \(origin).
        $TTL 300
        @ IN SOA ns hostmaster 1 3600 600 86400 300
        @ IN NS ns
        ns IN A 127.0.0.1
        \(records)

        """
    }

    deinit {
        kill(process.pid, SIGTERM)
        process.wait()
    }
}
