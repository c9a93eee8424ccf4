import MailSec

/// How genkey and `ca create` report what they made, for people and as JSON.
struct IssuanceSummary: Encodable {
    struct FileFacts: Encodable {
        let path: String
        let mode: String?
        let owner: String?
        let backup: String?
        let written: Bool

        init(_ file: WrittenFile) {
            path = file.path
            mode = file.status?.octalMode
            owner = file.status?.ownerDescription
            backup = file.backupPath
            written = file.written
        }
    }

    struct KeyFacts: Encodable {
        let file: FileFacts
        let type: String
        let bits: Int
        let curve: String?
        let encrypted: Bool
        let reused: Bool
    }

    let ok = true
    let name: String
    let key: KeyFacts
    /// For the checklist; the JSON has `key`.
    let keyDescription: KeyDescription
    let certificateFile: FileFacts?
    let certificate: CertificateFacts?
    let csrFile: FileFacts?
    let csr: SigningRequestFacts?
    let spkiSHA256: String
    let tlsa: [String]
    let postfix: [String: String]
    let dovecot: [String: String]
    let trust: [String: String]?
    let warnings: [String]

    enum CodingKeys: String, CodingKey {
        case ok, name, key, certificateFile = "certificate_file", certificate, csrFile = "csr_file", csr
        case spkiSHA256 = "spki_sha256", tlsa, postfix, dovecot, trust, warnings
    }

    /// - Parameters:
    ///   - name: the host name (genkey) or CA name (ca create).
    ///   - isAuthority: a CA: no DANE or server lines, but how clients trust it.
    init(name: String, result: IssuanceResult, isAuthority: Bool) throws {
        self.name = name
        let description = result.keyDescription
        keyDescription = description
        key = KeyFacts(file: FileFacts(result.key), type: description.type.description, bits: description.bits,
                       curve: description.curve, encrypted: result.keyEncrypted, reused: !result.key.written)
        if let certificate = result.certificate {
            certificateFile = FileFacts(result.output)
            // A certificate just made is valid for its full term: count from notBefore,
            // not from a clock that may have ticked past it during generation.
            self.certificate = try CertificateFacts(certificate, now: certificate.notBefore)
            csrFile = nil
            csr = nil
        } else {
            certificateFile = nil
            certificate = nil
            csrFile = FileFacts(result.output)
            csr = try result.request.map { try SigningRequestFacts($0) }
        }
        spkiSHA256 = Hex.encode(result.spkiSHA256)
        let keyPath = result.key.systemPath
        let certificatePath = result.certificate != nil ? result.output.systemPath : result.output.systemPath.replacingSuffix(".csr", with: ".crt")
        if isAuthority {
            tlsa = []
            postfix = [:]
            dovecot = [:]
            let base = SecureFileSystem.baseName(of: certificatePath)
            trust = [
                "rhel": "cp \(certificatePath) /etc/pki/ca-trust/source/anchors/\(base) && update-ca-trust",
                "debian": "cp \(certificatePath) /usr/local/share/ca-certificates/\(base) && update-ca-certificates",
            ]
        } else {
            tlsa = [25, 465].map { "_\($0)._tcp.\(name). IN TLSA 3 1 1 \(Hex.encode(result.spkiSHA256))" }
            postfix = ["smtpd_tls_cert_file": certificatePath, "smtpd_tls_key_file": keyPath]
            dovecot = ["ssl_cert": "<\(certificatePath)", "ssl_key": "<\(keyPath)"]
            trust = nil
        }
        warnings = result.warnings
    }

