import ArgumentParser
import MailSec

enum KeyTypeOption: String, ExpressibleByArgument, CaseIterable {
    case rsa, ec, ed25519
}

/// `--key-type`, `--bits`, `--curve`: shared by genkey and ca create.
struct KeyOptions: ParsableArguments {
    @Option(name: .customLong("key-type"), help: "Key algorithm: rsa (what old Outlook clients need), ec or ed25519.")
    var keyType: KeyTypeOption = .rsa

    @Option(help: ArgumentHelp("RSA key size: 2048, 3072 or 4096. Less is refused.", valueName: "bits"))
    var bits: Int?

    @Option(help: ArgumentHelp("EC curve: P-256 or P-384.", valueName: "curve"))
    var curve: String?

    func validate() throws {
        if let bits {
            guard keyType == .rsa else { throw ValidationError("--bits applies to RSA keys only; use --curve for EC keys") }
            guard bits >= 2048 else {
                throw ValidationError("--bits \(bits) is refused: RSA keys under 2048 bits are rejected by current clients and OpenSSL's default security level")
            }
            guard KeySpec.rsaSizes.contains(bits) else { throw ValidationError("--bits must be 2048, 3072 or 4096") }
        }
        if let curve {
            guard keyType == .ec else { throw ValidationError("--curve applies to EC keys only (add --key-type ec)") }
            guard Self.parseCurve(curve) != nil else { throw ValidationError("--curve must be P-256 or P-384, not '\(curve)'") }
        }
    }

    var spec: KeySpec {
        switch keyType {
        case .rsa: .rsa(bits: bits ?? 2048)
        case .ec: .ec(curve: curve.flatMap(Self.parseCurve) ?? .p256)
        case .ed25519: .ed25519
        }
    }

    static func parseCurve(_ text: String) -> ECCurve? {
        switch text.lowercased() {
        case "p-256", "p256", "prime256v1", "secp256r1": .p256
        case "p-384", "p384", "secp384r1": .p384
        default: nil
        }
    }
}

/// The subject fields genkey asked for, as flags or one `--subject`.
struct SubjectOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Subject in OpenSSL form, e.g. '/C=DE/ST=Berlin/O=Example/OU=Mail'.", valueName: "subject"))
    var subject: String?

    @Option(help: ArgumentHelp("Country (two letters).", valueName: "C"))
    var country: String?

    @Option(help: ArgumentHelp("State or province.", valueName: "ST"))
    var state: String?

    @Option(help: ArgumentHelp("Locality (city).", valueName: "L"))
    var locality: String?

    @Option(help: ArgumentHelp("Organization.", valueName: "O"))
    var organization: String?

    @Option(name: .customLong("org-unit"), help: ArgumentHelp("Organizational unit.", valueName: "OU"))
    var organizationalUnit: String?

    @Option(name: .customLong("common-name"), help: ArgumentHelp("Common name (default: the host or CA name).", valueName: "CN"))
    var commonName: String?

    func validate() throws {
        do {
            _ = try given()
        } catch let error as MailSecError {
            throw ValidationError(error.message + (error.remedy.map { " (\($0))" } ?? ""))
        }
    }

    /// The fields given on the command line, `--subject` first, flags overriding.
    func given() throws -> DistinguishedName {
        var name = try subject.map { try DistinguishedName(parsing: $0) } ?? DistinguishedName()
        let flags: [(String, String?)] = [("C", country), ("ST", state), ("L", locality), ("O", organization),
                                          ("OU", organizationalUnit), ("CN", commonName)]
        for (key, value) in flags where value != nil { name[key] = value }
        if let country = name["C"] { name["C"] = country.uppercased() }
        try name.validate()
        return name
    }

    /// The final subject: given fields, then (on a terminal, without --batch)
    /// the missing ones asked for like genkey did, CN defaulting to `commonNameDefault`.
    func resolve(commonNameDefault: String, interactive: Bool) throws -> DistinguishedName {
        var name = try given()
        if interactive {
            Terminal.printError("Enter the certificate's subject; press Enter to leave a field out.")
            let questions = [("C", "Country Name (2 letter code)"), ("ST", "State or Province Name"), ("L", "Locality Name (city)"),
                             ("O", "Organization Name"), ("OU", "Organizational Unit Name")]
            for (key, question) in questions where name[key] == nil {
                while true {
                    guard let answer = Terminal.ask(question) else { break }
                    var candidate = name
                    candidate[key] = key == "C" ? answer.uppercased() : answer
                    do {
                        try candidate.validate()
                        name = candidate
                        break
                    } catch let error as MailSecError {
                        Terminal.printError("  \(error.message)")
                    }
                }
            }
            if name["CN"] == nil, let answer = Terminal.ask("Common Name", default: commonNameDefault) {
                name["CN"] = answer
            }
        }
        if name["CN"] == nil { name["CN"] = commonNameDefault }
        try name.validate()
        return name.sortedConventionally()
    }
}

