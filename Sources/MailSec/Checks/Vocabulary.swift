import Synchronization

/// How messages and fixes name what the program built on MailSec offers its
/// user: its settings and its commands.
///
/// The library speaks of Postfix, Dovecot, OpenSSL and files. Where a fix is
/// "set this" or "run that" in the program itself, the program's own words are
/// used: `mailsec` says `--ca-file` and `mailsec genkey --reuse-key HOST`, its
/// exporter says `ca_file`. A program sets its vocabulary once, when it starts
/// and before it calls anything else, as it bootstraps its logging; until then
/// messages name the library's own properties and suggest no command.
public struct Vocabulary: Sendable {
    /// A setting of the program, as its user sets it.
    public enum Setting: String, Sendable, CaseIterable {
        /// A file of trusted CA certificates (`TrustAnchors.file`).
        case trustedCAFile = "TrustAnchors.file"
        /// A hashed directory of trusted CA certificates (`TrustAnchors.directory`).
        case trustedCADirectory = "TrustAnchors.directory"
        /// The root the server's files are under (`root` of the requests).
        case root
        /// The host names to check certificates for (`VerifyRequest.hosts`, `AuditRequest.hosts`).
        case hosts
        /// The certificate file to check (`VerifyRequest.certificatePath`).
        case certificateFile = "VerifyRequest.certificatePath"
        /// The private key file to check (`VerifyRequest.keyPath`).
        case keyFile = "VerifyRequest.keyPath"
        /// More intermediates (`VerifyRequest.chainPath`).
        case chainFile = "VerifyRequest.chainPath"
        /// CRL files (`VerifyRequest.crlPaths`).
        case crlFiles = "VerifyRequest.crlPaths"
        /// The longest chain allowed (`VerifyRequest.maximumDepth`).
        case maximumDepth = "VerifyRequest.maximumDepth"
        /// Log in over a session whose certificate did not verify (`ProbeOptions.allowUnverifiedAuth`).
        case allowUnverifiedAuth = "ProbeOptions.allowUnverifiedAuth"
        /// The deadline of a whole probe (`ProbeOptions.overallTimeout`).
        case overallTimeout = "ProbeOptions.overallTimeout"
        /// The user to log in as (`ProbeOptions.authUser`).
        case authUser = "ProbeOptions.authUser"
        /// Check that relaying is refused (`ProbeOptions.checkRelay`).
        case checkRelay = "ProbeOptions.checkRelay"
        /// The local address to connect from (`ProbeOptions.source`).
        case source = "ProbeOptions.source"
        /// The EHLO name (`ProbeOptions.ehloName`).
        case ehloName = "ProbeOptions.ehloName"
        /// Skip Dovecot's failure penalty (`AuthRequest.noPenalty`).
        case noPenalty = "AuthRequest.noPenalty"
        /// Turning the reload after a deploy off (`DeployRequest.reload`).
        case noReload = "DeployRequest.reload"
        /// Install a certificate that drops a name (`DeployRequest.allowNameChange`).
        case allowNameChange = "DeployRequest.allowNameChange"
        /// The pairs a deploy replaces (`DeployRequest.installPairs`).
        case installPairs = "DeployRequest.installPairs"
        /// Auditing without probing (`AuditRequest.probe`).
        case noProbe = "AuditRequest.probe"
        /// Postfix's configuration directory (`postfixDirectory` of the requests).
        case postfixDirectory
        /// Dovecot's configuration file (`dovecotConfig` of the requests).
        case dovecotConfig
        /// A file holding a key's passphrase (`IssuanceRequest.KeySource` passphrases).
        case passphraseFile = "passphrase"
        /// Where libsasl2's plugins are (`AuthRequest.saslPluginDirectory`).
        case saslPluginDirectory = "AuthRequest.saslPluginDirectory"
        /// The realm of sasldb users (`AuthRequest.realm`).
        case realm = "AuthRequest.realm"
        /// An RSA key's size (`KeySpec.rsa(bits:)`).
        case keySize = "KeySpec.rsa(bits:)"
        /// The kind of key (`KeySpec`).
        case keyType = "KeySpec"
        /// A certificate's lifetime (`CertificateProfile.days`).
        case days = "CertificateProfile.days"
        /// A certificate's subject (`CertificateProfile.subject`).
        case subject = "CertificateProfile.subject"
        /// A subjectAltName (`CertificateProfile.subjectAlternativeNames`).
        case subjectAlternativeName = "CertificateProfile.subjectAlternativeNames"
        /// Where the key is written (`KeyPairLocations.keyPath`).
        case keyOutput = "KeyPairLocations.keyPath"
        /// Where the certificate is written (`KeyPairLocations.certificatePath`).
        case certificateOutput = "KeyPairLocations.certificatePath"
        /// Keeping the existing key (`IssuanceRequest.KeySource.reuseExisting`).
        case reuseKey = "IssuanceRequest.KeySource.reuseExisting"
        /// Replacing existing files, keeping backups (`IssuanceRequest.force`).
        case force = "IssuanceRequest.force"
    }

