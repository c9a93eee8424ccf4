import Foundation
import Testing
@testable import MailSec

/// MailSec's reader of dovecot.conf, held to doveconf where doveconf can read the file.
@Suite struct DovecotConfigurationTests {
    /// A 2.3 tree: includes with a glob, an optional include that is missing, `$protocols`, sections and a quoted local_name.
    func writeTree(_ directory: TemporaryDirectory) throws -> String {
        let main = directory.file("dovecot.conf")
        try FileManager.default.createDirectory(atPath: directory.file("conf.d"), withIntermediateDirectories: true)
        try """
        protocols = imap
        !include conf.d/*.conf
        !include_try missing.conf
        ssl = yes
        ssl_cert = </etc/ssl/certs/ssl-cert-snakeoil.pem
        ssl_key = </etc/ssl/private/ssl-cert-snakeoil.key

        """.write(toFile: main, atomically: true, encoding: .utf8)
        try "protocols = $protocols pop3 # the rest in 20-b\n".write(toFile: directory.file("conf.d/10-a.conf"), atomically: true, encoding: .utf8)
        try """
        service imap-login {
          inet_listener imaps {
            port = 10993
            ssl = yes
          }
        }
        local_name "imap.example.com" {
          ssl_cert = </tmp/imap.pem
        }

        """.write(toFile: directory.file("conf.d/20-b.conf"), atomically: true, encoding: .utf8)
        return main
    }

    @Test func aSplitTreeReadsAsDoveconfReadsIt() throws {
        let directory = try TemporaryDirectory()
        let main = try writeTree(directory)
        let config = DovecotConfiguration(path: main)
        #expect(config.problems.isEmpty, "\(config.problems)")
        #expect(config.files == [main, directory.file("conf.d/10-a.conf"), directory.file("conf.d/20-b.conf")])
        let listener = [DovecotConfiguration.Section(name: "service", argument: "imap-login"), .init(name: "inet_listener", argument: "imaps")]
        let local = [DovecotConfiguration.Section(name: "local_name", argument: "imap.example.com")]
        #expect(config.value("port", in: listener)?.line == 3)
        #expect(config.value("ssl_cert", in: local)?.file == directory.file("conf.d/20-b.conf"))
        // doveconf agrees on every value.
        for (setting, ours) in [("protocols", config.value("protocols")?.value), ("service/imap-login/inet_listener/imaps/port", config.value("port", in: listener)?.value),
                                ("ssl_cert", config.value("ssl_cert")?.value)] {
            let theirs = try run("/usr/bin/doveconf", ["-c", main, "-h", setting])
            #expect(theirs.status == 0 && theirs.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == ours, "\(setting): doveconf \(theirs.stdout), ours \(ours ?? "nil")")
        }
        #expect(config.sectionPaths == [[listener[0]], listener, local])
    }

    @Test func brokenFilesNameTheFileAndLine() throws {
        let directory = try TemporaryDirectory()
        let main = directory.file("dovecot.conf")
        try "ssl = yes\nservice imap-login {\n  inet_listener imaps\n}\n}\n!include missing.conf\n".write(toFile: main, atomically: true, encoding: .utf8)
        let problems = DovecotConfiguration(path: main).problems.map { "\($0.line): \($0.message)" }
        #expect(problems.contains { $0.hasPrefix("3: expected 'key = value'") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("5: '}' without an open section") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("6: !include \(directory.path)/missing.conf: no such file") }, "\(problems)")
        // doveconf refuses the same file.
        #expect(try run("/usr/bin/doveconf", ["-c", main, "-n"]).status != 0)
    }

    @Test func anIncludeLoopEnds() throws {
        let directory = try TemporaryDirectory()
        try "!include b.conf\n".write(toFile: directory.file("a.conf"), atomically: true, encoding: .utf8)
        try "!include a.conf\n".write(toFile: directory.file("b.conf"), atomically: true, encoding: .utf8)
        let config = DovecotConfiguration(path: directory.file("a.conf"))
        #expect(config.problems.contains { $0.message.contains("include loop") }, "\(config.problems)")
    }

    @Test func selfDoublingReferencesAreBounded() {
        var text = "p0 = xxxxxxxx\n"
        for level in 1...40 { text += "p\(level) = $p\(level - 1)$p\(level - 1)\n" }
        let config = DovecotConfiguration(text: text, path: "dovecot.conf", root: "/nonexistent")
        #expect(config.problems.count == 1 && config.problems[0].message.contains("1 MiB"), "\(config.problems)")
        #expect(config.value("p3")?.value == String(repeating: "x", count: 64), "honest references are untouched")
        #expect(config.settings.reduce(0) { $0 + $1.setting.value.utf8.count } <= 2 * DovecotConfiguration.maximumExpansion)
    }
}

/// A directory removed when the test ends.
final class TemporaryDirectory {
    let path: String
    init() throws {
        var template = Array("/tmp/mailsec-dovecot-conf-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }
    func file(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a tool to completion: its status and standard output.
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}
