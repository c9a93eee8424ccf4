import Glibc

/// Streams `user:password` lines from a file descriptor: split at the first
/// colon, `#` comments and blank lines skipped. Reads in chunks, so memory
/// stays flat however large the file; each password goes straight into
/// zeroing storage and the read buffer is wiped as it is consumed.
package final class CredentialReader: Sequence, IteratorProtocol {
    private let descriptor: Int32
    private let closeWhenDone: Bool
    private var buffer: [UInt8] = []
    /// Where each read lands before it joins `buffer`; wiped after every read.
    private var chunk = [UInt8](repeating: 0, count: 65_536)
    private var start = 0
    /// How far past `start` the buffer has been searched for an LF: a long
    /// line arriving in chunks is scanned once, not once per chunk.
    private var scanned = 0
    private var endOfFile = false
    /// Inside a line that was too long: the rest of it is wiped and dropped up to the next LF.
    private var skipping = false
    /// No credential fits in a longer line (Dovecot's own line limit is 16 KiB).
    package static let maximumLineLength = 65_536
    private var lineNumber = 0
    /// Bytes consumed so far, for a progress display.
    package private(set) var bytesRead = 0
    /// The file's size when known (a regular file), for a progress display.
    package let totalBytes: Int?
    /// Called for a line that is not `user:password`.
    package var onMalformedLine: ((Int, String) -> Void)?

    /// Opens `path`, or reads stdin for `-`.
    package init(path: String) throws {
        if path == "-" {
            descriptor = 0
            closeWhenDone = false
            totalBytes = nil
        } else {
            let (opened, size) = try SecureFileSystem.openRegularFile(path)
            descriptor = opened
            closeWhenDone = true
            totalBytes = size
        }
    }

    deinit {
        wipe(0..<buffer.count)
        SecureMemory.wipe(&chunk)
        if closeWhenDone { close(descriptor) }
    }

    package func next() -> BatchCredential? {
        while true {
            guard let line = nextLine() else { return nil }
            lineNumber += 1
            defer { wipe(line) }
            if line.isEmpty, skipping {
                skipping = false
                onMalformedLine?(lineNumber, "line \(lineNumber): longer than \(Self.maximumLineLength) bytes, skipped")
                continue
            }
            var content = line
            if !content.isEmpty, buffer[content.upperBound - 1] == 0x0d { content = content.lowerBound..<(content.upperBound - 1) }
            let bytes = buffer[content]
            guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 }), first != UInt8(ascii: "#") else { continue }
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else {
                onMalformedLine?(lineNumber, "line \(lineNumber): no ':' between user and password")
                continue
            }
            let user = String(decoding: buffer[content.lowerBound..<colon], as: UTF8.self)
            guard !user.isEmpty else {
                onMalformedLine?(lineNumber, "line \(lineNumber): empty user name")
                continue
            }
            return BatchCredential(line: lineNumber, user: user, password: SecureBytes(buffer[(colon + 1)..<content.upperBound]))
        }
    }

    /// The range of the next line in `buffer` (without LF), reading more as needed.
    /// A line that was too long comes back as an empty range with `skipping` set.
    private func nextLine() -> Range<Int>? {
        while true {
            if let newline = buffer[(start + scanned)...].firstIndex(of: 0x0a) {
                let range = skipping ? newline..<newline : start..<newline
                if skipping { wipe(start..<newline) }
                bytesRead += newline + 1 - start
                start = newline + 1
                scanned = 0
                return range
            }
            scanned = buffer.count - start
            if scanned > Self.maximumLineLength {
                // Too long for any credential: wipe what came and keep nothing of it.
                wipe(start..<buffer.count)
                bytesRead += buffer.count - start
                start = buffer.count
                scanned = 0
                skipping = true
            }
            if endOfFile {
                if skipping {
                    skipping = false
                    lineNumber += 1
                    onMalformedLine?(lineNumber, "line \(lineNumber): longer than \(Self.maximumLineLength) bytes, skipped")
                }
                guard start < buffer.count else { return nil }
                let range = start..<buffer.count
                bytesRead += buffer.count - start
                start = buffer.count
                scanned = 0
                return range
            }
            compact()
            let count = read(descriptor, &chunk, chunk.count)
            if count <= 0 {
                if count < 0 && errno == EINTR { continue }
                endOfFile = true
            } else {
                buffer.append(contentsOf: chunk[0..<count])
                SecureMemory.wipe(&chunk, 0..<count)
            }
        }
    }

    /// Drops consumed bytes (already wiped) so the buffer does not grow with the file.
    private func compact() {
        guard start > 0 else { return }
        buffer.removeFirst(start)
        start = 0
    }

    private func wipe(_ range: Range<Int>) {
        let clamped = range.clamped(to: 0..<buffer.count)
        SecureMemory.wipe(&buffer, clamped)
        if range.upperBound < buffer.count, buffer[range.upperBound] == 0x0a { buffer[range.upperBound] = 0 }
    }
}
