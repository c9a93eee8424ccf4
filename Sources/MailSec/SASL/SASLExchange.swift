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
    /// Nothing to check: most mechanisms end with the server's OK.
    public func finish(serverData: [UInt8]) throws {}
}

/// AUTH PLAIN: everything in the initial response.
public final class PlainExchange: SASLExchange {
    /// `PLAIN`.
    public let mechanism = "PLAIN"
    private var message: SecureBytes

    /// The exchange for `user` (acting as `authzid`, when given) with `password`; a NUL in any of them is refused, since PLAIN separates its fields with NUL.
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

    /// `authzid NUL user NUL password`: everything goes in the initial response.
    public func start() throws -> SecureBytes? { message }

    /// PLAIN has no challenges: a server that sends one gets the same response again.
    public func respond(to challenge: [UInt8]) throws -> SecureBytes {
        throw MailSecError(.invalidInput, "the server sent a challenge after AUTH PLAIN's initial response")
    }
}

/// AUTH LOGIN: the user name, then the password, each on request.
public final class LoginExchange: SASLExchange {
    /// `LOGIN`.
    public let mechanism = "LOGIN"
    private let user: String
    private let password: SecureBytes
    private var step = 0

    /// The exchange for `user` and `password`.
    public init(user: String, password: SecureBytes) throws {
        guard !user.isEmpty else { throw MailSecError(.invalidInput, "empty user name") }
        self.user = user
        self.password = password
    }

    /// None: LOGIN waits for the server's `Username:` challenge.
    public func start() throws -> SecureBytes? { nil }

    /// The user name for the first challenge, the password for the second.
    public func respond(to challenge: [UInt8]) throws -> SecureBytes {
        step += 1
        switch step {
        case 1: return SecureBytes(Array(user.utf8))
        case 2: return password
        default: throw MailSecError(.invalidInput, "the server asked for more than a user name and a password during AUTH LOGIN")
        }
    }
}

/// XOAUTH2 (Google, Microsoft) and OAUTHBEARER (RFC 7628): a bearer token in
/// the initial response. A refusal arrives as a challenge carrying a JSON
/// error; the client answers it with an empty response (XOAUTH2) or a single
/// 0x01 (OAUTHBEARER), and the server then says no.
public final class BearerTokenExchange: SASLExchange {
    /// `XOAUTH2` or `OAUTHBEARER`.
    public let mechanism: String
    private var message: SecureBytes
    private var answeredError = false

    /// The exchange for `user` with the bearer `token`; OAUTHBEARER also names the `host` and `port` connected to (RFC 7628).
    public init(mechanism: String, user: String, token: SecureBytes, host: String? = nil, port: UInt16? = nil) throws {
        guard mechanism == "XOAUTH2" || mechanism == "OAUTHBEARER" else {
            throw MailSecError(.invalidInput, "\(mechanism) is not a bearer-token mechanism")
        }
        guard !user.utf8.contains(1), !user.contains(","), !token.contains(1) else {
            throw MailSecError(.invalidInput, "\(mechanism) fields cannot contain the byte 0x01 (or a comma in the user name)")
        }
        self.mechanism = mechanism
        message = SecureBytes()
        if mechanism == "XOAUTH2" {
            message.append(contentsOf: "user=\(user)".utf8)
        } else {
            message.append(contentsOf: "n,a=\(user),".utf8)
            if let host {
                message.append(1)
                message.append(contentsOf: "host=\(host)".utf8)
            }
            if let port {
                message.append(1)
                message.append(contentsOf: "port=\(port)".utf8)
            }
        }
        message.append(1)
        message.append(contentsOf: "auth=Bearer ".utf8)
        token.withUnsafeBytes { message.append(contentsOf: $0) }
        message.append(1)
        message.append(1)
    }

    /// The whole request, with the token, in the initial response.
    public func start() throws -> SecureBytes? { message }

    /// A challenge here is the server's JSON error: answered as the mechanism requires, so that the server ends with its refusal.
    public func respond(to challenge: [UInt8]) throws -> SecureBytes {
        guard !answeredError else { throw MailSecError(.protocolViolation, "the server sent a second challenge during \(mechanism)") }
        answeredError = true
        return mechanism == "XOAUTH2" ? SecureBytes() : SecureBytes([1])
    }
}
