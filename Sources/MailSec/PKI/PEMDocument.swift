/// One `-----BEGIN X-----` ... `-----END X-----` block of a PEM file.
package struct PEMBlock: Sendable {
    /// `CERTIFICATE`, `PRIVATE KEY`, `CERTIFICATE REQUEST`, ...
    package var label: String
    /// 1-based line of the BEGIN line.
    package var line: Int
    /// Byte range of the whole block, BEGIN to END line inclusive.
    package var range: Range<Int>
    /// Byte ranges of the base64 body lines, with their 1-based line numbers.
    var bodyLines: [(line: Int, range: Range<Int>)]
    /// RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED` (traditional encrypted keys).
    package var headers: [String: String]

    package var isPrivateKey: Bool { label.hasSuffix("PRIVATE KEY") }

    package var isEncrypted: Bool {
        label == "ENCRYPTED PRIVATE KEY" || (headers["Proc-Type"]?.contains("ENCRYPTED") ?? false)
    }
}

/// Splits PEM files into blocks ourselves, so that errors can name the line
/// (OpenSSL only says "no start line").
package enum PEMDocument {
    /// The blocks in `bytes`, in order. Returns an empty array when there is
    /// no BEGIN line at all (the file may be DER). Throws for a block that is
    /// truncated or whose END does not match its BEGIN.
    package static func blocks(in bytes: UnsafeRawBufferPointer, source: String) throws -> [PEMBlock] {
        var blocks: [PEMBlock] = []
        var open: PEMBlock?
        var inHeaders = false
        var lineNumber = 0
        var lineStart = 0
        while lineStart < bytes.count {
            lineNumber += 1
            var lineEnd = lineStart
            while lineEnd < bytes.count, bytes[lineEnd] != 0x0a { lineEnd += 1 }
            let next = lineEnd + 1
            var contentEnd = lineEnd
            while contentEnd > lineStart, bytes[contentEnd - 1] == 0x0d || bytes[contentEnd - 1] == 0x20 || bytes[contentEnd - 1] == 0x09 {
                contentEnd -= 1
            }
            let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<contentEnd]), as: UTF8.self)
            if let label = boundary(line, "BEGIN") {
                if let block = open {
                    throw MailSecError(.invalidInput, "\(source): line \(lineNumber): BEGIN \(label) inside the \(block.label) block that starts at line \(block.line), whose END line is missing (truncated or pasted together?)")
                }
                open = PEMBlock(label: label, line: lineNumber, range: lineStart..<lineStart, bodyLines: [], headers: [:])
                inHeaders = true
            } else if let label = boundary(line, "END") {
                guard var block = open else {
                    throw MailSecError(.invalidInput, "\(source): line \(lineNumber): END \(label) without a BEGIN line")
                }
                guard label == block.label else {
                    throw MailSecError(.invalidInput, "\(source): line \(lineNumber): END \(label) does not match BEGIN \(block.label) at line \(block.line)")
                }
                block.range = block.range.lowerBound..<min(next, bytes.count)
                blocks.append(block)
                open = nil
            } else if open != nil {
                if inHeaders, let colon = line.firstIndex(of: Character(":")) {
                    let key = String(line[..<colon])
                    let value = String(line[line.index(after: colon)...]).trimmingWhitespace()
                    open!.headers[key] = value
                } else if line.isEmpty {
                    inHeaders = false
                } else {
                    inHeaders = false
                    open!.bodyLines.append((lineNumber, lineStart..<contentEnd))
                }
            }
            lineStart = next
        }
        if let block = open {
            throw MailSecError(.invalidInput, "\(source): truncated PEM: the \(block.label) block that starts at line \(block.line) has no END line")
        }
        return blocks
    }

    /// The DER bytes of a block's body; a base64 error names the line and column.
    package static func decodeBody(of block: PEMBlock, in bytes: UnsafeRawBufferPointer, source: String) throws -> [UInt8] {
        var body: [UInt8] = []
        var starts: [(offset: Int, line: Int)] = []
        for (line, range) in block.bodyLines {
            starts.append((body.count, line))
            body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
        do {
            let der = try Base64.decode(body)
            guard !der.isEmpty else {
                throw MailSecError(.invalidInput, "\(source): the \(block.label) block at line \(block.line) is empty")
            }
            return der
        } catch let error as Base64.DecodingError {
            let start = starts.last { $0.offset <= error.offset } ?? (0, block.line)
            throw MailSecError(.invalidInput, "\(source): line \(start.line), column \(error.offset - start.offset + 1): \(error.reason) in the \(block.label) block that starts at line \(block.line)")
        }
    }

    /// True when the bytes hold an encrypted private key in either PEM form.
    package static func looksEncrypted(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let markers = ["-----BEGIN ENCRYPTED PRIVATE KEY-----", "Proc-Type: 4,ENCRYPTED"]
        return markers.contains { contains(bytes, Array($0.utf8)) }
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if zip(needle.indices, needle).allSatisfy({ haystack[start + $0.0] == $0.1 }) { return true }
        }
        return false
    }

    private static func boundary(_ line: String, _ word: String) -> String? {
        let prefix = "-----\(word) "
        guard line.hasPrefix(prefix), line.hasSuffix("-----"), line.count > prefix.count + 5 else { return nil }
        return String(line.dropFirst(prefix.count).dropLast(5))
    }
}
