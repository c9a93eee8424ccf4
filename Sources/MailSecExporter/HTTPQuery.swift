import MailSec

/// A request target such as `/probe?target=smtps%3A%2F%2Fmail.example.com&module=login`,
/// split into its path and decoded parameters.
///
/// Prometheus's relabelling sends `target` and `module` URL-encoded (`+` or
/// `%20` for a space). A malformed escape, a parameter given twice or a value
/// that is not UTF-8 is a 400, not a guess: a scrape that asks something
/// ambiguous gets told so.
public struct HTTPQuery: Sendable, Equatable {
    public var path: String
    public var parameters: [String: String]

    public struct Malformed: Error, Sendable, Equatable {
        public var reason: String
    }

    /// Parameters beyond this many are refused (a request is one probe).
    static let maximumParameters = 32

    public init(parsing requestTarget: String) throws(Malformed) {
        let bytes = Array(requestTarget.utf8)
        let question = bytes.firstIndex(of: 0x3f) ?? bytes.endIndex
        guard let path = Self.decode(bytes[..<question], plusIsSpace: false) else {
            throw Malformed(reason: "the path is not validly %-encoded UTF-8")
        }
        self.path = path
        parameters = [:]
        guard question < bytes.endIndex else { return }
        var count = 0
        for pair in bytes[(question + 1)...].split(separator: 0x26, omittingEmptySubsequences: true) {
            count += 1
            guard count <= Self.maximumParameters else { throw Malformed(reason: "more than \(Self.maximumParameters) parameters") }
            let equals = pair.firstIndex(of: 0x3d) ?? pair.endIndex
            guard let name = Self.decode(pair[..<equals], plusIsSpace: true),
                  let value = Self.decode(equals < pair.endIndex ? pair[(equals + 1)...] : [], plusIsSpace: true) else {
                throw Malformed(reason: "a parameter is not validly %-encoded UTF-8")
            }
            guard parameters[name] == nil else { throw Malformed(reason: "parameter \(Self.shown(name)) is given more than once") }
            parameters[name] = value
        }
    }

    /// A name or value for a one-line error message: quoted, escaped, bounded.
    static func shown(_ text: String) -> String {
        TextSanitizer.quoted(text.prefix(80)) + (text.count > 80 ? "…" : "")
    }

    private static func decode(_ bytes: ArraySlice<UInt8>, plusIsSpace: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == 0x25 {
                guard index + 2 < bytes.endIndex, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(plusIsSpace && byte == 0x2b ? 0x20 : byte)
                index += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