    /// Something the program does that a fix may tell its user to run.
    public enum Command: Sendable, Hashable {
        /// Show what a file holds (any file's, when nil).
        case inspect(path: String?)
        /// A new self-signed certificate for `host`'s existing key, adding `name` when given.
        case renew(host: String, addingName: String?)
        /// A new self-signed certificate for the existing key in `keyFile`, written to `certificateFile`.
        case renewFiles(keyFile: String, certificateFile: String, host: String)
        /// A signing request for `host`'s existing key, for a CA.
        case requestSignature(host: String)
        /// A new key and certificate for `host` in place of the old (kept as backups);
        /// `choosingKey` asks for the key to be named (RSA 2048 or EC).
        case replaceKey(host: String, choosingKey: Bool)
        /// A new key and certificate for `host`.
        case newPair(host: String)
        /// A local CA named `name`, under `root` when it is not `/`; `replacing` an existing one.
        case createAuthority(name: String, root: String, replacing: Bool)
        /// Check a certificate and key as clients judge them.
        case verify
        /// Probe a target.
        case probe(target: String)
        /// Audit every listener of the server.
        case audit
        /// Check `user`'s login on Postfix's SASL socket (its default path when nil).
        case authTest(socket: String?, user: String)
    }

    /// How the program's user sets `setting`.
    public var setting: @Sendable (Setting) -> String
    /// A command line that does `command`, or nil when the program has none.
    public var command: @Sendable (Command) -> String?

    /// A vocabulary from the program's two ways of naming things.
    public init(setting: @escaping @Sendable (Setting) -> String, command: @escaping @Sendable (Command) -> String?) {
        self.setting = setting
        self.command = command
    }

    /// The library's own words: settings by the property that holds them, no commands.
    public static let library = Vocabulary(setting: { "`\($0.rawValue)`" }, command: { _ in nil })

    private static let chosen = Mutex(Vocabulary.library)

    /// Makes `vocabulary` the one every message and fix of this process uses.
    /// Call it once, at start, before anything else (later calls replace it).
    public static func bootstrap(_ vocabulary: Vocabulary) {
        chosen.withLock { $0 = vocabulary }
    }

    /// The vocabulary in use.
    static var current: Vocabulary { chosen.withLock { $0 } }

    /// How the user sets `setting` here.
    static func name(_ setting: Setting) -> String { current.setting(setting) }

    /// The command line for `command`, nil when the program has none.
    static func line(_ command: Command) -> String? { current.command(command) }

    /// `text` with the command line put in (`text(line)`), or `otherwise` when the program has none.
    static func with(_ command: Command, _ text: (String) -> String, otherwise: String = "") -> String {
        line(command).map(text) ?? otherwise
    }
}
