import Foundation
import Testing

/// Bad input gets a clear error naming what is wrong, and nothing is written.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let arguments: [String]
        let status: Int32
        let mentions: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let cases = [
        Case(arguments: ["bad_host.example.com"], status: 64, mentions: "'_' is not allowed"),
        Case(arguments: ["--", "-bad.example.com"], status: 64, mentions: "starts or ends with '-'"),
        Case(arguments: ["mail..example.com"], status: 64, mentions: "empty label"),
        Case(arguments: ["*.example.com"], status: 64, mentions: "wildcard"),
        Case(arguments: ["192.0.2.1"], status: 64, mentions: "IP address"),
        Case(arguments: ["../../etc/passwd"], status: 64, mentions: "invalid hostname"),
        Case(arguments: ["mäil.example.com"], status: 64, mentions: "punycode"),
        Case(arguments: [String(repeating: "a", count: 64) + ".example.com"], status: 64, mentions: "longer than 63"),
        Case(arguments: ["--days", "0", "mail.example.com"], status: 64, mentions: "--days 0"),
        Case(arguments: ["--days", "100000", "mail.example.com"], status: 64, mentions: "--days 100000"),
        Case(arguments: ["--days", "-5", "mail.example.com"], status: 64, mentions: "--days"),
        Case(arguments: ["--bits", "1024", "mail.example.com"], status: 64, mentions: "--bits 1024"),
        Case(arguments: ["--bits", "2047", "mail.example.com"], status: 64, mentions: "--bits"),
        Case(arguments: ["--bits", "8192", "mail.example.com"], status: 64, mentions: "2048, 3072 or 4096"),
        Case(arguments: ["--key-type", "dsa", "mail.example.com"], status: 64, mentions: "'dsa' is invalid"),
        Case(arguments: ["--key-type", "ec", "--curve", "P-521", "mail.example.com"], status: 64, mentions: "P-256 or P-384"),
        Case(arguments: ["--key-type", "ec", "--bits", "4096", "mail.example.com"], status: 64, mentions: "RSA keys only"),
        Case(arguments: ["--san", "bad name", "mail.example.com"], status: 64, mentions: "bad name"),
        Case(arguments: ["--san", "IP:300.1.2.3", "mail.example.com"], status: 64, mentions: "300.1.2.3"),
        Case(arguments: ["--san", "mail.*.example.com", "mail.example.com"], status: 64, mentions: "leftmost label"),
        Case(arguments: ["--san", "*.com", "mail.example.com"], status: 64, mentions: "two labels"),
        Case(arguments: ["--country", "Germany", "mail.example.com"], status: 64, mentions: "two-letter country"),
        Case(arguments: ["--subject", "C=DE", "mail.example.com"], status: 64, mentions: "must start with '/'"),
        Case(arguments: ["--subject", "/X=1", "mail.example.com"], status: 64, mentions: "unknown --subject field 'X'"),
        Case(arguments: ["--csr", "--ca", "x", "mail.example.com"], status: 64, mentions: "--csr and --ca"),
    ]

    @Test(arguments: cases)
    func rejectsBadInputWithoutWritingAnything(_ badCase: Case) throws {
        let temp = try TemporaryDirectory()
        let result = try mailsec(arguments: ["genkey", "--batch", "--root", temp.path] + badCase.arguments)
        #expect(result.status == badCase.status, "\(result.stderr)")
        #expect(result.stderr.contains(badCase.mentions), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.path).isEmpty)
    }

    @Test func rejectsARootThatIsNotADirectory() throws {
        let temp = try TemporaryDirectory()
        let file = temp.file("plain-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let result = try mailsec("genkey", "--batch", "--root", file, "mail.example.com")
        #expect(result.status == 2)
        #expect(result.stderr.contains(file))
    }

    @Test func rejectsAnUnwritableRoot() throws {
        let temp = try TemporaryDirectory()
        // Root may write anywhere, so run as nobody against a root-owned 0755 directory.
        let target = temp.file("locked")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        chmod(temp.path, 0o755)
        let command = runningAsRoot ? "setpriv --reuid=65534 --regid=65534 --clear-groups '\(mailsecPath)'" : "'\(mailsecPath)'"
        if !runningAsRoot { chmod(target, 0o555) }
        let result = try shell("\(command) genkey --batch --key-type ec --root '\(target)' mail.example.com")
        #expect(result.status == 2)
        #expect(result.stderr.contains(target) && result.stderr.contains("Permission denied"), "\(result.stderr)")
    }

    @Test func suggestsRootWhenNotRunAsRoot() throws {
        try #require(runningAsRoot, "needs root to switch to an unprivileged user; CI runs as root")
        let result = try shell("setpriv --reuid=65534 --regid=65534 --clear-groups '\(mailsecPath)' genkey --batch mail.example.com")
        #expect(result.status == 2)
        #expect(result.stderr.contains("--root"))
        #expect(result.stderr.contains("needs root"))
    }

    @Test func unknownOptionIsAUsageError() throws {
        let result = try mailsec("genkey", "--frobnicate", "mail.example.com")
        #expect(result.status == 64)
    }
}