    func printHuman() {
        let renderer = HumanRenderer()
        var report = Report()
        let keyVerb = key.reused ? "kept" : "written"
        report.add(.pass("key-file", "private key \(keyVerb): \(key.file.path)  \(key.file.mode ?? "?") \(key.file.owner ?? "?")  \(keyDescription)\(key.encrypted ? ", encrypted" : "")"))
        if let file = certificateFile, let certificate {
            let kind = certificate.isCA == true ? "CA certificate" : (certificate.selfSigned ? "self-signed certificate" : "certificate")
            report.add(.pass("certificate-file", "\(kind) written: \(file.path)  \(file.mode ?? "?") \(file.owner ?? "?")"))
        }
        if let file = csrFile {
            report.add(.pass("csr-file", "certificate signing request written: \(file.path)  \(file.mode ?? "?") \(file.owner ?? "?")"))
        }
        for backup in [key.file.backup, certificateFile?.backup, csrFile?.backup].compactMap({ $0 }) {
            report.add(.pass("backup", "previous file kept as \(backup)"))
        }
        for warning in warnings { report.add(.warn("warning", warning)) }
        print(renderer.render(report))
        print()

        if let certificate {
            print(renderer.facts([
                ("subject", certificate.subject),
                ("issuer", certificate.selfSigned ? "self-signed" : certificate.issuer),
                ("names", certificate.sans.isEmpty ? "none" : certificate.sans.joined(separator: ", ")),
                ("expires", "\(certificate.notAfter) (in \(certificate.daysLeft) days)"),
                ("SHA-256", certificate.sha256),
                ("SPKI SHA-256", spkiSHA256),
            ]))
        } else if let csr {
            print(renderer.facts([
                ("subject", csr.subject),
                ("names", csr.sans.joined(separator: ", ")),
                ("SPKI SHA-256", spkiSHA256),
            ]))
            print()
            print("Send \(csrFile!.path) to your CA; install what it returns as the certificate file named below.")
        }
        if !tlsa.isEmpty {
            print()
            print(renderer.heading("DANE TLSA records (publish in a DNSSEC-signed zone):"))
            for record in tlsa { print("  \(record)") }
            print()
            print(renderer.heading("Postfix (main.cf, or -o overrides in master.cf):"))
            print("  smtpd_tls_cert_file = \(postfix["smtpd_tls_cert_file"]!)")
            print("  smtpd_tls_key_file = \(postfix["smtpd_tls_key_file"]!)")
            print()
            print(renderer.heading("Dovecot (conf.d/10-ssl.conf):"))
            print("  ssl_cert = \(dovecot["ssl_cert"]!)")
            print("  ssl_key = \(dovecot["ssl_key"]!)")
            print(renderer.style.dim("  # Dovecot 2.4: ssl_server_cert_file = \(postfix["smtpd_tls_cert_file"]!)"))
            print(renderer.style.dim("  #              ssl_server_key_file = \(postfix["smtpd_tls_key_file"]!)"))
        }
        if let trust {
            print()
            print(renderer.heading("Make clients trust this CA:"))
            print("  RHEL/Fedora:   \(trust["rhel"]!)")
            print("  Debian/Ubuntu: \(trust["debian"]!)")
            print()
            print("Sign server certificates with it: mailsec genkey --ca \(name) HOSTNAME")
        }
    }
}

extension String {
    func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + replacement : self
    }
}

/// A progress display for slow key generation, on a terminal only.
enum KeyGenerationProgress {
    static func reporter(for spec: KeySpec, quiet: Bool) -> ((Int) -> Void)? {
        guard !quiet, Terminal.stderrIsTerminal, case .rsa(let bits) = spec, bits >= 3072 else { return nil }
        Terminal.printError("Generating an RSA \(bits) key, this can take a while ", terminator: "")
        var candidates = 0
        return { event in
            // OpenSSL reports 0 for each candidate tested, 3 when a prime is found.
            if event == 3 {
                Terminal.printError("+", terminator: "")
            } else if event == 0 {
                candidates += 1
                if candidates % 16 == 0 { Terminal.printError(".", terminator: "") }
            }
        }
    }

    static func finish(_ reporter: ((Int) -> Void)?) {
        if reporter != nil { Terminal.printError(" done") }
    }
}
