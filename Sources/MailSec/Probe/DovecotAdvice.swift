/// The remedies of the Dovecot-served protocols (IMAP, POP3, ManageSieve),
/// naming the setting for Dovecot 2.3 and 2.4, whose names differ.
enum DovecotAdvice {
    static func server(_ target: ProbeTarget) -> ServerAdvice {
        let (protocolName, service) = names(target.mailProtocol)
        return ServerAdvice(
            notListening: "is Dovecot running with \(protocolName) in `protocols` (2.4 enables none by default) and an inet_listener on port \(target.port) in `service \(service)`? Look with: doveconf -n | grep -B2 -A3 inet_listener; ss -ltnp | grep :\(target.port)",
            handshakeFailed: "check the certificate and key Dovecot loads (2.3: ssl_cert = </path, ssl_key = </path; 2.4: ssl_server_cert_file, ssl_server_key_file)" + Vocabulary.with(.verify) { " with \($0)" } + ", and ssl_min_protocol",
            oldProtocol: "set ssl_min_protocol = TLSv1.2 (2.3 and 2.4)",
            clearTextOnImplicitPort: "put ssl = yes inside this listener: service \(service) { inet_listener \(target.mailProtocol == .imap ? "imaps" : "pop3s") { port = \(target.port); ssl = yes } }, then doveadm reload",
            certificateSettings: "ssl_cert and ssl_key (2.3) or ssl_server_cert_file and ssl_server_key_file (2.4)")
    }

    static func names(_ mailProtocol: MailProtocol) -> (protocolName: String, service: String) {
        switch mailProtocol {
        case .imap: ("imap", "imap-login")
        case .pop3: ("pop3", "pop3-login")
        case .sieve: ("sieve", "managesieve-login")
        case .smtp: ("submission", "submission-login")
        }
    }

    static var clearTextLogins: String {
        "set disable_plaintext_auth = yes (2.3) or auth_allow_cleartext = no (2.4), or ssl = required; then doveadm reload. Dovecot counts a client from its own address as secure: probe from another address (\(Vocabulary.name(.source))) to see what clients see"
    }

    static let tlsNotOffered = "set ssl = yes (or ssl = required) with the certificate and key (2.3: ssl_cert = </path, ssl_key = </path; 2.4: ssl_server_cert_file, ssl_server_key_file), then doveadm reload"

    static let noMechanism = "set auth_mechanisms = plain login (conf.d/10-auth.conf); PLAIN and LOGIN are offered once TLS is up"

    static func login(user: String) -> ProbeSession.AuthAdvice {
        let quoted = ShellQuoting.quote(user)
        return .init(refused: "check the credentials against Dovecot: doveadm auth test \(quoted) (auth_verbose = yes logs why a login fails)",
                     temporary: "Dovecot's passdb did not answer: see doveadm log errors, then try doveadm auth test \(quoted)")
    }

    /// The one finding auth-before-tls gives, from what clear-text logins the server offers.
    static func clearTextFinding(_ revealing: [String]) -> Finding {
        guard !revealing.isEmpty else { return .pass("auth-before-tls", "no password-revealing login is offered before TLS") }
        return .fail("auth-before-tls", "\(revealing.joined(separator: ", ")) offered in clear text, before STARTTLS: passwords can be sent unencrypted",
                     remedy: clearTextLogins)
    }
}
