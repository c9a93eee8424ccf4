/// A problem in a configuration file, named by file and line as Postfix does.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

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

        init(text: String, number: Int, parts: [(offset: Int, number: Int)]? = nil) {
            self.text = text
            self.number = number
            self.parts = parts ?? [(0, number)]
        }

        /// The physical lines it spans.
        var numbers: ClosedRange<Int> { number...parts.last!.number }

        /// The physical line of the character at `offset`.
        func number(at offset: Int) -> Int { parts.last { $0.offset <= offset }?.number ?? number }
    }

    static func split(_ text: String, file: String) -> (lines: [Line], problems: [ConfigProblem]) {
        var lines: [Line] = []
        var problems: [ConfigProblem] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var physical = Substring(raw)
            if physical.hasSuffix("\r") { physical = physical.dropLast() }
            let trimmed = physical.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if physical.first == " " || physical.first == "\t" {
                if lines.isEmpty {
                    problems.append(ConfigProblem(file: file, line: number, message: "logical line must not start with white space"))
                    continue
                }
                // Postfix keeps the continuation's leading white space and drops the newline.
                lines[lines.count - 1].parts.append((lines[lines.count - 1].text.count, number))
                lines[lines.count - 1].text += physical
            } else {
                lines.append(Line(text: String(physical), number: number))
            }
        }
        // A logical line starts with non-blank text, so trimming only drops the trailing blanks.
        for index in lines.indices { lines[index].text = lines[index].text.trimmingWhitespace() }
        return (lines, problems)
    }
}
