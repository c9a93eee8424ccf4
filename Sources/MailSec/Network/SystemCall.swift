import Glibc

/// An errno value, typed, with the name and text that messages show.
public struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
    /// The value of `errno`.
    public let rawValue: Int32

    /// The error number as the C library reports it.
    public init(_ rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// The calling thread's errno, read right after the failing call.
    static var current: Errno { Errno(errno) }

    /// EINTR: a signal interrupted the call (it is retried).
    public static let interrupted = Errno(EINTR)
    /// EAGAIN: a non-blocking call would block.
    public static let wouldBlock = Errno(EAGAIN)
    /// EINPROGRESS: a non-blocking connect is under way.
    public static let inProgress = Errno(EINPROGRESS)
    /// ECONNREFUSED: nothing listens there.
    public static let connectionRefused = Errno(ECONNREFUSED)
    /// ECONNRESET: the peer reset the connection.
    public static let connectionReset = Errno(ECONNRESET)
    /// EPIPE: the peer closed the connection before a write.
    public static let brokenPipe = Errno(EPIPE)
    /// EACCES: permission denied.
    public static let accessDenied = Errno(EACCES)
    /// EPERM: the operation is not permitted.
    public static let notPermitted = Errno(EPERM)
    /// ENOENT: no such file or directory.
    public static let noEntry = Errno(ENOENT)
    /// ETIMEDOUT: the connection timed out.
    public static let timedOut = Errno(ETIMEDOUT)

    /// The peer is gone: further reads and writes cannot succeed.
    public var meansPeerClosed: Bool {
        [ECONNRESET, EPIPE, ECONNABORTED, ENOTCONN].contains(rawValue)
    }

    /// strerror's text, e.g. "Connection refused".
    public var description: String { String(cString: strerror(rawValue)) }
}

/// Every system call the network code makes goes through here: retried on
/// EINTR (a signal arrived; nothing happened), a typed `Errno` thrown otherwise.
enum SystemCall {
    /// For calls returning -1 on failure and a count or descriptor otherwise.
    @discardableResult
    static func check<Result: BinaryInteger>(_ call: () -> Result) throws(Errno) -> Result {
        while true {
            let result = call()
            if result >= 0 { return result }
            let error = Errno.current
            if error != .interrupted { throw error }
        }
    }

    /// Like `check`, but "would block" is an answer, not an error: nil.
    static func nonBlocking<Result: BinaryInteger>(_ call: () -> Result) throws(Errno) -> Result? {
        do {
            return try check(call)
        } catch {
            if error == .wouldBlock || error.rawValue == EWOULDBLOCK { return nil }
            throw error
        }
    }
}
