/// One client side of a SASL exchange, transport-neutral: the Dovecot client
/// (and later the SMTP probe) moves the bytes, base64-encoded as their
/// protocols want.
public protocol SASLExchange: AnyObject {
    /// The mechanism name as sent on the wire (`PLAIN`, `SCRAM-SHA-256`).
    var mechanism: String { get }
    /// The initial response, or nil when the mechanism starts with a server challenge.
    func start() throws -> SecureBytes?
    /// The answer to a server challenge.
    func respond(to challenge: [UInt8]) throws -> SecureBytes
    /// Checks data the server sent with its success (SCRAM's server signature).
    func finish(serverData: [UInt8]) throws
}

extension SASLExchange {
    public func finish(serverData: [UInt8]) throws {}
}

/// AUTH PLAIN: everything in the initial response.
public final class PlainExchange: SASLExchange {
    public let mechanism = "PLAIN"
    private let message: SecureBytes

    public init(authzid: String = "", user: String, password: SecureBytes) throws {
        for (field, value) in [("authorization identity", authzid), ("user name", user)] where value.utf8.contains(0) {
            throw MailSecError(.invalidInput, "the \(field) contains a NUL byte, which AUTH PLAIN uses as its separator")
        }
        guard !password.contains(0) else {
            throw MailSecError(.invalidInput, "the password contains a NUL byte, which AUTH PLAIN uses as its separator")
        }
        message = SecureBytes(capacity: authzid.utf8.count + user.utf8.count + password.count + 2)
        message.append(contentsOf: authzid.utf8)
        message.append(0)
        message.append(contentsOf: user.utf8)
        message.append(0)
        password.withUnsafeBytes { message.append(contentsOf: $0) }
    }

    public func start() throws -> SecureBytes? { message }

    public func respond(to challenge: [UInt8]) throws -> SecureBytes {
        throw MailSecError(.invalidInput, "the server sent a challenge after AUTH PLAIN's initial response")
    }
}

/// AUTH LOGIN: the user name, then the password, each on request.
public final class LoginExchange: SASLExchange {
    public let mechanism = "LOGIN"
    private let user: String
    private let password: SecureBytes
    private var step = 0

    public init(user: String, password: SecureBytes) throws {
        guard !user.isEmpty else { throw MailSecError(.invalidInput, "empty user name") }
        self.user = user
        self.password = password
    }

    public func start() throws -> SecureBytes? { nil }

    public func respond(to challenge: [UInt8]) throws -> SecureBytes {
        step += 1
        switch step {
        case 1: return SecureBytes(Array(user.utf8))
        case 2: return password
        default: throw MailSecError(.invalidInput, "the server asked for more than a user name and a password during AUTH LOGIN")
        }
    }
}
