import Glibc

/// Validation of DNS host names as they appear in certificates and file names.
public enum Hostname {
    /// Validates and normalises a host name: ASCII, lowercased, trailing dot
    /// removed, labels of 1–63 letters, digits and hyphens, at most 253 octets.
    /// A wildcard is accepted only as the whole leftmost label of a name with
    /// at least two more labels (`*.example.com`), and only when asked for.
    public static func normalize(_ input: String, allowWildcard: Bool = false, field: String = "hostname") throws -> String {
        var name = input
        if name.hasSuffix(".") { name.removeLast() }
        func invalid(_ why: String, remedy: String? = nil) -> MailSecError {
            MailSecError(.invalidInput, "invalid \(field) '\(input)': \(why)", remedy: remedy)
        }
        guard !name.isEmpty else { throw invalid("it is empty") }
        guard name.unicodeScalars.allSatisfy({ $0.isASCII }) else {
            throw invalid("it is not ASCII", remedy: "write internationalised names in their xn-- (punycode) form, e.g. with `idn2`")
        }
        name = name.lowercased()
        guard name.utf8.count <= 253 else { throw invalid("longer than 253 characters") }
        if IPAddress.normalize(name) != nil {
            throw invalid("it is an IP address, not a host name", remedy: "use a host name and add the address as a subjectAltName (\(Vocabulary.name(.subjectAlternativeName)) IP:\(name))")
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for (index, label) in labels.enumerated() {
            if label == "*" {
                guard allowWildcard else {
                    throw invalid("a wildcard is not allowed here", remedy: "name one host here and add the wildcard as a subjectAltName (\(Vocabulary.name(.subjectAlternativeName)) '\(name)')")
                }
                guard index == 0 else { throw invalid("a wildcard may only be the whole leftmost label") }
                guard labels.count >= 3 else { throw invalid("a wildcard needs at least two labels after it, as in *.example.com") }
                continue
            }
            guard !label.isEmpty else { throw invalid("it has an empty label (two dots in a row?)") }
            guard label.utf8.count <= 63 else { throw invalid("the label '\(label)' is longer than 63 characters") }
            if label.contains("*") { throw invalid("a wildcard may only be the whole leftmost label") }
            guard label.utf8.allSatisfy({ isLabelCharacter($0) }) else {
                let bad = label.first { !($0.isASCII && isLabelCharacter($0.asciiValue!)) }!
                throw invalid("the character '\(bad)' is not allowed (letters, digits and '-' only)")
            }
            guard label.first != "-", label.last != "-" else {
                throw invalid("the label '\(label)' starts or ends with '-'")
            }
        }
        return name
    }

    private static func isLabelCharacter(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2d
    }
}

/// IPv4 and IPv6 addresses in their canonical text form.
package enum IPAddress {
    /// The canonical form of an address (`inet_ntop`'s), or nil if `text` is none.
    package static func normalize(_ text: String) -> String? {
        guard let bytes = octets(text) else { return nil }
        return format(bytes)
    }

    /// The 4 or 16 network-order octets of an address, or nil.
    package static func octets(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// The text form of 4 or 16 octets.
    package static func format(_ octets: [UInt8]) -> String? {
        let family: Int32
        switch octets.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = octets.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        guard ok != nil else { return nil }
        return String(nulTerminated: text)
    }
}
