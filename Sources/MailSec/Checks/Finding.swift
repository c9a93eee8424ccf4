/// The outcome of one check: the one result model of verify, probe and preflight.
///
/// A failed check is a value, not an error: it says what is wrong and, when it
/// fails or warns, how to fix it.
public struct Finding: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable, Comparable, CaseIterable {
        case pass, warn, fail, skip

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
    public var id: String
    public var status: Status
    public var message: String
    /// The concrete fix: a command, the configuration lines, the chmod.
    public var remedy: String?

    public init(id: String, status: Status, message: String, remedy: String? = nil) {
        self.id = id
        self.status = status
        self.message = message
        self.remedy = remedy
    }

    public static func pass(_ id: String, _ message: String) -> Finding {
        Finding(id: id, status: .pass, message: message)
    }

    public static func warn(_ id: String, _ message: String, remedy: String? = nil) -> Finding {
        Finding(id: id, status: .warn, message: message, remedy: remedy)
    }

    public static func fail(_ id: String, _ message: String, remedy: String? = nil) -> Finding {
        Finding(id: id, status: .fail, message: message, remedy: remedy)
    }

    public static func skip(_ id: String, _ message: String) -> Finding {
        Finding(id: id, status: .skip, message: message)
    }
}

/// An ordered collection of findings, and the verdict they add up to.
public struct Report: Sendable, Equatable {
    public var findings: [Finding]

    public init(_ findings: [Finding] = []) {
        self.findings = findings
    }

    public mutating func add(_ finding: Finding) {
        findings.append(finding)
    }

    /// True when nothing failed; warnings and skips are fine.
    public var ok: Bool { !findings.contains { $0.status == .fail } }

    /// The worst status present (`.skip` for an empty report).
    public var worst: Finding.Status { findings.map(\.status).max() ?? .skip }

    public func findings(withID id: String) -> [Finding] { findings.filter { $0.id == id } }

    public func count(_ status: Finding.Status) -> Int { findings.filter { $0.status == status }.count }
}
