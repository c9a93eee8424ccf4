import Glibc
import MailSec

/// Everything that touches the terminal: output streams, colour, prompts.
enum Terminal {
    static var stdinIsTerminal: Bool { isatty(0) == 1 }
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Colour only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb.
    static func useColor(fd: Int32) -> Bool {
        guard isatty(fd) == 1 else { return false }
        if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return true
    }

    /// Writes to stderr (diagnostics, prompts): never to stdout, which belongs
    /// to the result. Control characters other than line breaks are escaped:
    /// diagnostics quote untrusted text. (Progress redraws use `write`.)
    static func printError(_ text: String, terminator: String = "\n") {
        write(fd: 2, TextSanitizer.escapedKeepingNewlines(text) + terminator)
    }

    static func write(fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 { if errno == EINTR { continue }; return }
            offset += written
        }
        bytes.removeAll()
    }

    /// Asks on stderr and reads a line from stdin. Only used when stdin is a terminal.
    static func ask(_ question: String, default defaultValue: String? = nil) -> String? {
        let shown = defaultValue.map { " [\($0)]" } ?? " []"
        printError("\(question)\(shown): ", terminator: "")
        guard let line = readLine(strippingNewline: true) else { return nil }
        let answer = line.trimmingCharacters()
        if answer.isEmpty { return defaultValue }
        return answer
    }

    /// Reads a secret from the controlling terminal with echo off.
    /// Returns nil when there is no terminal to ask on.
    static func readSecret(prompt: String) throws -> SecureBytes? {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        var saved = termios()
        guard tcgetattr(tty, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO | ECHONL)
        quiet.c_lflag |= tcflag_t(ICANON)
        tcsetattr(tty, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(tty, TCSAFLUSH, &saved)
            write(fd: tty, "\n")
        }
        write(fd: tty, prompt)
        return try readSecretLine(from: tty)
    }

    /// Longer than any password or token a mail server takes (SMTP AUTH lines end at 12288 octets).
    static let maximumSecretLength = 16_384

    /// One line from `descriptor` into zeroing storage, read byte by byte so
    /// nothing after it is consumed; the LF and a CR before it are dropped.
    /// Bounded: /dev/zero on stdin is an error, not an ever-growing buffer.
    static func readSecretLine(from descriptor: Int32) throws -> SecureBytes {
        var secret = SecureBytes()
        var byte: UInt8 = 0
        defer { byte = 0 }
        while true {
            let count = read(descriptor, &byte, 1)
            if count < 0 { if errno == EINTR { continue }; throw MailSecError(.io, "cannot read the secret (descriptor \(descriptor))") }
            if count == 0 || byte == 0x0a { break }
            guard secret.count < maximumSecretLength else {
                throw MailSecError(.invalidInput, "the secret's line is longer than \(maximumSecretLength) bytes: that is not a password (is the right file on standard input?)")
            }
            secret.append(byte)
        }
        dropCarriageReturn(&secret)
        return secret
    }

    static func dropCarriageReturn(_ secret: inout SecureBytes) {
        if secret.count > 0, secret.withUnsafeBytes({ $0.last }) == 0x0d { secret.removeLast() }
    }

    /// The first line of a file, newline stripped, as a secret.
    static func readSecretFile(_ path: String) throws -> SecureBytes {
        try SecureFileSystem.readSecretLine(path)
    }
}

/// ANSI styling for the human renderer.
struct Style {
    let enabled: Bool

    func green(_ text: String) -> String { paint(text, "32") }
    func yellow(_ text: String) -> String { paint(text, "33") }
    func red(_ text: String) -> String { paint(text, "31") }
    func dim(_ text: String) -> String { paint(text, "2") }
    func bold(_ text: String) -> String { paint(text, "1") }

    private func paint(_ text: String, _ code: String) -> String {
        enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}

extension String {
    func trimmingCharacters() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }

    func padded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
