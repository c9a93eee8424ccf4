/// One entry of a certificate's subjectAltName extension.
public enum SubjectAlternativeName: Hashable, Sendable, CustomStringConvertible {
    /// A DNS name, possibly a wildcard (`*.example.com`).
    case dns(String)
    /// An IPv4 or IPv6 address.
    case ip(String)
    /// An email address (rfc822Name).
    case email(String)
    /// A URI.
    case uri(String)
    /// A kind MailSec does not interpret, described as OpenSSL prints it.
    case other(String)

    /// Parses `DNS:name`, `IP:address`, or a bare name or address.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingWhitespace()
        if let colon = trimmed.firstIndex(of: ":"), IPAddress.normalize(trimmed) == nil {
            let kind = trimmed[..<colon].uppercased()
            let value = String(trimmed[trimmed.index(after: colon)...])
            switch kind {
            case "DNS":
                self = .dns(try Hostname.normalize(value, allowWildcard: true, field: "\(Vocabulary.name(.subjectAlternativeName)) DNS name"))
            case "IP":
                guard let address = IPAddress.normalize(value) else {
                    throw MailSecError(.invalidInput, "invalid \(Vocabulary.name(.subjectAlternativeName)) IP address '\(value)'", remedy: "write an IPv4 address like IP:192.0.2.1 or an IPv6 address like IP:2001:db8::1")
                }
                self = .ip(address)
            default:
                throw MailSecError(.invalidInput, "unsupported \(Vocabulary.name(.subjectAlternativeName)) type '\(kind)' in '\(text)'", remedy: "use DNS:name or IP:address")
            }
        } else if let address = IPAddress.normalize(trimmed) {
            self = .ip(address)
        } else {
            self = .dns(try Hostname.normalize(trimmed, allowWildcard: true, field: "\(Vocabulary.name(.subjectAlternativeName)) DNS name"))
        }
    }

    /// `TYPE:value`, which is also OpenSSL's subjectAltName configuration syntax.
    public var description: String {
        switch self {
        case .dns(let name): "DNS:\(name)"
        case .ip(let address): "IP:\(address)"
        case .email(let address): "email:\(address)"
        case .uri(let uri): "URI:\(uri)"
        case .other(let text): text
        }
    }

}
