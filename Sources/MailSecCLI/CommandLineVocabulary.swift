import MailSec

/// How the messages of `mailsec` and `mailsec-exporter` name mailsec's options and
/// commands: what users type.
extension Vocabulary {
    public static let commandLine = Vocabulary(setting: { setting in
        switch setting {
        case .trustedCAFile: "--ca-file"
        case .trustedCADirectory: "--ca-path"
        case .root: "--root"
        case .hosts: "--host"
        case .certificateFile: "--cert"
        case .keyFile: "--key"
        case .chainFile: "--chain"
        case .crlFiles: "--crl"
        case .maximumDepth: "--max-depth"
        case .allowUnverifiedAuth: "--insecure-auth"
        case .overallTimeout: "--overall-timeout"
        case .authUser: "--auth-user"
        case .checkRelay: "--check-relay"
        case .source: "--source"
        case .ehloName: "--ehlo"
        case .noPenalty: "--no-penalty"
        case .noReload: "--no-reload"
        case .allowNameChange: "--allow-name-change"
        case .installPairs: "--install-cert PATH --install-key PATH"
        case .noProbe: "--no-probe"
        case .postfixDirectory: "--postfix-dir"
        case .dovecotConfig: "--dovecot-config"
        case .passphraseFile: "--passphrase-file"
        case .saslPluginDirectory: "--sasl-plugin-dir"
        case .realm: "--realm"
        case .keySize: "--bits"
        case .keyType: "--key-type"
        case .days: "--days"
        case .subject: "--subject"
        case .subjectAlternativeName: "--san"
        case .keyOutput: "--key-out"
        case .certificateOutput: "--cert-out"
        case .reuseKey: "--reuse-key"
        case .force: "--force"
        }
    }, command: { command in
        switch command {
        case .inspect(let path): "mailsec inspect" + (path.map { " " + ShellQuoting.quote($0) } ?? "")
        case .renew(let host, nil): "mailsec genkey --reuse-key \(host)"
        case .renew(let host, let name?): "mailsec genkey --reuse-key --san \(ShellQuoting.quote(name)) \(host)"
        case .renewFiles(let key, let certificate, let host):
            "mailsec genkey --reuse-key --key-out \(ShellQuoting.quote(key)) --cert-out \(ShellQuoting.quote(certificate)) \(host)"
        case .requestSignature(let host): "mailsec genkey --csr --reuse-key \(host)"
        case .replaceKey(let host, false): "mailsec genkey --force \(host)"
        case .replaceKey(let host, true): "mailsec genkey --force --bits 2048 \(host) (or --key-type ec)"
        case .newPair(let host): "mailsec genkey \(host)"
        case .createAuthority(let name, let root, let replacing):
            "mailsec ca create \(replacing ? "--force " : "")\(ShellQuoting.quote(name))" + (root == "/" ? "" : " --root \(ShellQuoting.quote(root))")
        case .verify: "mailsec verify"
        case .probe(let target): "mailsec probe \(ShellQuoting.quote(target))"
        case .audit: "mailsec audit"
        case .authTest(nil, let user): "mailsec auth test \(ShellQuoting.quote(user))"
        case .authTest(let socket?, let user): "mailsec auth test --socket \(ShellQuoting.quote(socket)) \(ShellQuoting.quote(user))"
        }
    })
}
