/// One TLS listener as the configuration describes it: who serves it, where,
/// how TLS starts, and which files it is configured to load.
public struct AuditEndpoint: Sendable, Equatable {
    /// `postfix/smtps`, `dovecot/imaps`.
    public var service: String
    /// SMTP, IMAP, POP3 or ManageSieve.
    public var mailProtocol: MailProtocol
    /// Implicit TLS (465, 993, 995) or STARTTLS.
    public var mode: ProbeTarget.Mode
    /// Where to connect to check it (a wildcard listen address becomes 127.0.0.1).
    public var address: String
    /// The port it listens on.
    public var port: UInt16
    /// The SNI name this endpoint answers for (a tls_server_sni_maps entry, a local_name block).
    public var serverName: String?
    /// The certificate and key files as the server names them (not under the root), in the pairs it loads:
    /// Postfix's RSA and EC pairs, Dovecot's ssl_cert and ssl_alt_cert.
    public var pairs: [CertificatePair]
    /// `file:line` of the setting that names the certificate.
    public var source: String
    /// For an SNI map: a problem with the compiled map (older than its source or its files).
    public var mapProblem: String?
    /// The remedy's reload command for this server.
    public var reload: String
    /// The same reload as a program and its arguments, for deploy to run.
    public var reloadArguments: [String]
    /// For an SNI map: `postmap -F` on it, which copies the files it names into the compiled map.
    public var rebuildArguments: [String]?

    /// A certificate file and the key file that goes with it.
    public struct CertificatePair: Sendable, Equatable {
        /// The certificate (with its chain) file.
        public var certificate: String
        /// The same file as `certificate` when one file holds both (smtpd_tls_chain_files, SNI maps).
        public var key: String

        /// A pair of files; the same path twice when one file holds both.
        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// The label of human output: `postfix/smtps 127.0.0.1:465 (SNI mail.example.com)`.
    public var label: String {
        let shownHost = address.contains(":") ? "[\(address)]" : address
        return "\(service) \(shownHost):\(port)" + (serverName.map { " (SNI \($0))" } ?? "")
    }

    var target: ProbeTarget {
        ProbeTarget(mailProtocol: mailProtocol, host: address, port: port, mode: mode, requireTLS: true)
    }
}

/// A wildcard or empty listen address is probed on loopback.
func probeAddress(_ listen: String?) -> String {
    guard let listen, !listen.isEmpty, !["*", "::", "0.0.0.0", "[::]", "all"].contains(listen) else { return "127.0.0.1" }
    if listen == "localhost" || listen == "loopback-only" { return "127.0.0.1" }
    return listen.trimmingBrackets
}
