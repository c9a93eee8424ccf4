#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// One SMTP reply: a code and its lines (multi-line replies joined by '-').
public struct SMTPReply: Sendable {
    public var code: Int
    public var lines: [String]

    /// The reply as the server sent its first line, for messages.
    public var firstLine: String { "\(code) \(lines.first ?? "")" }
    public var isPositive: Bool { (200..<400).contains(code) }
}

/// What was said on a connection, for `--transcript`: `C:`/`S:` lines and TLS
/// events, with AUTH data masked as it is recorded.
public final class Transcript: @unchecked Sendable {
    public private(set) var lines: [String] = []
    func client(_ line: String) { lines.append("C: \(line)") }
    func server(_ line: String) { lines.append("S: \(line)") }
    func event(_ text: String) { lines.append("*  \(text)") }
}

/// An SMTP client connection: plain, then optionally TLS (implicit or STARTTLS).
/// Every read and write has a deadline; reply lines are bounded.
final class SMTPConnection {
    /// RFC 5321 allows 512 octets per reply line; we accept more before calling it endless.
    static let maximumLineLength = 4096

    let socket: LineSocket
    private(set) var tls: TLSSession?
    let timeout: Double
    let transcript: Transcript
    private var buffer: [UInt8] = []

    init(socket: LineSocket, timeout: Double, transcript: Transcript) {
        self.socket = socket
        self.timeout = timeout
        self.transcript = transcript
    }

    var deadline: Date { Date().addingTimeInterval(timeout) }

    func startTLS(serverName: String?) throws -> (TLSDetails, [Certificate]) {
        let session = try TLSSession(descriptor: socket.descriptor, serverName: serverName, peerName: "the server")
        let details = try session.handshake(deadline: deadline)
        tls = session
        buffer.removeAll()
        transcript.event("TLS handshake: \(details.version), \(details.cipher)")
        return (details, session.peerChain())
    }

    /// Sends one command line; `shown` is what the transcript records instead (masking).
    func send(_ line: String, shown: String? = nil) throws {
        transcript.client(shown ?? line)
        let bytes = Array((line + "\r\n").utf8)
        try bytes.withUnsafeBytes { raw in
            if let tls { try tls.write(raw, deadline: deadline) } else { try socket.write(raw, deadline: deadline) }
        }
    }

    /// Sends bytes that carry a secret (an AUTH response): recorded masked, buffer wiped.
    func sendSecret(_ encoded: SecureBytes, prefix: String = "") throws {
        transcript.client(prefix + "<masked: \(encoded.count) base64 characters>")
        let line = SecureBytes(Array(prefix.utf8))
        encoded.withUnsafeBytes { line.append(contentsOf: $0) }
        line.append(contentsOf: [0x0d, 0x0a])
        try line.withUnsafeBytes { raw in
            if let tls { try tls.write(raw, deadline: deadline) } else { try socket.write(raw, deadline: deadline) }
        }
    }

    /// Reads one complete reply (all its lines) before the deadline.
    func readReply() throws -> SMTPReply {
        let until = deadline
        var lines: [String] = []
        var code = 0
        while true {
            let line = try readLine(until: until)
            transcript.server(line)
            guard line.count >= 3, let number = Int(line.prefix(3)) else {
                throw MailSecError(.invalidInput, "not an SMTP reply: \"\(line.prefix(80))\"")
            }
            if code == 0 { code = number }
            let separator = line.dropFirst(3).first
            lines.append(String(line.dropFirst(4)))
            if separator != "-" { return SMTPReply(code: code, lines: lines) }
            if lines.count > 1000 { throw MailSecError(.invalidInput, "a reply of more than 1000 lines") }
        }
    }

    private func readLine(until: Date) throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: 0x0a) {
                var end = newline
                if end > 0, buffer[end - 1] == 0x0d { end -= 1 }
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return line
            }
            guard buffer.count <= Self.maximumLineLength else {
                throw MailSecError(.invalidInput, "the server sent a line longer than \(Self.maximumLineLength) bytes without an end")
            }
            let chunk: [UInt8]
            if let tls {
                chunk = try tls.read(capacity: 16_384, deadline: until)
            } else {
                try socket.wait(for: Int16(POLLIN), until: until)
                var raw = [UInt8](repeating: 0, count: 16_384)
                let count = Glibc.read(socket.descriptor, &raw, raw.count)
                if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                chunk = count > 0 ? Array(raw.prefix(count)) : []
            }
            if chunk.isEmpty { throw MailSecError(.io, "the server closed the connection") }
            buffer.append(contentsOf: chunk)
        }
    }

    func close() {
        tls?.shutdown()
    }
}
