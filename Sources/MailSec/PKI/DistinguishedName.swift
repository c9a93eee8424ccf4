/// An X.509 subject or issuer name: an ordered list of attributes.
public struct DistinguishedName: Hashable, Sendable, CustomStringConvertible {
    /// One `KEY=value` pair of a name.
    public struct Attribute: Hashable, Sendable {
        /// OpenSSL's short name: C, ST, L, O, OU, CN, emailAddress, ...
        public var key: String
        /// The value, UTF-8.
        public var value: String
        /// An attribute by OpenSSL's short name and its value.
        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    /// The attributes in order, most significant first (C ... CN).
    public var attributes: [Attribute]

    /// A name made of `attributes`.
    public init(_ attributes: [Attribute] = []) {
        self.attributes = attributes
    }

    /// The usual attributes of a server's subject, in their conventional order.
    public static let conventionalKeys = ["C", "ST", "L", "O", "OU", "CN"]

    /// Parses the OpenSSL form `/C=DE/ST=Berlin/O=Example/CN=mail.example.com`
    /// (`\/` escapes a slash inside a value).
    public init(parsing text: String) throws {
        guard text.hasPrefix("/") else {
            throw MailSecError(.invalidInput, "invalid \(Vocabulary.name(.subject)) '\(text)': it must start with '/'", remedy: "write it as '/C=DE/O=Example/OU=Mail'")
        }
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in text.dropFirst() {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "/" {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        var attributes: [Attribute] = []
        for field in fields where !field.isEmpty {
            guard let equals = field.firstIndex(of: "=") else {
                throw MailSecError(.invalidInput, "invalid \(Vocabulary.name(.subject)) field '\(field)': expected KEY=value", remedy: "write it as '/C=DE/O=Example/OU=Mail'")
            }
            let key = try Self.canonicalKey(String(field[..<equals]))
            attributes.append(Attribute(key, String(field[field.index(after: equals)...])))
        }
        self.init(attributes)
        try validate()
    }

    /// The value of the first attribute with `key`.
    public subscript(key: String) -> String? {
        get { attributes.first { $0.key == key }?.value }
        set {
            attributes.removeAll { $0.key == key }
            if let newValue { attributes.append(Attribute(key, newValue)) }
        }
    }

    /// The CN attribute, when there is one.
    public var commonName: String? { self["CN"] }

    /// Puts the attributes in the conventional order (C, ST, L, O, OU, CN, email),
    /// keeping the order of repeated or unknown keys.
    public func sortedConventionally() -> DistinguishedName {
        let order = Self.conventionalKeys + ["emailAddress"]
        let sorted = attributes.enumerated().sorted { lhs, rhs in
            let left = order.firstIndex(of: lhs.element.key) ?? order.count
            let right = order.firstIndex(of: rhs.element.key) ?? order.count
            return left != right ? left < right : lhs.offset < rhs.offset
        }
        return DistinguishedName(sorted.map(\.element))
    }

    /// Checks the length limits X.509 sets (RFC 5280's upper bounds).
    public func validate() throws {
        for attribute in attributes {
            let value = attribute.value
            guard !value.isEmpty else {
                throw MailSecError(.invalidInput, "subject field \(attribute.key) is empty", remedy: "leave the field out or give it a value")
            }
            if attribute.key == "C" {
                guard value.count == 2, value.allSatisfy({ $0.isASCII && $0.isLetter }) else {
                    throw MailSecError(.invalidInput, "subject field C='\(value)' must be a two-letter country code", remedy: "use the ISO 3166 code, e.g. C=DE or C=US")
                }
            }
            let limit = attribute.key == "emailAddress" ? 128 : 64
            guard value.utf8.count <= limit else {
                throw MailSecError(.invalidInput, "subject field \(attribute.key) is longer than \(limit) characters")
            }
            guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
                throw MailSecError(.invalidInput, "subject field \(attribute.key) contains a control character")
            }
        }
    }

    /// `C=DE, O=Example, CN=mail.example.com`, in the certificate's order.
    public var description: String {
        attributes.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }

    /// `/C=DE/O=Example/CN=mail.example.com`, the form `--subject` and `openssl -subj` take.
    public var slashForm: String {
        attributes.map { "/\($0.key)=\($0.value.replacingSlashes())" }.joined()
    }

    private static func canonicalKey(_ key: String) throws -> String {
        switch key.trimmingWhitespace().lowercased() {
        case "c", "countryname": return "C"
        case "st", "s", "stateorprovincename": return "ST"
        case "l", "localityname": return "L"
        case "o", "organizationname": return "O"
        case "ou", "organizationalunitname": return "OU"
        case "cn", "commonname": return "CN"
        case "emailaddress", "email", "e": return "emailAddress"
        default:
            throw MailSecError(.invalidInput, "unknown \(Vocabulary.name(.subject)) field '\(key)'", remedy: "use C, ST, L, O, OU, CN or emailAddress")
        }
    }
}

private extension String {
    func replacingSlashes() -> String {
        var result = ""
        for character in self {
            if character == "/" { result.append("\\") }
            result.append(character)
        }
        return result
    }
}
