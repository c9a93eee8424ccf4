import Testing
import Glibc
import Foundation
@testable import MailSec

@Suite struct SecureFileTests {
    final class Directory {
        let path: String
        init() {
            var template = Array("/tmp/mailsec-unit-XXXXXX".utf8CString)
            path = String(cString: mkdtemp(&template)!)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func entries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
        func contents(_ name: String) -> String? { try? String(contentsOfFile: path + "/" + name, encoding: .utf8) }
    }

    private func stage(_ text: String, at path: String, mode: FilePermissions = 0o600) throws -> StagedFile {
        try Array(text.utf8).withUnsafeBytes { try StagedFile(path: path, contents: $0, mode: mode, owner: nil) }
    }

    @Test func stagedFileIsPrivateAndInvisibleUntilCommitted() throws {
        let directory = Directory()
        let target = directory.path + "/host.key"
        let staged = try stage("secret", at: target, mode: 0o600)
        #expect(FileStatus(path: target) == nil)
        let temporary = try #require(FileStatus(path: staged.temporaryPath))
        #expect(temporary.mode == 0o600)
        try staged.commit(replacing: false)
        #expect(directory.entries() == ["host.key"])
        #expect(directory.contents("host.key") == "secret")
        #expect(FileStatus(path: target)?.mode == 0o600)
    }

    @Test func anAbandonedWriteLeavesTheOldFileAndNoTemporary() throws {
        let directory = Directory()
        let target = directory.path + "/host.key"
        try stage("old", at: target).commit(replacing: false)
        do {
            let staged = try stage("new", at: target)
            _ = staged   // dropped without commit, as when a later step throws
        }
        #expect(directory.entries() == ["host.key"])
        #expect(directory.contents("host.key") == "old")
    }

    @Test func commitWithoutReplacingRefusesAnExistingFile() throws {
        let directory = Directory()
        let target = directory.path + "/host.key"
        try stage("old", at: target).commit(replacing: false)
        #expect { try stage("new", at: target).commit(replacing: false) } throws: { ($0 as? MailSecError)?.code == .fileExists }
        #expect(directory.contents("host.key") == "old")
        #expect(directory.entries() == ["host.key"])
    }

    @Test func replacingKeepsABackupWithTheSameMode() throws {
        let directory = Directory()
        let target = directory.path + "/host.key"
        try stage("old", at: target).commit(replacing: false)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let backup = try #require(try stage("new", at: target).commit(replacing: true, now: now))
        #expect(backup == target + ".20270115-080000.bak")
        #expect(directory.contents("host.key") == "new")
        #expect(directory.contents("host.key.20270115-080000.bak") == "old")
        #expect(FileStatus(path: backup)?.mode == 0o600)
        // A second replacement in the same second gets its own backup.
        let second = try #require(try stage("newer", at: target).commit(replacing: true, now: now))
        #expect(second == target + ".20270115-080000-1.bak")
        #expect(directory.contents("host.key.20270115-080000-1.bak") == "new")
    }

    @Test func preparesPrivateDirectoriesAndRefusesUnsafeOnes() throws {
        let directory = Directory()
        let fresh = directory.path + "/a/b/private"
        #expect(try SecureFileSystem.prepareDirectory(fresh, mode: 0o700, owner: nil, holdsPrivateKeys: true))
        #expect(FileStatus(path: fresh)?.mode == 0o700)
        #expect(FileStatus(path: directory.path + "/a/b")?.mode == 0o755)
        #expect(try !SecureFileSystem.prepareDirectory(fresh, mode: 0o700, owner: nil, holdsPrivateKeys: true))

        chmod(fresh, 0o770)
        #expect { try SecureFileSystem.prepareDirectory(fresh, mode: 0o700, owner: nil, holdsPrivateKeys: true) } throws: {
            ($0 as? MailSecError)?.remedy == "chmod go-w \(fresh)"
        }
    }

    @Test func readNamesTheFileInEveryError() throws {
        let directory = Directory()
        #expect { try SecureFileSystem.read(directory.path) } throws: { ($0 as? MailSecError)?.message.contains("is a directory") == true }
        #expect { try SecureFileSystem.read(directory.path + "/nope") } throws: { ($0 as? MailSecError)?.code == .fileNotFound }
        let big = directory.path + "/big"
        #expect(FileManager.default.createFile(atPath: big, contents: Data(count: 2048)))
        #expect { try SecureFileSystem.read(big, limit: 1024) } throws: { ($0 as? MailSecError)?.message.contains(big) == true }
    }
}

