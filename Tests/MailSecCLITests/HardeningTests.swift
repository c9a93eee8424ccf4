import Foundation
import Testing

/// A Unix socket that listens but never accepts, its listen queue already
/// full: a hung or overloaded Dovecot or saslauthd. A blocking connect to it
/// waits forever.
final class FullBacklogSocket {
    let path: String
    private let directory: TemporaryDirectory
    private let listener: Int32
    private var fillers: [Int32] = []

    init() throws {
        directory = try TemporaryDirectory()
        path = directory.file("auth")
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 0) == 0 else { throw CocoaError(.fileWriteUnknown) }
        chmod(path, 0o666)
        // Fill the queue until a non-blocking connect says it is full.
        for _ in 0..<16 {
            let filler = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if result != 0 {
                close(filler)
                guard errno == EAGAIN else { throw CocoaError(.fileWriteUnknown) }
                return
            }
            fillers.append(filler)
        }
        throw CocoaError(.fileWriteUnknown)
    }

    deinit {
        fillers.forEach { close($0) }
        close(listener)
    }
}

/// The defects a hostile review found (issue 12), one test each; each failed before its fix.
@Suite struct HardeningTests {
    // Defect 5: Unix-socket connects ignored --timeout.
    @Test func aUnixSocketThatNeverAcceptsTimesOutEverywhere() throws {
        let hung = try FullBacklogSocket()
        let commands: [[String]] = [
            ["auth", "test", "--socket", hung.path, "--timeout", "1", "alice"],
            ["auth", "mechanisms", "--socket", hung.path, "--timeout", "1"],
            ["auth", "test", "--saslauthd", "--socket", hung.path, "--timeout", "1", "alice"],
        ]
        for command in commands {
            let result = try mailsec(arguments: command, input: "alice-pass\n", timeout: 30)
            #expect(result.status == 2, "\(command.joined(separator: " ")): exit \(result.status)")
            #expect(result.stderr.contains("accepts no connections"), "\(command): \(result.stderr)")
        }
        var tree = PreflightTree()
        tree.socket = .link(hung.path)
        let directory = try TemporaryDirectory()
        let (status, worst, json, _) = try preflight(["--root", try tree.build(in: directory), "--timeout", "1"])
        #expect(status == 1)
        #expect(worst["sasl-socket"] == "fail")
        #expect(messages(json, id: "sasl-socket").contains("accepts no connections"))
    }
}
