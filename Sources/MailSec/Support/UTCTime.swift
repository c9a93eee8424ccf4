#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Fixed-format UTC timestamps, independent of locale.
public enum UTCTime {
    /// `2027-11-21T22:30:00Z`
    public static func iso8601(_ date: Date) -> String {
        let p = parts(date)
        return "\(p.year)-\(p.month)-\(p.day)T\(p.hour):\(p.minute):\(p.second)Z"
    }

    /// `2027-11-21 22:30:00 UTC`
    public static func human(_ date: Date) -> String {
        let p = parts(date)
        return "\(p.year)-\(p.month)-\(p.day) \(p.hour):\(p.minute):\(p.second) UTC"
    }

    /// Whole days from `now` until `date`, rounded down; negative when past.
    public static func daysLeft(until date: Date, from now: Date = Date()) -> Int {
        // Certificates count whole seconds; so does this, or a certificate made
        // a moment ago for 365 days would show 364.
        let seconds = date.timeIntervalSince1970.rounded(.down) - now.timeIntervalSince1970.rounded(.down)
        return Int((seconds / 86_400).rounded(.down))
    }

    /// `yyyymmdd-hhmmss`, for backup file names.
    public static func compact(_ date: Date) -> String {
        let p = parts(date)
        return "\(p.year)\(p.month)\(p.day)-\(p.hour)\(p.minute)\(p.second)"
    }

    /// The calendar fields in UTC, zero-padded.
    private static func parts(_ date: Date) -> (year: String, month: String, day: String, hour: String, minute: String, second: String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var fields = tm()
        gmtime_r(&seconds, &fields)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return (pad(fields.tm_year + 1900, 4), pad(fields.tm_mon + 1), pad(fields.tm_mday), pad(fields.tm_hour), pad(fields.tm_min), pad(fields.tm_sec))
    }
}
