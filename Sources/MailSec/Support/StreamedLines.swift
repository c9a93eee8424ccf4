import Glibc

/// The lines of a file or of standard input, read in chunks: memory stays at
/// one line's maximum plus a chunk however large the input. A line longer
/// than the maximum is skipped (and counted), never buffered whole.
package final class StreamedLines: Sequence, IteratorProtocol {
    private let descriptor: Int32
    private let closeWhenDone: Bool
    package let maximumLineLength: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// How far past `start` the buffer has been searched for an LF.
    private var scanned = 0
    private var endOfFile = false
    /// Inside a line that was too long: its rest is dropped up to the next LF.
    private var skipping = false
    package private(set) var skippedLongLines = 0

    /// Opens `path` (a regular file; a FIFO or device is refused), or reads stdin for `-`.
    package init(path: String, maximumLineLength: Int = 65_536) throws {
        self.maximumLineLength = maximumLineLength
        if path == "-" {
            descriptor = 0
            closeWhenDone = false
        } else {
            descriptor = try SecureFileSystem.openRegularFile(path).descriptor
            closeWhenDone = true
        }
    }

    deinit {
        if closeWhenDone { close(descriptor) }
    }

    /// The next line without its LF (a CR before it is kept for the caller); nil at the end.
    package func next() -> Substring? {
        while true {
            if let newline = buffer[(start + scanned)...].firstIndex(of: 0x0a) {
                let line = buffer[start..<newline]
                start = newline + 1
                scanned = 0
                if skipping {
                    skipping = false
                    continue
                }
                return Substring(decoding: line, as: UTF8.self)
            }
            scanned = buffer.count - start
            if scanned > maximumLineLength {
                if !skipping { skippedLongLines += 1 }
                skipping = true
                start = buffer.count
                scanned = 0
            }
            if endOfFile {
                guard start < buffer.count, !skipping else { return nil }
                let line = buffer[start...]
                start = buffer.count
                return Substring(decoding: line, as: UTF8.self)
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { endOfFile = true } else { buffer.append(contentsOf: chunk[0..<count]) }
        }
    }
}
