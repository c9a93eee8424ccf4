/// One service of master.cf: the eight columns and the command's arguments,
/// with `-o name=value` and `-o { name = value }` overrides pulled out.
public struct MasterService: Sendable, Equatable {
    /// The service name: `submissions`, `465`, or `127.0.0.1:10465`.
    public var name: String
    /// `inet`, `unix`, `unix-dgram`, `fifo` or `pass`.
    public var type: String
    /// The private column as written (`n`, `y` or `-`).
    public var privateColumn: String
    /// The unprivileged column as written.
    public var unprivileged: String
    /// The chroot column as written.
    public var chroot: String
    /// The wakeup column as written.
    public var wakeup: String
    /// The process limit column as written.
    public var maxProcesses: String
    /// The command: `smtpd`, `cleanup`, `pipe`, ...
    public var command: String
    /// The arguments after the command, as written (`-o` included).
    public var arguments: [String]
    /// One `-o name=value` override.
    public struct Override: Sendable, Equatable {
        /// The parameter name (`smtpd_tls_wrappermode`).
        public var name: String
        /// Its value, braces kept as written.
        public var value: String
        /// The physical line it is on.
        public var line: Int
    }

    /// The `-o` overrides in order; a later one wins.
    public var overrides: [Override]
    /// Physical lines: the service line and each continuation line.
    public var lines: ClosedRange<Int>

    /// The overrides as a dictionary, the last of each name winning.
    public var overrideValues: [String: String] {
        Dictionary(overrides.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
    }

    /// The line that sets an override, if any.
    public func override(_ name: String) -> Override? { overrides.last { $0.name == name } }

    /// The port part of an inet service name: `smtps`, `465`, `127.0.0.1:465`, `[::1]:smtps`.
    public var portName: String {
        guard let colon = name.lastIndex(of: ":") else { return name }
        return String(name[name.index(after: colon)...])
    }

    /// The address part, if the name has one.
    public var host: String? {
        guard let colon = name.lastIndex(of: ":") else { return nil }
        return String(name[..<colon]).trimmingBrackets
    }
}

/// A service stanza that is commented out, as Debian ships `#submissions inet ...`.
public struct CommentedService: Sendable, Equatable {
    /// The service, as it would read uncommented.
    public var service: MasterService
    /// The lines to uncomment: the service line and its `#  -o` lines (prose comments between them excluded).
    public var lineNumbers: [Int]
    /// Those lines as they would read uncommented.
    public var uncommented: [String]
}

/// master.cf as Postfix's master reads it.
public struct PostfixMasterConfig: Sendable {
    /// The file it was read from.
    public let path: String
    /// Every service defined, in file order.
    public private(set) var services: [MasterService] = []
    /// Services present only as comments (as Debian ships `#submissions`).
    public private(set) var commented: [CommentedService] = []
    /// Lines Postfix would refuse or misread, with their numbers.
    public private(set) var problems: [ConfigProblem] = []

    static let types: Set<String> = ["inet", "unix", "unix-dgram", "fifo", "pass"]

    /// Parses master.cf's text; `path` names it in problems.
    public init(text: String, path: String) {
        self.path = path
        let (lines, problems) = PostfixLogicalLines.split(text, file: path)
        self.problems = problems
        for line in lines {
            do {
                services.append(try Self.parseService(line))
            } catch {
                self.problems.append(ConfigProblem(file: path, line: line.number, message: error.message))
            }
        }
        commented = Self.findCommented(text.physicalLines().map(String.init))
    }

    /// Reads and parses the master.cf at `path`.
    public static func load(_ path: String) throws -> PostfixMasterConfig {
        PostfixMasterConfig(text: try SecureFileSystem.readText(path), path: path)
    }

    /// The service with this name and type, as `postconf -M name/type` finds it.
    public func service(named name: String, type: String) -> MasterService? {
        services.first { $0.name == name && $0.type == type }
    }

