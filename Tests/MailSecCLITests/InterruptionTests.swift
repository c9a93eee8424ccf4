import Foundation
import Testing

/// A run killed at any moment leaves the old key intact and nothing readable behind.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct InterruptionTests {
    @Test(arguments: [0.05, 0.2, 0.5, 1.0])
    func killedReplacementLeavesTheOldKeyIntact(after delay: Double) throws {
        let temp = try TemporaryDirectory()
        try #require(try mailsec("genkey", "--root", temp.path, "--batch", "--key-type", "ec", "mail.example.com").status == 0)
        let keyPath = temp.file("etc/pki/tls/private/mail.example.com.key")
        let oldKey = try readFile(keyPath)

        // RSA 4096 takes long enough to be killed at different points of the run.
        let process = try SpawnedProcess(mailsecPath, ["genkey", "--root", temp.path, "--batch", "--force", "--bits", "4096", "mail.example.com"], capture: false)
        Thread.sleep(forTimeInterval: delay)
        kill(process.pid, SIGKILL)
        process.wait()

        let directory = temp.file("etc/pki/tls/private")
        let key = try readFile(keyPath)
        if process.wasKilledBySignal {
            // Killed: the key is either the old one or (if it finished just before) a complete new one.
            #expect(key == oldKey || String(decoding: key, as: UTF8.self).hasSuffix("-----END PRIVATE KEY-----\n"))
        }
        #expect(try openssl("pkey", "-in", keyPath, "-noout", "-check").contains("valid"))
        // Whatever is left in the private directory is readable by root only.
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            #expect(try StatInfo(directory + "/" + name).mode & 0o077 == 0, "\(name)")
        }
    }
}
