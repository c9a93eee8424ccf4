/// Prometheus's text exposition format, version 0.0.4, written by hand.
///
/// A handful of gauges needs no client library, and writing them here keeps
/// the MailSec library free of server dependencies: `probe --prometheus`,
/// the textfile collector and the exporter's `/probe` all print through this.
/// Samples of one metric stay together under one HELP and TYPE, in the order
/// the metric first appeared, as the format requires.
package struct PrometheusText: Sendable {
    package enum Kind: String, Sendable { case gauge, counter }

    package typealias Labels = [(name: String, value: String)]

    private struct Family: Sendable {
        let name: String
        let help: String
        let kind: Kind
        var samples: [String] = []
    }

    private var families: [Family] = []
    private var index: [String: Int] = [:]

    package init() {}

    /// Adds one sample; the first sample of a name sets its HELP and TYPE.
    package mutating func add(_ name: String, _ value: Double, labels: Labels = [], help: String, kind: Kind = .gauge) {
        precondition(Self.isValidName(name), "metric name \(name)")
        let position: Int
        if let known = index[name] {
            position = known
        } else {
            position = families.count
            index[name] = position
            families.append(Family(name: name, help: help, kind: kind))
        }
        var line = name
        if !labels.isEmpty {
            line += "{" + labels.map { "\($0.name)=\"\(Self.escapeLabelValue($0.value))\"" }.joined(separator: ",") + "}"
        }
        line += " " + Self.format(value)
        families[position].samples.append(line)
    }

    /// The exposition, ending in a newline as the format requires.
    package var text: String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(Self.escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples { out += sample + "\n" }
        }
        return out
    }

    /// The content type a scrape answer carries.
    package static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(0x30...0x39).contains(first) else { return false }
        return name.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || $0 == 0x5f || $0 == 0x3a }
    }

    /// Backslash, double quote and line feed escaped; everything else (UTF-8
    /// included) as it is. Other control characters are legal in the format
    /// but break consumers, so they become `\xNN`-style text.
    static func escapeLabelValue(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\\\x" + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    static func escapeHelp(_ help: String) -> String {
        help.replacingOccurrences("\\", with: "\\\\").replacingOccurrences("\n", with: "\\n")
    }

    /// Integers as integers (Unix times stay readable), other values in Swift's
    /// shortest round-tripping form, and the format's spellings of the specials.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return String(value)
    }
}
