#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Fixed-format UTC timestamps, independent of locale.
package enum UTCTime {
    /// `2027-11-21T22:30:00Z`
    package static func iso8601(_ date: Date) -> String {
        let p = parts(date)
        return "\(p.year)-\(p.month)-\(p.day)T\(p.hour):\(p.minute):\(p.second)Z"
    }

    /// `2027-11-21 22:30:00 UTC`
    package static func human(_ date: Date) -> String {
        let p = parts(date)
        return "\(p.year)-\(p.month)-\(p.day) \(p.hour):\(p.minute):\(p.second) UTC"
    }

    /// Whole days from `now` until `date`, rounded down; negative when past.
    package static func daysLeft(until date: Date, from now: Date = Date()) -> Int {
        // Certificates count whole seconds; so does this, or a certificate made
        // a moment ago for 365 days would show 364.
        let seconds = date.timeIntervalSince1970.rounded(.down) - now.timeIntervalSince1970.rounded(.down)
        return Int((seconds / 86_400).rounded(.down))
    }

    /// Parses an RFC 3339 time: `2027-11-21T22:30:00Z`, with fractions of a
    /// second and a `±hh:mm` offset allowed (lowercase `t`/`z` too); nil otherwise.
    package static func parseRFC3339(_ text: String) -> Date? {
        let scalars = Array(text.uppercased().utf8)
        func number(_ range: Range<Int>) -> Int32? {
            guard range.upperBound <= scalars.count, range.allSatisfy({ scalars[$0] >= 0x30 && scalars[$0] <= 0x39 }) else { return nil }
            return Int32(String(decoding: scalars[range], as: UTF8.self))
        }
        guard scalars.count >= 20, scalars[4] == 0x2d, scalars[7] == 0x2d, scalars[10] == 0x54, scalars[13] == 0x3a, scalars[16] == 0x3a,
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var fraction = 0.0
        if scalars[index] == 0x2e {
            var end = index + 1
            while end < scalars.count, scalars[end] >= 0x30, scalars[end] <= 0x39 { end += 1 }
            guard end > index + 1 else { return nil }
            fraction = Double("0" + String(decoding: scalars[index..<end], as: UTF8.self)) ?? 0
            index = end
        }
        var offset = 0
        if index < scalars.count, scalars[index] == 0x5a, index + 1 == scalars.count {
            offset = 0
        } else if index + 6 == scalars.count, scalars[index] == 0x2b || scalars[index] == 0x2d, scalars[index + 3] == 0x3a,
                  let hours = number((index + 1)..<(index + 3)), let minutes = number((index + 4)..<(index + 6)), hours < 24, minutes < 60 {
            offset = (Int(hours) * 3600 + Int(minutes) * 60) * (scalars[index] == 0x2d ? -1 : 1)
        } else {
            return nil
        }
        var fields = tm()
        fields.tm_year = year - 1900
        fields.tm_mon = month - 1
        fields.tm_mday = day
        fields.tm_hour = hour
        fields.tm_min = minute
        fields.tm_sec = second
        let seconds = timegm(&fields)
        return Date(timeIntervalSince1970: TimeInterval(seconds - offset) + fraction)
    }

    /// `yyyymmdd-hhmmss`, for backup file names.
    package static func compact(_ date: Date) -> String {
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
