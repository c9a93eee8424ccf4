/// A Dovecot configuration as Dovecot reads it, 2.3 or 2.4: `key = value`
/// settings, `name [argument] { ... }` sections, `!include` / `!include_try`
/// with globs, `$name` references to earlier values (2.3's `protocols =
/// $protocols imap`), `<file` values. Only what TLS depends on is
/// interpreted; the rest is kept as settings.
public struct DovecotConfiguration: Sendable {
    /// One `key = value` line.
    public struct Setting: Sendable, Equatable {
        /// The value as written (`<` file references kept).
        public var value: String
        /// The file the line is in.
        public var file: String
        /// Its line number.
        public var line: Int
        /// The section path it sits in, outermost first (`service imap-login`, `inet_listener imaps`).
        public var sections: [Section]
    }

    /// `name argument {`: e.g. `service imap-login`, `local_name imap.example.com`.
    public struct Section: Sendable, Hashable {
        /// The section's kind: `service`, `inet_listener`, `protocol`, `local_name`, ...
        public var name: String
        /// The name after it, if any: `imap-login`, `imaps`, `imap.example.com`.
        public var argument: String?
    }

    /// Every setting in file order (later ones override earlier ones in the same section).
    public private(set) var settings: [(key: String, setting: Setting)] = []
    /// Lines Dovecot would refuse, includes it cannot read, with file and line.
    public private(set) var problems: [ConfigProblem] = []
    /// The files read, the main one first.
    public private(set) var files: [String] = []

    /// 2.4 when `dovecot_config_version` is set (it must come first there).
    public var isVersion24: Bool { settings.contains { $0.key == "dovecot_config_version" && $0.setting.sections.isEmpty } }

    static let maximumIncludeDepth = 20
    static let maximumFiles = 500
    /// What `$name` references may add up to over the whole configuration: each
    /// value may double the last, and a few lines must not fill the memory.
    static let maximumExpansion = 1 << 20

    /// Reads `path` and what it includes, as the machine under `root` would.
    public init(path: String, root: String = "/") {
        var reader = Reader(root: root)
        reader.read(file: path, depth: 0, sections: [])
        settings = reader.settings
        problems = reader.problems
        files = reader.files
    }

    /// Parses text already read (doveconf -n's output, or a test's); includes are read under `root`.
    public init(text: String, path: String, root: String = "/") {
        var reader = Reader(root: root)
        reader.files.append(path)
        reader.parse(text, file: path, depth: 0, sections: [])
        settings = reader.settings
        problems = reader.problems
        files = reader.files
    }

    /// The last value of a top-level setting.
    public func value(_ key: String) -> Setting? {
        settings.last { $0.key == key && $0.setting.sections.isEmpty }?.setting
    }

    /// The last value of `key` inside sections matching `path` exactly (e.g. [service imap-login, inet_listener imaps]).
    public func value(_ key: String, in path: [Section]) -> Setting? {
        settings.last { $0.key == key && $0.setting.sections == path }?.setting
    }

    /// The sections that occur, each once, in order.
    public var sectionPaths: [[Section]] {
        var seen: Set<[Section]> = []
        var paths: [[Section]] = []
        for (_, setting) in settings where !setting.sections.isEmpty {
            for depth in 1...setting.sections.count {
                let path = Array(setting.sections.prefix(depth))
                if seen.insert(path).inserted { paths.append(path) }
            }
        }
        return paths
    }

    /// The parser: lines, sections, includes.
    private struct Reader {
        let root: String
        var settings: [(key: String, setting: Setting)] = []
        var problems: [ConfigProblem] = []
        var files: [String] = []
        /// The latest value of each key in each section, for `$name` references.
        private var latest: [SettingKey: String] = [:]
        private var expanded = 0

        private struct SettingKey: Hashable {
            var key: String
            var sections: [Section]
        }

        init(root: String) {
            self.root = root
        }

        mutating func read(file: String, depth: Int, sections: [Section], optional: Bool = false) {
            guard depth <= DovecotConfiguration.maximumIncludeDepth else {
                problems.append(ConfigProblem(file: file, line: 0, message: "includes nested more than \(DovecotConfiguration.maximumIncludeDepth) deep (an include loop?)"))
                return
            }
            guard files.count < DovecotConfiguration.maximumFiles else {
                problems.append(ConfigProblem(file: file, line: 0, message: "more than \(DovecotConfiguration.maximumFiles) configuration files"))
                return
            }
            let text: String
            do {
                text = try SecureFileSystem.readText(RootedPath.join(root, file))
            } catch let error as MailSecError {
                if !(optional && error.code == .fileNotFound) {
                    problems.append(ConfigProblem(file: file, line: 0, message: error.message))
                }
                return
            } catch {
                return
            }
            files.append(file)
            parse(text, file: file, depth: depth, sections: sections)
        }

