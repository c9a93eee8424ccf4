/// A place that says whether a password is right, as the mail server's SASL
/// backend would: Dovecot's auth socket (`DovecotPasswordChecker`), libsasl2's
/// server side (`CyrusPasswordChecker`) or saslauthd (`SaslauthdClient`).
/// One credential or a whole migration's worth go through the same call.
public protocol PasswordChecker {
    /// Where the verdicts come from: a socket, or the configuration file that decides.
    var origin: String { get }
    /// How the password is checked: a SASL mechanism, `sasl_checkpass`, `saslauthd`.
    var method: String { get }

    /// Checks every credential, with up to `concurrency` in flight where the
    /// backend can take several, calling `onResult` as verdicts arrive (in any
    /// order). Credentials are pulled from the sequence as they are needed, so
    /// a huge file streams through. What could not be checked (the backend
    /// went away for good) is counted in the outcome, never silently dropped.
    @discardableResult
    func check<Credentials: Sequence>(_ credentials: Credentials, concurrency: Int,
                                      onResult: (BatchResult) -> Void) throws -> BatchOutcome where Credentials.Element == BatchCredential
}

extension PasswordChecker {
    /// Checks one credential.
    public func check(user: String, password: SecureBytes) throws -> AuthVerdict {
        var verdict: AuthVerdict?
        let outcome = try check([BatchCredential(line: 1, user: user, password: password)], concurrency: 1) { verdict = $0.verdict }
        if let verdict { return verdict }
        throw outcome.stopReason ?? MailSecError(.io, "\(origin): no verdict")
    }
}

/// Dovecot's auth socket with the request Postfix would make: a client and
/// the request every credential is sent with, its mechanism settled.
public struct DovecotPasswordChecker: PasswordChecker {
    /// The connection to Dovecot's socket.
    public let client: DovecotAuthClient
    /// What each credential is sent with, its mechanism settled.
    public let request: AuthRequest

    /// Connects and settles the mechanism: the one asked for, if Dovecot offers
    /// it; `AUTO`, the strongest both Dovecot and libsasl2 have.
    public init(address: SocketAddress, request: AuthRequest, timeout: Duration = .seconds(10)) throws {
        client = try DovecotAuthClient(address: address, timeout: timeout)
        let offered = client.handshake.mechanisms.map { $0.name.uppercased() }
        var request = request
        if request.mechanism.uppercased() == "AUTO" {
            guard let best = AuthRequest.strongestMechanism(offered: offered, pluginDirectory: request.saslPluginDirectory) else {
                let local = AuthRequest.localMechanisms(pluginDirectory: request.saslPluginDirectory)
                throw MailSecError(.invalidInput, "no mechanism both Dovecot (\(offered.joined(separator: ", "))) and mailsec (\(local.sorted().joined(separator: ", "))) have")
            }
            request.mechanism = best
        }
        guard offered.contains(request.mechanism) else {
            throw MailSecError(.invalidInput, "Dovecot does not offer \(request.mechanism) on \(address) (it offers \(offered.joined(separator: ", ")))",
                               remedy: "add it to auth_mechanisms in conf.d/10-auth.conf, e.g. auth_mechanisms = plain login \(request.mechanism.lowercased()), and reload Dovecot")
        }
        self.request = request
    }

    /// The socket.
    public var origin: String { client.address.description }
    /// The mechanism settled at connection.
    public var method: String { request.mechanism }

    /// Pipelines up to `concurrency` requests on one connection, reconnecting when Dovecot drops it (see `DovecotAuthClient/check(_:request:concurrency:onResult:)`).
    @discardableResult
    public func check<Credentials: Sequence>(_ credentials: Credentials, concurrency: Int,
                                             onResult: (BatchResult) -> Void) throws -> BatchOutcome where Credentials.Element == BatchCredential {
        try client.check(credentials, request: request, concurrency: concurrency, onResult: onResult)
    }
}

extension CyrusPasswordChecker: PasswordChecker {
    /// The smtpd.conf that decides how passwords are checked.
    public var origin: String { configuration.path }
    /// `sasl_checkpass`, with the `pwcheck_method` it follows.
    public var method: String { "sasl_checkpass (pwcheck_method: \(configuration.pwcheckMethod))" }

    /// One at a time whatever `concurrency` says: `sasl_checkpass` is synchronous.
    @discardableResult
    public func check<Credentials: Sequence>(_ credentials: Credentials, concurrency: Int,
                                             onResult: (BatchResult) -> Void) throws -> BatchOutcome where Credentials.Element == BatchCredential {
        check(credentials, onResult: onResult)
        return BatchOutcome()
    }
}

extension SaslauthdClient: PasswordChecker {
    /// saslauthd's socket.
    public var origin: String { path }
    /// `saslauthd`.
    public var method: String { "saslauthd" }
}
