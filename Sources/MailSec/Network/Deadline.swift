/// A point on the monotonic clock by which a network step must be done.
///
/// Deadlines are instants, not durations, so a loop that waits several times
/// (partial reads, retried connects, a handshake's round trips) cannot stretch
/// the time allowed. The wall clock is never used: setting it must not end or
/// extend a wait.
public struct Deadline: Sendable, Comparable, CustomStringConvertible {
    /// The instant on the monotonic clock.
    public let instant: ContinuousClock.Instant
    /// The time that was allowed, for messages ("no answer within 10 s").
    public let allowed: Duration?

    /// A deadline at `instant`, with the allowance it came from, for messages.
    public init(_ instant: ContinuousClock.Instant, allowed: Duration? = nil) {
        self.instant = instant
        self.allowed = allowed
    }

    /// Already passed: for a poll that must not wait.
    public static var now: Deadline { Deadline(.now) }

    /// `duration` from now.
    public static func after(_ duration: Duration) -> Deadline {
        Deadline(.now.advanced(by: duration), allowed: duration)
    }

    /// "within 10 s", or "in time" when the allowance is not known.
    public var withinDescription: String {
        allowed.map { "within \($0.shortDescription)" } ?? "in time"
    }

    /// Effectively never: for waits that another mechanism bounds.
    public static var distant: Deadline { after(.seconds(86_400 * 365)) }

    /// Time left, zero once passed.
    public var remaining: Duration {
        let left = ContinuousClock.now.duration(to: instant)
        return left > .zero ? left : .zero
    }

    /// True once the instant has come.
    public var hasPassed: Bool { ContinuousClock.now >= instant }

    /// The earlier of the two: a step's own deadline capped by an overall one.
    public func capped(by other: Deadline?) -> Deadline {
        guard let other else { return self }
        return min(self, other)
    }

    /// Milliseconds for poll(2), rounded up so that a wait never ends early, capped at an hour.
    var pollMilliseconds: Int32 {
        let left = remaining
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(min(milliseconds, 3_600_000))
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.instant < rhs.instant }
    public static func == (lhs: Deadline, rhs: Deadline) -> Bool { lhs.instant == rhs.instant }

    /// How long is left, for messages and debugging.
    public var description: String { "\(remaining) from now" }
}

extension Duration {
    /// The duration in seconds, for arithmetic and rates.
    public var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }

    /// Milliseconds, for reports ("in 12 ms").
    public var milliseconds: Double { seconds * 1000 }

    /// `10 s`, `0.5 s`: how a timeout is named in messages.
    public var shortDescription: String {
        let value = seconds
        if value == value.rounded() { return "\(Int(value)) s" }
        return "\((value * 1000).rounded() / 1000) s"
    }

    /// A duration from a number of seconds given on the command line or in a file.
    public static func seconds(_ value: Double) -> Duration {
        .milliseconds(Int64((value * 1000).rounded()))
    }
}
