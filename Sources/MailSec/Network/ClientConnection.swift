import Synchronization

/// What was said on a connection, for `--transcript`: `C:`/`S:` lines and TLS
/// events. Secrets are masked by the sender before they are recorded.
///
/// Sendable by construction: the lines live behind a mutex, so a probe's
/// worker thread can record while the caller holds the transcript.
public final class Transcript: Sendable {
    private let recorded = Mutex<[String]>([])
    /// Enough for any honest dialogue; a server that talks without end must not grow it without end.
    static let maximumLines = 2_000

    /// An empty transcript.
    public init() {}

    /// The lines so far, oldest first.
    public var lines: [String] { recorded.withLock { $0 } }

    func client(_ line: String) { record("C: \(line)") }
    func server(_ line: String) { record("S: \(line)") }
    func event(_ text: String) { record("*  \(text)") }

    private func record(_ line: String) {
        recorded.withLock { lines in
            if lines.count < Self.maximumLines {
                lines.append(line.count > 1_000 ? String(line.prefix(1_000)) + "… (\(line.utf8.count) bytes)" : line)
            } else if lines.count == Self.maximumLines {
                lines.append("*  (transcript cut off after \(Self.maximumLines) lines)")
            }
        }
    }
}

/// The client side of a line-based mail protocol session (SMTP, IMAP, POP3,
/// ManageSieve): a plain connection that may turn into TLS, one line reader
/// over whichever stream is current, and a deadline for every step, capped
/// by an overall deadline for the whole session.
final class ClientConnection {
    private let socket: Socket
    private(set) var tls: TLSStream?
    private let reader: LineReader
    let timeout: Duration
    let overallDeadline: Deadline?
    let transcript: Transcript

    init(host: String, port: UInt16, source: String?, timeout: Duration, overallDeadline: Deadline?,
         maximumLineLength: Int, transcript: Transcript, peerName: String) throws {
        self.timeout = timeout
        self.overallDeadline = overallDeadline
        self.transcript = transcript
        socket = try Socket.connect(to: .inet(host: host, port: port), source: source,
                                    deadline: Deadline.after(timeout).capped(by: overallDeadline), peerName: peerName)
        reader = LineReader(stream: socket, maximumLineLength: maximumLineLength)
    }

    /// The deadline for the step starting now.
    var deadline: Deadline { Deadline.after(timeout).capped(by: overallDeadline) }

    /// True once the overall deadline has passed: a timeout then is the session's, not the step's.
    var overallDeadlinePassed: Bool { overallDeadline?.hasPassed ?? false }

    var isTLS: Bool { tls != nil }

    /// Whether the server has sent anything at all: silence and a stalled reply are different faults.
    var receivedAnything: Bool { reader.totalReceived > 0 }

    /// Starts TLS on the connection (implicit TLS, or after STARTTLS was
    /// accepted); with `dane`, OpenSSL matches the chain against its records.
    func startTLS(serverName: String?, dane: DANEExpectation? = nil) throws -> (TLSDetails, [Certificate], DANEOutcome?) {
        let session = try TLSStream(over: socket, serverName: serverName, dane: dane)
        try reader.replaceStream(session)
        let details = try session.handshake(deadline: deadline)
        tls = session
        transcript.event("TLS handshake: \(details.version), \(details.cipher)")
        return (details, session.peerChain(), dane == nil ? nil : session.daneOutcome())
    }

    /// Sends one command line; `shown` is what the transcript records instead (masking).
    func send(_ line: String, shown: String? = nil) throws {
        transcript.client(shown ?? line)
        let bytes = Array((line + "\r\n").utf8)
        try bytes.withUnsafeBytes { try reader.stream.write($0, deadline: deadline) }
    }

    /// Sends a line that carries a secret (an AUTH response) between `prefix`
    /// and `suffix`: recorded masked, the assembled line wiped afterwards.
    func sendSecret(_ encoded: SecureBytes, prefix: String = "", suffix: String = "") throws {
        transcript.client(prefix + "<masked: \(encoded.count) base64 characters>" + suffix)
        var line = SecureBytes(Array(prefix.utf8))
        encoded.withUnsafeBytes { line.append(contentsOf: $0) }
        line.append(contentsOf: Array(suffix.utf8) + [0x0d, 0x0a])
        try line.withUnsafeBytes { try reader.stream.write($0, deadline: deadline) }
    }

    /// The next line from the server (recorded); the end of the stream is `.connectionClosed`.
    func readLine(deadline: Deadline? = nil) throws -> String {
        let bytes = try reader.requireLine(deadline: deadline ?? self.deadline)
        let line = String(decoding: bytes, as: UTF8.self)
        transcript.server(line)
        return line
    }

    /// Exactly `count` bytes: a literal's content (the caller bounds `count`).
    func readBytes(_ count: Int, deadline: Deadline? = nil) throws -> [UInt8] {
        let bytes = try reader.readBytes(count, deadline: deadline ?? self.deadline)
        transcript.server("<literal of \(count) bytes>")
        return bytes
    }

    /// Ends TLS politely; the socket closes when the connection is released.
    func close() {
        tls?.shutdown()
    }
}
