/// A problem in a configuration file, named by file and line as Postfix does.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// The line, 0 when the problem is not on one line.
    public var line: Int
    /// What is wrong.
    public var message: String

    /// A problem at `file`:`line`.
    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `FILE, line N: message`.
    public var description: String { "\(file), line \(line): \(message)" }
}

/// Postfix's rule for joining physical lines into logical ones, shared by
/// main.cf and master.cf: a line starting with white space continues the one
/// before; empty lines and lines whose first non-blank character is `#` are
/// skipped and do not end a logical line.
enum PostfixLogicalLines {
    struct Line {
        var text: String
        /// The physical line the logical line starts on.
        var number: Int
        /// Where each physical line's part begins in `text` (in characters), and its number.
        var parts: [(offset: Int, number: Int)]
        /// `text.count`, kept as parts are added: counting a long value again for each
        /// continuation line would make a value continued over N lines cost N².
        private var characters: Int

        init(text: String, number: Int, parts: [(offset: Int, number: Int)]? = nil) {
            self.text = text
            self.number = number
            self.parts = parts ?? [(0, number)]
            characters = text.count
        }

        /// Adds a continuation line.
        mutating func append(_ physical: Substring, number: Int) {
            parts.append((characters, number))
            text += physical
            characters += physical.count
        }

        /// The physical lines it spans.
        var numbers: ClosedRange<Int> { number...parts.last!.number }

        /// The physical line of the character at `offset` (a binary search: one per token).
        func number(at offset: Int) -> Int {
            var low = 0, high = parts.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if parts[middle].offset <= offset { low = middle } else { high = middle - 1 }
            }
            return parts[low].number
        }
    }

    static func split(_ text: String, file: String) -> (lines: [Line], problems: [ConfigProblem]) {
        var lines: [Line] = []
        var problems: [ConfigProblem] = []
        var number = 0
        for physical in text.physicalLines() {
            number += 1
            let trimmed = physical.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if physical.first == " " || physical.first == "\t" {
                if lines.isEmpty {
                    problems.append(ConfigProblem(file: file, line: number, message: "logical line must not start with white space"))
                    continue
                }
                // Postfix keeps the continuation's leading white space and drops the newline.
                lines[lines.count - 1].append(physical, number: number)
            } else {
                lines.append(Line(text: String(physical), number: number))
            }
        }
        // A logical line starts with non-blank text, so trimming only drops the trailing blanks.
        for index in lines.indices { lines[index].text = lines[index].text.trimmingWhitespace() }
        return (lines, problems)
    }
}
