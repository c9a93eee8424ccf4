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
        format(date, "%04d-%02d-%02dT%02d:%02d:%02dZ")
    }

    /// `2027-11-21 22:30:00 UTC`
    public static func human(_ date: Date) -> String {
        format(date, "%04d-%02d-%02d %02d:%02d:%02d UTC")
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
        format(date, "%04d%02d%02d-%02d%02d%02d")
    }

    private static func format(_ date: Date, _ pattern: String) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let fields = [Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec)]
        // A tiny printf for the %0Nd directives used above.
        var output = ""
        var fieldIndex = 0
        var iterator = pattern.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { output.append(character); continue }
            _ = iterator.next() // '0'
            let width = Int(String(iterator.next()!))!
            _ = iterator.next() // 'd'
            let digits = String(fields[fieldIndex])
            output += String(repeating: "0", count: max(0, width - digits.count)) + digits
            fieldIndex += 1
        }
        return output
    }
}
