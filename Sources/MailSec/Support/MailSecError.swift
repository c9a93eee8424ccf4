/// The error every MailSec API throws when it cannot do its job at all.
///
/// A check that merely fails is not an error: it is a `Finding`. This is for
/// bad input, unreadable files, I/O and OpenSSL failures. `code` is an
/// extensible struct rather than a public enum so new codes do not break callers.
public struct MailSecError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure: decide on this, never on the message.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name (`timeout`, `file-not-found`), as JSON shows it.
        public let name: String
        /// A code by name.
        public init(_ name: String) { self.name = name }
        /// The code's name.
        public var description: String { name }

        /// Input that cannot be used: a bad hostname, an option out of range, a malformed file.
        public static let invalidInput = Code("invalid-input")
        /// A file that should not be replaced already exists.
        public static let fileExists = Code("file-exists")
        /// A file or directory that is needed is missing.
        public static let fileNotFound = Code("file-not-found")
        /// Reading, writing or creating a file or directory failed.
        public static let io = Code("io")
        /// Permissions or ownership are unsafe or insufficient.
        public static let permission = Code("permission")
        /// OpenSSL refused an operation; the message carries its error queue.
        public static let openSSL = Code("openssl")
        /// A passphrase is needed, or the one given is wrong.
        public static let passphrase = Code("passphrase")
        /// libsasl2 cannot provide a mechanism (no plugin, or it will not start): a setup problem, not a credential's.
        public static let sasl = Code("sasl")

        // Network causes, so that callers decide on the code, never on the message.

        /// A deadline passed before the peer answered or the operation completed.
        public static let timeout = Code("timeout")
        /// Nothing listens at the address (ECONNREFUSED, or a stale Unix socket).
        public static let connectionRefused = Code("connection-refused")
        /// The peer closed or reset the connection.
        public static let connectionClosed = Code("connection-closed")
        /// A host name that does not resolve.
        public static let hostNotFound = Code("host-not-found")
        /// The TLS handshake or a TLS record failed; the message carries OpenSSL's reasons.
        public static let tls = Code("tls")
        /// The peer sent something its protocol does not allow: a malformed reply, an oversized line or literal.
        public static let protocolViolation = Code("protocol-violation")
    }

    /// What kind of failure it is.
    public var code: Code
    /// What went wrong, naming the file, field or value concerned.
    public var message: String
    /// How to fix it, when we know.
    public var remedy: String?
    /// The system call's error behind it, when there is one.
    public var systemError: Errno?

    /// An error of `code` with its message, and the fix and the system error when there are.
    public init(_ code: Code, _ message: String, remedy: String? = nil, systemError: Errno? = nil) {
        self.code = code
        self.message = message
        self.remedy = remedy
        self.systemError = systemError
    }

    /// The message, and the fix on a line of its own when there is one.
    public var description: String {
        guard let remedy else { return message }
        return "\(message)\n  fix: \(remedy)"
    }
}

/// The version of MailSec, the library and its programs.
public enum MailSecVersion {
    /// `0.1.0`.
    public static let current = "0.1.0"
}
