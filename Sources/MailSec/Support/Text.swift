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