        mutating func parse(_ text: String, file: String, depth: Int, sections outer: [Section]) {
            var sections = outer
            for (offset, raw) in text.physicalLines().enumerated() {
                let number = offset + 1
                var line = Substring(raw).drop { $0 == " " || $0 == "\t" }
                if line.isEmpty || line.hasPrefix("#") { continue }
                if let hash = Self.commentStart(line) { line = line[..<hash] }
                let trimmed = line.trimmingWhitespace()
                if trimmed.isEmpty { continue }
                if trimmed.hasPrefix("!include") {
                    let optional = trimmed.hasPrefix("!include_try")
                    let target = Self.unquote(trimmed.drop { $0 != " " && $0 != "\t" }.trimmingWhitespace())
                    guard !target.isEmpty else {
                        problems.append(ConfigProblem(file: file, line: number, message: "!include without a file name"))
                        continue
                    }
                    let path = target.hasPrefix("/") ? target : SecureFileSystem.directory(of: file) + "/" + target
                    let matches = Self.glob(path, root: root)
                    if matches.isEmpty, !optional, !path.contains("*") && !path.contains("?") {
                        problems.append(ConfigProblem(file: file, line: number, message: "!include \(path): no such file"))
                    }
                    for match in matches { read(file: match, depth: depth + 1, sections: sections, optional: optional) }
                    continue
                }
                if trimmed == "}" {
                    guard sections.count > outer.count else {
                        problems.append(ConfigProblem(file: file, line: number, message: "'}' without an open section"))
                        continue
                    }
                    sections.removeLast()
                    continue
                }
                if trimmed.hasSuffix("{") {
                    let header = trimmed.dropLast().trimmingWhitespace()
                    let words = header.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { Self.unquote(String($0)) }
                    guard let name = words.first, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                        problems.append(ConfigProblem(file: file, line: number, message: "cannot read the section header \(TextSanitizer.quoted(header))"))
                        continue
                    }
                    sections.append(Section(name: name, argument: words.count > 1 ? words.dropFirst().joined(separator: " ") : nil))
                    guard sections.count <= 32 else {
                        problems.append(ConfigProblem(file: file, line: number, message: "sections nested more than 32 deep"))
                        sections.removeLast()
                        continue
                    }
                    continue
                }
                guard let equals = trimmed.firstIndex(of: "=") else {
                    problems.append(ConfigProblem(file: file, line: number, message: "expected 'key = value', found \(TextSanitizer.quoted(trimmed.prefix(120)))"))
                    continue
                }
                let key = trimmed[..<equals].trimmingWhitespace()
                guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "/" }) else {
                    problems.append(ConfigProblem(file: file, line: number, message: "a setting name must be a word, found \(TextSanitizer.quoted(key.prefix(80)))"))
                    continue
                }
                var value = Self.unquote(trimmed[trimmed.index(after: equals)...].trimmingWhitespace())
                value = expand(value, sections: sections, file: file, line: number)
                settings.append((key, Setting(value: value, file: file, line: number, sections: sections)))
                latest[SettingKey(key: key, sections: sections)] = value
            }
            if sections.count > outer.count {
                problems.append(ConfigProblem(file: file, line: 0, message: "\(sections.count - outer.count) section\(sections.count - outer.count == 1 ? "" : "s") not closed with '}'"))
            }
        }

        /// `$name` and `%{name}`-free references to settings set earlier (2.3: `protocols = $protocols imap`).
        mutating func expand(_ value: String, sections: [Section], file: String, line: Int) -> String {
            guard value.contains("$") else { return value }
            var result = ""
            var rest = Substring(value)
            while let dollar = rest.firstIndex(of: "$") {
                result += rest[..<dollar]
                let name = rest[rest.index(after: dollar)...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                if name.isEmpty {
                    result += "$"
                    rest = rest[rest.index(after: dollar)...]
                    continue
                }
                let referenced = latest[SettingKey(key: String(name), sections: sections)] ?? latest[SettingKey(key: String(name), sections: [])] ?? ""
                guard expanded + referenced.utf8.count <= DovecotConfiguration.maximumExpansion else {
                    if expanded <= DovecotConfiguration.maximumExpansion {   // said once
                        problems.append(ConfigProblem(file: file, line: line, message: "$\(name) references expand to more than \(DovecotConfiguration.maximumExpansion >> 20) MiB in all"))
                    }
                    expanded = DovecotConfiguration.maximumExpansion + 1
                    return ""
                }
                expanded += referenced.utf8.count
                result += referenced
                rest = rest[name.endIndex...]
            }
            return (result + rest).trimmingWhitespace()
        }

        /// Where a `#` comment starts outside quotes, if one does.
        static func commentStart(_ line: Substring) -> Substring.Index? {
            var quoted = false
            var index = line.startIndex
            while index < line.endIndex {
                let character = line[index]
                if character == "\"" { quoted.toggle() }
                if character == "#", !quoted, index == line.startIndex || line[line.index(before: index)] == " " || line[line.index(before: index)] == "\t" {
                    return index
                }
                index = line.index(after: index)
            }
            return nil
        }

        static func unquote(_ text: String) -> String {
            guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { return text }
            return String(text.dropFirst().dropLast()).replacingOccurrences("\\\"", with: "\"")
        }

        /// The files a `!include` glob names, sorted, read under `root`. Only the last path component may hold `*` or `?`.
        static func glob(_ path: String, root: String) -> [String] {
            let directory = SecureFileSystem.directory(of: path)
            let pattern = SecureFileSystem.baseName(of: path)
            guard pattern.contains("*") || pattern.contains("?") else {
                return FileStatus(path: RootedPath.join(root, path)) != nil ? [path] : []
            }
            guard let names = try? SecureFileSystem.entries(of: RootedPath.join(root, directory)) else { return [] }
            return names.filter { matches($0, pattern) }.map { directory + "/" + $0 }
        }

        /// fnmatch with `*` and `?` only.
        static func matches(_ name: String, _ pattern: String) -> Bool {
            let text = Array(name.unicodeScalars), glob = Array(pattern.unicodeScalars)
            var t = 0, g = 0, star = -1, mark = 0
            while t < text.count {
                if g < glob.count, glob[g] == "?" || glob[g] == text[t] {
                    t += 1; g += 1
                } else if g < glob.count, glob[g] == "*" {
                    star = g; mark = t; g += 1
                } else if star >= 0 {
                    g = star + 1; mark += 1; t = mark
                } else {
                    return false
                }
            }
            while g < glob.count, glob[g] == "*" { g += 1 }
            return g == glob.count
        }
    }
}
