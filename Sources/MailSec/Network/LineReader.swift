/// Reads LF-terminated lines (a CR before the LF is dropped) and counted
/// byte runs (IMAP and ManageSieve literals) from a byte stream, never
/// holding more than one line's maximum plus one read's worth of input.
final class LineReader {
    private(set) var stream: ByteStream
    let maximumLineLength: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// How far past `start` the buffer has already been searched for an LF, so
    /// a long line arriving in small pieces is scanned once, not once per piece.
    private var scanned = 0
    private static let chunkSize = 16_384

    init(stream: ByteStream, maximumLineLength: Int) {
        self.stream = stream
        self.maximumLineLength = maximumLineLength
    }

    /// Bytes received over the reader's life, across streams.
    private(set) var totalReceived = 0

    /// Bytes received but not yet taken.
    var bufferedCount: Int { buffer.count - start }

    /// Switches to a new stream (TLS after STARTTLS). Anything the server sent
    /// before TLS began and we have not read would otherwise be taken as if
    /// it came inside TLS: the STARTTLS command-injection flaw (CVE-2011-0411
    /// and its kin). Such bytes are a protocol violation.
    func replaceStream(_ new: ByteStream) throws {
        guard bufferedCount == 0 else {
            throw MailSecError(.protocolViolation, "\(stream.peerName) sent \(bufferedCount) bytes after agreeing to start TLS and before the handshake; a client must not read them as part of the TLS session (a STARTTLS injection flaw)",
                               remedy: "upgrade the server software: it mishandles pipelined input around STARTTLS")
        }
        stream = new
        buffer.removeAll(keepingCapacity: true)
        start = 0
        scanned = 0
    }

    /// The next line without its LF (and CR); nil at end of stream between lines.
    func readLine(deadline: Deadline) throws -> [UInt8]? {
        while true {
            if let line = try takeBufferedLine() { return line }
            guard try fill(deadline: deadline) else {
                if bufferedCount > 0 {
                    throw MailSecError(.connectionClosed, "\(stream.peerName) closed the connection in the middle of a line")
                }
                return nil
            }
        }
    }

    /// Like `readLine`, but the end of the stream is an error: the peer left mid-dialogue.
    func requireLine(deadline: Deadline) throws -> [UInt8] {
        guard let line = try readLine(deadline: deadline) else {
            throw MailSecError(.connectionClosed, "\(stream.peerName) closed the connection")
        }
        return line
    }

    /// A complete line already received, if any; throws once a line grows past the maximum.
    func takeBufferedLine() throws -> [UInt8]? {
        let searchFrom = start + scanned
        guard let newline = buffer[searchFrom...].firstIndex(of: 0x0a) else {
            scanned = bufferedCount
            if bufferedCount > maximumLineLength + 1 { throw tooLong() }
            return nil
        }
        var end = newline
        if end > start, buffer[end - 1] == 0x0d { end -= 1 }
        guard end - start <= maximumLineLength else { throw tooLong() }
        let line = Array(buffer[start..<end])
        consume(upTo: newline + 1)
        return line
    }

    /// Exactly `count` bytes (a literal's content). The caller bounds `count`
    /// from above; a negative one (a `{-5}` parsed by a careless caller) is
    /// refused here rather than trapping on an inverted range (found by fuzzing).
    func readBytes(_ count: Int, deadline: Deadline) throws -> [UInt8] {
        guard count >= 0 else { throw MailSecError(.protocolViolation, "\(stream.peerName) announced a literal of \(count) bytes") }
        while bufferedCount < count {
            guard try fill(deadline: deadline) else {
                throw MailSecError(.connectionClosed, "\(stream.peerName) closed the connection in the middle of a \(count)-byte literal")
            }
        }
        let bytes = Array(buffer[start..<(start + count)])
        consume(upTo: start + count)
        return bytes
    }

    /// Reads once, waiting until `deadline`. False at end of stream.
    @discardableResult
    func fill(deadline: Deadline) throws -> Bool {
        try receive { try stream.read(into: $0, deadline: deadline) } ?? true
    }

    /// Reads what has arrived without waiting. False at end of stream; true otherwise (even if nothing came).
    func fillAvailable() throws -> Bool {
        try receive { try stream.readAvailable(into: $0) } ?? true
    }

    /// One read's worth of room, reused: a peer that trickles a byte per
    /// packet must cost a byte's work per byte, not a buffer's.
    private var scratch = [UInt8](repeating: 0, count: LineReader.chunkSize)

    /// Appends one read's worth; nil when nothing came, false at end of stream.
    private func receive(_ read: (UnsafeMutableRawBufferPointer) throws -> Int?) throws -> Bool? {
        guard let count = try scratch.withUnsafeMutableBytes({ try read($0) }) else { return nil }
        buffer.append(contentsOf: scratch[0..<count])
        totalReceived += count
        return count > 0
    }

    private func consume(upTo index: Int) {
        start = index
        scanned = 0
        // Compact once the consumed part dominates: amortised linear.
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start > 65_536 && start > buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
    }

    private func tooLong() -> MailSecError {
        MailSecError(.protocolViolation, "\(stream.peerName) sent a line longer than \(maximumLineLength) bytes")
    }
}