/// `--root`, `--batch`, `--force`, `--json`: the safety and output options.
struct PlacementOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Put every path under DIR (default /), e.g. to prepare files for another machine.", valueName: "dir"))
    var root: String?

    @Flag(help: "Never prompt; use defaults for the subject fields not given.")
    var batch = false

    @Flag(help: "Replace existing files; the old ones are kept as PATH.<timestamp>.bak.")
    var force = false

    @Flag(help: "Print the result as one JSON document.")
    var json = false

    /// The prefix to use. Writing to the real /etc needs root: say so before doing anything.
    func resolvedRoot(needsSystemPaths: Bool) throws -> String {
        if let root { return SecureFileSystem.absolute(root) }
        if needsSystemPaths && !FileOwner.isRunningAsRoot {
            throw MailSecError(.permission, "writing under /etc needs root",
                               remedy: "run it as root (sudo), or choose a directory you own with --root DIR (files go to DIR/etc/...)")
        }
        return "/"
    }

    /// Prompt only when a person is there to answer.
    var interactive: Bool { !batch && !json && Terminal.stdinIsTerminal }
}

/// `--encrypt` and `--passphrase-file` for a new key.
struct EncryptionOptions: ParsableArguments {
    @Flag(help: "Encrypt the private key (PKCS#8, AES-256). Postfix and Dovecot cannot start with an encrypted key.")
    var encrypt = false

    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp("Read the key's passphrase from the first line of FILE.", valueName: "file"))
    var passphraseFile: String?

    /// The passphrase for `--encrypt`: from the file, else asked twice with echo off.
    func newKeyPassphrase() throws -> SecureBytes? {
        guard encrypt else { return nil }
        if let passphraseFile {
            let secret = try Terminal.readSecretFile(passphraseFile)
            try Self.check(secret)
            return secret
        }
        guard let first = try Terminal.readSecret(prompt: "Passphrase for the new key: ") else {
            throw MailSecError(.passphrase, "a passphrase for the new key is needed and there is no terminal to ask on",
                               remedy: "give it with --passphrase-file FILE")
        }
        try Self.check(first)
        guard let second = try Terminal.readSecret(prompt: "Repeat the passphrase: "), second.isEqual(to: first) else {
            throw MailSecError(.passphrase, "the passphrases do not match")
        }
        return first
    }

    private static func check(_ secret: SecureBytes) throws {
        guard secret.count >= 4 else {
            throw MailSecError(.passphrase, "the passphrase is shorter than 4 characters (OpenSSL's minimum)")
        }
    }
}

/// The passphrase of the key at `path` when it is encrypted (nil when it is
/// not): from `file`, else a no-echo prompt. `fileOption` names the flag to
/// suggest when there is neither.
func passphraseIfEncrypted(keyAt path: String, file: String?, fileOption: String) throws -> SecureBytes? {
    guard let contents = try? SecureFileSystem.read(path),
          contents.withUnsafeBytes({ PEMDocument.looksEncrypted($0) }) else { return nil }
    if let file { return try Terminal.readSecretFile(file) }
    guard let secret = try Terminal.readSecret(prompt: "Passphrase for \(path): ") else {
        throw MailSecError(.passphrase, "\(path) is encrypted and there is no terminal to ask for its passphrase",
                           remedy: "give it with \(fileOption) FILE")
    }
    return secret
}
