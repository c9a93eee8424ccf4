import Foundation
import Testing
@testable import MailSec

@Suite struct CredentialReaderTests {
    private func read(_ text: String) throws -> ([(Int, String, String)], [String]) {
        let path = "/tmp/mailsec-reader-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try CredentialReader(path: path)
        var problems: [String] = []
        reader.onMalformedLine = { _, message in problems.append(message) }
        let credentials = reader.map { ($0.line, $0.user, $0.password.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }) }
        return (credentials, problems)
    }

    @Test func splitsAtTheFirstColonAndSkipsCommentsAndBlanks() throws {
        let (credentials, problems) = try read("# header\n\nalice:pa:ss\r\n  # indented comment\nbob:\nno-colon\n:empty-user\ncarol:last")
        #expect(credentials.map(\.0) == [3, 5, 8])
        #expect(credentials.map(\.1) == ["alice", "bob", "carol"])
        #expect(credentials.map(\.2) == ["pa:ss", "", "last"])
        #expect(problems == ["line 6: no ':' between user and password", "line 7: empty user name"])
    }

    /// A line whose last byte sits at offset 13 must keep it (a CR check once compared the index with 0x0d).
    @Test func keepsTheLastCharacterWhateverItsOffset() throws {
        let (credentials, _) = try read("user00001:pw-1\nuser00002:pw-2\r\n")
        #expect(credentials.map(\.2) == ["pw-1", "pw-2"])
    }

    @Test func streamsLinesAcrossChunkBoundaries() throws {
        var text = ""
        for index in 0..<20_000 { text += "user\(index):password-\(index)\n" }
        let (credentials, problems) = try read(text)
        #expect(problems.isEmpty)
        #expect(credentials.count == 20_000)
        #expect(credentials.allSatisfy { $0.2 == "password-" + $0.1.dropFirst(4) })
    }
}
