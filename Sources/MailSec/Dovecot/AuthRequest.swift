/// One credential check, shaped like Postfix's requests by default.
public struct AuthRequest: Sendable {
    /// PLAIN and LOGIN are built in; any other mechanism goes through libsasl2.
    public var mechanism = "PLAIN"
    /// Where libsasl2 finds its plugins (nil: its default).
    public var saslPluginDirectory: String?
    /// Realm for DIGEST-MD5 (nil: the server's first).
    public var realm: String?
    /// The `service=` Dovecot sees (Postfix sends `smtp`); passdb rules may depend on it.
    public var service = "smtp"
    /// The `lip=`: the server address the pretended client connected to.
    public var localIP: String?
    /// The `rip=`: the pretended client's address; Dovecot keeps its failure penalty per rip.
    public var remoteIP: String?
    /// The connection is TLS-protected (Postfix sends this when TLS is on).
    public var secured = false
    /// Postfix only authenticates, it never logs in: Dovecot skips login checks.
    public var noLogin = true
    /// Skip Dovecot's penalty for repeated failures from `remoteIP` (batches).
    public var noPenalty = false
    /// The PLAIN authorization identity: log in as this user with the credentials of another (empty: the same user).
    public var authorizationID = ""

    /// A request as Postfix makes it: PLAIN, `service=smtp`, no addresses, not secured.
    public init() {}

    /// The client side of the exchange for one credential.
    public func makeExchange(user: String, password: SecureBytes) throws -> SASLExchange {
        switch mechanism.uppercased() {
        case "PLAIN": return try PlainExchange(authzid: authorizationID, user: user, password: password)
        case "LOGIN": return try LoginExchange(user: user, password: password)
        case "XOAUTH2", "OAUTHBEARER": return try BearerTokenExchange(mechanism: mechanism.uppercased(), user: user, token: password)
        default:
            return try CyrusClientExchange(mechanism: mechanism.uppercased(), user: user, password: password, authzid: authorizationID,
                                           realm: realm, service: service, pluginDirectory: saslPluginDirectory)
        }
    }

    /// Mechanisms from strongest to weakest, for `--mech auto`.
    public static let preference = ["SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN"]

    /// What this side can do: PLAIN and LOGIN built in, plus libsasl2's client plugins.
    public static func localMechanisms(pluginDirectory: String? = nil) -> Set<String> {
        var local: Set<String> = ["PLAIN", "LOGIN"]
        if (try? CyrusSASL.initializeClient(pluginDirectory: pluginDirectory)) != nil {
            local.formUnion(CyrusSASL.availableMechanisms().map { $0.uppercased() })
        }
        return local
    }

    /// `--mech auto`: the strongest mechanism the server offers that this side has.
    public static func strongestMechanism(offered: [String], pluginDirectory: String? = nil) -> String? {
        let local = localMechanisms(pluginDirectory: pluginDirectory)
        let server = Set(offered.map { $0.uppercased() })
        return preference.first { server.contains($0) && local.contains($0) }
    }
}

/// What Dovecot said about one credential.
public struct AuthVerdict: Sendable {
    /// How Postfix would take the answer.
    public enum Outcome: String, Sendable {
        /// OK: the credentials are good and Postfix would accept the login.
        case success
        /// FAIL, or an OK Postfix refuses (nologin, proxy): the login would fail.
        case rejected
        /// temp_fail, a timeout, a dropped connection: undecided.
        case temporary
    }

    /// Accepted, rejected or undecided.
    public var outcome: Outcome
    /// The user name Dovecot returned (`user=`), which may differ from the one sent.
    public var user: String?
    /// `code=` of a FAIL (temp_fail, authz_fail, user_disabled, pass_expired, invalid_base64).
    public var code: String?
    /// Why, in Dovecot's words or ours.
    public var reason: String?
    /// Time from sending the request to the final reply.
    public var milliseconds: Double

    /// An explanation when an answer took longer than a healthy lookup does.
    /// A request that got no answer at all (a timeout, a dropped connection)
    /// has its reason already; Dovecot's delays do not explain it.
    public var slowness: String? {
        guard milliseconds > 2_000, code != "timeout", code != "disconnected" else { return nil }
        var text: String
        if outcome == .rejected {
            text = "Dovecot took \(Int(milliseconds / 1000)) s: it delays every failure by auth_failure_delay (2 s), and repeated failures from the same rip add a penalty of up to 15 s (\(Vocabulary.name(.noPenalty)) skips it)."
        } else {
            text = "Dovecot took \(Int(milliseconds / 1000)) s to answer: a slow passdb (LDAP, SQL) or an overloaded auth process; see doveadm log errors."
        }
        if milliseconds > 10_000 {
            text += " Postfix gives up after 10 s and answers the client 454 4.7.0 Temporary authentication failure."
        }
        return text
    }
}

/// One `user:password` line of a batch.
public struct BatchCredential: Sendable {
    /// The line of the batch file it came from (1 for a single check).
    public var line: Int
    /// The user name to check.
    public var user: String
    /// The password, wiped when the last copy goes.
    public var password: SecureBytes

    /// A credential from `line` of its source.
    public init(line: Int, user: String, password: SecureBytes) {
        self.line = line
        self.user = user
        self.password = password
    }
}

/// The verdict for one batch line.
public struct BatchResult: Sendable {
    /// The line of the batch file the credential came from.
    public var line: Int
    /// The user name that was checked.
    public var user: String
    /// What the backend answered.
    public var verdict: AuthVerdict

    /// The verdict for the credential of `line`.
    public init(line: Int, user: String, verdict: AuthVerdict) {
        self.line = line
        self.user = user
        self.verdict = verdict
    }
}
