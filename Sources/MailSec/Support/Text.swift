/// Small text helpers the configuration readers share; no Foundation here.
extension StringProtocol {
    /// Without leading and trailing white space (spaces, tabs, CR, LF, any Unicode space).
    func trimmingWhitespace() -> String {
        let scalars = String(self).unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }

    /// Trims any of the characters in `set` from both ends.
    func trimmingCharacters(in set: String) -> String {
        let drop: (Character) -> Bool = { set.contains($0) }
        return String(self.drop(while: drop).reversed().drop(while: drop).reversed())
    }

    /// Each of `characters` replaced by a space.
    func replacingCharacters(_ characters: [Character]) -> String {
        String(map { characters.contains($0) ? " " : $0 })
    }

    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return String(self) }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

extension StringProtocol {
    /// The physical lines: split at each LF, a CR before it dropped, so CRLF
    /// files read like LF ones. (In Swift "\r\n" is one Character, so
    /// splitting on the Character "\n" would never find it.) Like
    /// `split(omittingEmptySubsequences: false)`, a final LF yields a last empty line.
    func physicalLines() -> [Substring] {
        let text = Substring(self)
        let scalars = text.unicodeScalars
        var lines: [Substring] = []
        var start = scalars.startIndex
        var index = start
        while index < scalars.endIndex {
            if scalars[index] == "\n" {
                var end = index
                if end > start, scalars[scalars.index(before: end)] == "\r" { end = scalars.index(before: end) }
                lines.append(Substring(scalars[start..<end]))
                start = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        lines.append(Substring(scalars[start...]))
        return lines
    }

    /// The physical lines that are not empty.
    func nonEmptyLines() -> [Substring] {
        physicalLines().filter { !$0.isEmpty }
    }
}