@Suite struct SecureBytesTests {
    @Test func copiesAreValuesThatShareUntilOneChanges() {
        var original = SecureBytes(Array("secret".utf8))
        let copy = original
        original.append(contentsOf: Array("!".utf8))
        #expect(copy.withUnsafeBytes { Array($0) } == Array("secret".utf8), "the copy did not change")
        #expect(original.withUnsafeBytes { Array($0) } == Array("secret!".utf8))
        var trimmed = original
        trimmed.removeLast(2)
        #expect(original.count == 7 && trimmed.count == 5)
        // Every value ends in a NUL for C, whatever was appended or removed.
        #expect(trimmed.withCString { String(cString: $0) } == "secre")
        #expect(original.withCString { String(cString: $0) } == "secret!")
        #expect(copy.isEqual(to: SecureBytes(Array("secret".utf8))) && !copy.isEqual(to: original))
    }

    @Test func aCopyCrossesIntoAnotherTask() async {
        // Compiles only because SecureBytes is Sendable; a task reads its own copy.
        let secret = SecureBytes(Array("pw".utf8))
        let length = await Task.detached { secret.count }.value
        #expect(length == 2)
    }

    @Test func growsAndComparesWithoutLosingBytes() {
        var bytes = SecureBytes(capacity: 1)
        for byte in 0..<200 { bytes.append(UInt8(byte)) }
        #expect(bytes.count == 200)
        #expect(bytes.withUnsafeBytes { Array($0) } == (0..<200).map { UInt8($0) })
        #expect(bytes.isEqual(to: SecureBytes((0..<200).map { UInt8($0) })))
        #expect(!bytes.isEqual(to: SecureBytes([1, 2, 3])))
        bytes.removeLast(100)
        #expect(bytes.count == 100)
        #expect(bytes.withCString { strlen($0) } == 0, "the first byte is 0")
    }
}

@Suite struct ReportTests {
    @Test func verdictIsTheWorstFinding() {
        var report = Report([.pass("a", "ok"), .skip("b", "n/a")])
        #expect(report.ok && report.worst == .pass)
        report.add(.warn("c", "soon", remedy: "renew"))
        #expect(report.ok && report.worst == .warn)
        report.add(.fail("d", "bad", remedy: "fix it"))
        #expect(!report.ok)
        #expect(report.worst == .fail)
        #expect(report.findings(withID: "c").first?.remedy == "renew")
        #expect(Report().worst == .skip)
    }
}

@Suite struct FilePermissionsTests {
    @Test func readsAndPrintsAsOctal() {
        let debianKey: FilePermissions = 0o640
        #expect(debianKey == [.ownerRead, .ownerWrite, .groupRead])
        #expect(debianKey.description == "0640")
        #expect(FilePermissions(rawValue: 0o4755).description == "4755")
        #expect(debianKey.isDisjoint(with: .others) && !debianKey.isSubset(of: 0o600))
        // Only permission bits: a file-type bit from st_mode is not kept.
        #expect(FilePermissions(rawValue: 0o100644).rawValue == 0o644)
    }
}

@Suite struct VocabularyTests {
    /// Without a program's vocabulary the library names its own API and suggests no command.
    @Test func theLibrarySpeaksOfItsOwnSettingsAndNoCommandLine() throws {
        let key = try PrivateKey.generate(.ec(curve: .p256))
        let certificate = try Certificate(profile: CertificateProfile(subject: DistinguishedName([.init("CN", "mail.example.com")]),
                                                                      subjectAlternativeNames: [.dns("mail.example.com")], days: 1), subjectKey: key)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vocabulary-\(getpid()).crt").path
        try Data(try certificate.pem()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var request = VerifyRequest(certificatePath: path)
        request.trust = .file(path)
        let report = try CertificateVerifier.verify(request).report
        let skipped = try #require(report.findings(withID: "key-readable").first)
        #expect(skipped.message.contains("`VerifyRequest.keyPath`"), "\(skipped.message)")
        for finding in report.findings {
            let text = finding.message + (finding.remedy ?? "")
            #expect(!text.contains("--") && !text.contains("mailsec "), "\(finding.id): \(text)")
        }
    }
}
