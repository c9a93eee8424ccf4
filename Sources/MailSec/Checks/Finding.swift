/// The outcome of one check: the one result model of verify, probe and preflight.
///
/// A failed check is a value, not an error: it says what is wrong and, when it
/// fails or warns, how to fix it.
public struct Finding: Codable, Sendable, Equatable {
    /// How a check came out.
    public enum Status: String, Codable, Sendable, Comparable, CaseIterable {
        /// The check passed.
        case pass
        /// It passed with a caveat: nothing fails, but something should be done.
        case warn
        /// It failed: clients or the server will not work as they should.
        case fail
        /// It was not made: it does not apply, or an earlier step failed.
        case skip

        /// Severity order for "the worst of": skip < pass < warn < fail.
        private var rank: Int {
            switch self {
            case .skip: 0
            case .pass: 1
            case .warn: 2
            case .fail: 3
            }
        }

        public static func < (lhs: Status, rhs: Status) -> Bool { lhs.rank < rhs.rank }
    }

    /// A stable identifier scripts can rely on, e.g. `key-matches-cert`.
    public var id: ID
    /// Pass, warn, fail, or skip (the check did not apply or could not be reached).
    public var status: Status
    /// What was found, in a sentence.
    public var message: String
    /// The concrete fix: a command, the configuration lines, the chmod.
    public var remedy: String?

    /// A finding with every field given.
    public init(id: ID, status: Status, message: String, remedy: String? = nil) {
        self.id = id
        self.status = status
        self.message = message
        self.remedy = remedy
    }

    /// A check that passed.
    public static func pass(_ id: ID, _ message: String) -> Finding {
        Finding(id: id, status: .pass, message: message)
    }

    /// A check that passed with a caveat, and what to do about it.
    public static func warn(_ id: ID, _ message: String, remedy: String? = nil) -> Finding {
        Finding(id: id, status: .warn, message: message, remedy: remedy)
    }

    /// A check that failed, and the fix.
    public static func fail(_ id: ID, _ message: String, remedy: String? = nil) -> Finding {
        Finding(id: id, status: .fail, message: message, remedy: remedy)
    }

    /// A check that was not made, and why.
    public static func skip(_ id: ID, _ message: String) -> Finding {
        Finding(id: id, status: .skip, message: message)
    }
}

/// An ordered collection of findings, and the verdict they add up to.
public struct Report: Sendable, Equatable {
    /// The findings, in the order they were added (or sorted).
    public var findings: [Finding]

    /// A report holding `findings`.
    public init(_ findings: [Finding] = []) {
        self.findings = findings
    }

    /// Appends `finding`.
    public mutating func add(_ finding: Finding) {
        findings.append(finding)
    }

    /// True when nothing failed; warnings and skips are fine.
    public var ok: Bool { !findings.contains { $0.status == .fail } }

    /// The worst status present (`.skip` for an empty report).
    public var worst: Finding.Status { findings.map(\.status).max() ?? .skip }

    /// The findings with `id` (a check repeated per host name has several).
    public func findings(withID id: Finding.ID) -> [Finding] { findings.filter { $0.id == id } }

    /// The findings in `order`, the ids it does not name last, each group as it was.
    public mutating func sort(by order: [Finding.ID]) {
        let rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        // Swift's sort is not stable: the index breaks ties.
        findings = findings.enumerated().sorted {
            let (left, right) = (rank[$0.element.id] ?? order.count, rank[$1.element.id] ?? order.count)
            return left != right ? left < right : $0.offset < $1.offset
        }.map(\.element)
    }

    /// How many findings have `status`.
    public func count(_ status: Finding.Status) -> Int { findings.filter { $0.status == status }.count }
}

extension Finding {
    /// A check's stable identifier (`key-matches-cert`, `tls-handshake`): what
    /// scripts, JSON readers, dashboards and alert rules key on, so each is
    /// named once, here, with the order each command reports them in.
    public struct ID: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
        /// The id as scripts see it: `key-matches-cert`.
        public let rawValue: String

        /// The id spelled `rawValue`.
        public init(rawValue: String) {
            self.rawValue = rawValue
        }

        /// An id from a literal: `"tls-handshake"`.
        public init(stringLiteral value: String) {
            self.init(rawValue: value)
        }

        /// Reads the id from a plain string.
        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        /// Writes the id as a plain string, as JSON shows it.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        /// The id itself.
        public var description: String { rawValue }
    }
}

extension Finding.ID {
    // MARK: verify: the files

    /// The checks `verify` makes once it has a certificate, in their order.
    public static let certificateChecks: [Finding.ID] = ["key-matches-cert", "hostname", "validity", "expiry", "chain", "crl",
                                                         "chain-order", "key-strength", "signature-algorithm", "key-usage"]
    /// Every check of `verify`, in the order it reports them.
    public static let verifyOrder: [Finding.ID] = ["cert-readable", "chain-readable", "key-readable"] + certificateChecks + ["key-file-permissions"]

    // MARK: probe, audit, deploy: what a server sends

    /// The certificate a server sent, judged as `verify` judges files.
    public static let servedCertificateChecks: [Finding.ID] = ["certificate-hostname", "certificate-expiry", "certificate-chain"]
    /// An SMTP probe's checks, in order.
    public static let smtpProbeOrder: [Finding.ID] = ["connect", "tls-handshake"] + servedCertificateChecks
        + ["banner", "ehlo", "auth-before-tls", "starttls-after-tls", "auth-offered", "relay-denied", "auth"]
    /// An IMAP, POP3 or ManageSieve probe's checks, in order.
    public static let mailProbeOrder: [Finding.ID] = ["connect", "tls-handshake"] + servedCertificateChecks
        + ["banner", "capabilities", "auth-before-tls", "starttls-after-tls", "auth-offered", "auth"]
    /// Each endpoint's checks in `audit`, in order.
    public static let auditEndpointOrder: [Finding.ID] = ["tls-files", "served-matches-file"] + servedCertificateChecks
}