    struct EntryError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    static func parseService(_ line: PostfixLogicalLines.Line) throws(EntryError) -> MasterService {
        let located = try tokenize(line.text)
        let tokens = located.map(\.text)
        guard tokens.count >= 8 else {
            throw EntryError("expected 8 fields (service type private unpriv chroot wakeup maxproc command), found \(tokens.count): \"\(line.text)\"")
        }
        guard types.contains(tokens[1]) else {
            throw EntryError("unknown service type \"\(tokens[1])\" for service \(tokens[0]); expected inet, unix, unix-dgram, fifo or pass")
        }
        for (index, field) in [(2, "private"), (3, "unpriv"), (4, "chroot")] where !["y", "n", "-"].contains(tokens[index]) {
            throw EntryError("bad \(field) field \"\(tokens[index])\" for service \(tokens[0]); expected y, n or -")
        }
        let wakeup = tokens[5].hasSuffix("?") ? String(tokens[5].dropLast()) : tokens[5]
        guard wakeup == "-" || UInt(wakeup) != nil else {
            throw EntryError("bad wakeup field \"\(tokens[5])\" for service \(tokens[0]); expected a number of seconds or -")
        }
        guard tokens[6] == "-" || UInt(tokens[6]) != nil else {
            throw EntryError("bad maxproc field \"\(tokens[6])\" for service \(tokens[0]); expected a number or -")
        }
        var overrides: [MasterService.Override] = []
        let arguments = Array(located[8...])
        var index = 0
        while index < arguments.count {
            defer { index += 1 }
            guard arguments[index].text == "-o" else { continue }
            index += 1
            guard index < arguments.count else { throw EntryError("-o without name=value in service \(tokens[0])") }
            let written = arguments[index].text
            let setting = written.hasPrefix("{") ? String(written.dropFirst().dropLast()) : written
            guard let equals = setting.firstIndex(of: "=") else { throw EntryError("-o \(written): missing '=' in service \(tokens[0])") }
            let name = setting[..<equals].trimmingWhitespace()
            guard !name.isEmpty else { throw EntryError("-o \(written): missing parameter name in service \(tokens[0])") }
            overrides.append(MasterService.Override(name: name, value: setting[setting.index(after: equals)...].trimmingWhitespace(),
                                                    line: line.number(at: arguments[index].offset)))
        }
        return MasterService(name: tokens[0], type: tokens[1], privateColumn: tokens[2], unprivileged: tokens[3], chroot: tokens[4],
                             wakeup: tokens[5], maxProcesses: tokens[6], command: tokens[7], arguments: arguments.map(\.text),
                             overrides: overrides, lines: line.numbers)
    }

    /// Splits on white space; a `{` starts a token that runs to its matching `}`.
    /// Each token comes with the offset it starts at, for its physical line.
    static func tokenize(_ text: String) throws(EntryError) -> [(text: String, offset: Int)] {
        var tokens: [(text: String, offset: Int)] = []
        var current = "", start = 0, depth = 0
        for (offset, character) in text.enumerated() {
            if depth == 0, character == " " || character == "\t" {
                if !current.isEmpty { tokens.append((current, start)); current = "" }
                continue
            }
            if current.isEmpty { start = offset }
            if character == "{" { depth += 1 }
            if character == "}" {
                depth -= 1
                if depth < 0 { throw EntryError("unexpected '}' in \"\(text)\"") }
            }
            current.append(character)
        }
        if depth > 0 { throw EntryError("missing '}' in \"\(text)\"") }
        if !current.isEmpty { tokens.append((current, start)) }
        return tokens
    }

    /// Commented-out stanzas: `#NAME TYPE ...` parsing as a service, followed
    /// by `#  -o ...` lines. Indented prose comments in between are skipped.
    static func findCommented(_ physical: [String]) -> [CommentedService] {
        var found: [CommentedService] = []
        var current: (numbers: [Int], texts: [String])?
        func finish() {
            guard let stanza = current else { return }
            current = nil
            // The stanza as the logical line it would be once uncommented.
            var line = PostfixLogicalLines.Line(text: stanza.texts[0], number: stanza.numbers[0])
            for (number, text) in zip(stanza.numbers, stanza.texts).dropFirst() {
                line.append(Substring(text), number: number)
            }
            if let service = try? parseService(line) {
                found.append(CommentedService(service: service, lineNumbers: stanza.numbers, uncommented: stanza.texts))
            }
        }
        for (offset, line) in physical.enumerated() {
            let number = offset + 1
            guard line.hasPrefix("#") else {
                let blank = line.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" }
                if !blank { finish() }
                continue
            }
            let body = String(line.dropFirst())
            let trimmed = body.trimmingWhitespace()
            if body.first == " " || body.first == "\t" {
                if trimmed.hasPrefix("-"), current != nil {
                    current!.numbers.append(number)
                    current!.texts.append("  " + trimmed)
                }
                continue
            }
            finish()
            if let list = try? tokenize(trimmed), list.count >= 8, types.contains(list[1].text) {
                current = ([number], [trimmed])
            }
        }
        finish()
        return found
    }
}

extension String {
    var trimmingBrackets: String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}
