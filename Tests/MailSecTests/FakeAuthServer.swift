import Foundation
import Glibc
@testable import MailSec

/// A scripted stand-in for Dovecot's auth socket, only for what the real
/// Dovecot 2.3 here cannot show: 2.4's handshake order, dropped connections,
/// oversized lines, hangs and garbage.
final class FakeAuthServer: @unchecked Sendable {
    let path: String
    private let directory: String
    private let listener: Int32
    private let thread: Thread
    /// Lines the client sent, for assertions.
    private let recorder: LineRecorder

    var receivedLines: [String] { recorder.lines }

    /// `script` runs once for the first connection, on its own thread.
    init(script: @escaping @Sendable (FakeAuthConnection) -> Void) throws {
        var template = Array("/tmp/mailsec-fake-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        let path = directory + "/auth"
        self.path = path
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.listener = listener
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 4) == 0 else { throw MailSecError(.io, "fake server cannot listen") }
        let recorder = LineRecorder()
        self.recorder = recorder
        thread = Thread {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            script(FakeAuthConnection(descriptor: client, record: recorder.append))
            close(client)
        }
        thread.start()
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// One accepted connection of the fake server.
struct FakeAuthConnection: @unchecked Sendable {
    let descriptor: Int32
    let record: @Sendable (String) -> Void

    func send(_ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.send(descriptor, &bytes, bytes.count, Int32(MSG_NOSIGNAL))
    }

    /// Reads one line (without LF); nil at end of stream.
    func readLine() -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = Glibc.read(descriptor, &byte, 1)
            if count <= 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte == 0x0a { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        record(text)
        return text
    }

    /// Reads lines until one starts with `prefix`.
    func read(until prefix: String) -> String? {
        while let line = readLine() {
            if line.hasPrefix(prefix) { return line }
        }
        return nil
    }

    static let handshake23 = "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t4242\nCUID\t7\nCOOKIE\t0123456789abcdef0123456789abcdef\nDONE\n"
}

final class LineRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.withLock { stored } }
    @Sendable func append(_ line: String) { lock.withLock { stored.append(line) } }
}
