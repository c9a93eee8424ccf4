import ArgumentParser
import MailSec

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what certificates, chains, CSRs and keys (PEM or DER) contain.",
        discussion: """
        Private keys are described, never printed; an encrypted key is reported as such. \
        Files that cannot be read are reported on stderr and make the exit code 2.

        Example:
          mailsec inspect /etc/pki/tls/certs/mail.example.com.crt /etc/pki/tls/private/mail.example.com.key
        """
    )

    @Argument(help: "Files to inspect.")
    var files: [String]

    @Flag(help: "Print one JSON document.")
    var json = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one file") }
    }

    func run() throws {
        var results: [FileResult] = []
        for path in files {
            do {
                results.append(FileResult(path: path, objects: try FileInspection.inspect(path).map(InspectedJSON.init), error: nil))
            } catch let error as MailSecError {
                results.append(FileResult(path: path, objects: [], error: error.message))
            }
        }
        if json {
            try JSONOutput.print(InspectionJSON(files: results))
        } else {
            printHuman(results)
        }
        if results.contains(where: { $0.error != nil }) { throw ExitStatus.couldNotRun }
    }

    private func printHuman(_ results: [FileResult]) {
        let renderer = HumanRenderer()
        var first = true
        for result in results {
            if let error = result.error {
                Terminal.printError("mailsec: error: \(error)")
                continue
            }
            if !first { print() }
            first = false
            print(renderer.heading(result.path))
            var certificateNumber = 0
            for object in result.objects {
                let at = object.line.map { " (line \($0))" } ?? ""
                if let facts = object.certificate {
                    certificateNumber += 1
                    let role = facts.isCA == true ? "CA certificate" : "certificate"
                    print("  \(role) \(certificateNumber)\(at)")
                    print(renderer.facts(Self.rows(facts, style: renderer.style), indent: "    "))
                } else if let facts = object.csr {
                    print("  certificate signing request\(at)")
                    print(renderer.facts([
                        ("subject", facts.subject),
                        ("names", facts.sans.isEmpty ? "none requested" : facts.sans.joined(separator: ", ")),
                        ("key", facts.key.description),
                        ("signature", facts.signatureAlgorithm + (facts.signatureValid ? " (valid)" : " (INVALID)")),
                        ("SPKI SHA-256", facts.spkiSHA256),
                        ("TLSA", facts.tlsa),
                    ], indent: "    "))
                } else if let facts = object.privateKey {
                    print("  private key\(at)")
                    var rows = [("format", facts.format == "DER" ? "DER" : "PEM \(facts.format)")]
                    if facts.encrypted {
                        rows.append(("encrypted", "yes: Postfix and Dovecot cannot load it without the passphrase"))
                    } else {
                        rows.append(("key", facts.key?.description ?? "?"))
                        rows.append(("SPKI SHA-256", facts.spkiSHA256 ?? ""))
                        rows.append(("TLSA", facts.tlsa ?? ""))
                    }
                    print(renderer.facts(rows, indent: "    "))
                } else if let facts = object.publicKey {
                    print("  public key\(at)")
                    print(renderer.facts([("key", facts.key.description), ("SPKI SHA-256", facts.spkiSHA256)], indent: "    "))
                }
            }
        }
    }

    static func rows(_ facts: CertificateFacts, style: Style) -> [(String, String)] {
        let validity: String
        if facts.daysLeft < 0 {
            validity = style.red("EXPIRED \(-facts.daysLeft) days ago")
        } else {
            validity = "\(facts.daysLeft) days left"
        }
        var constraints = "none"
        if let ca = facts.isCA {
            constraints = ca ? "CA:TRUE" + (facts.pathLength.map { ", pathlen \($0)" } ?? "") : "CA:FALSE"
        }
        return [
            ("subject", facts.subject),
            ("issuer", facts.selfSigned ? "\(facts.issuer) (self-signed)" : facts.issuer),
            ("names", facts.sans.isEmpty ? "none (no subjectAltName)" : facts.sans.joined(separator: ", ")),
            ("valid from", facts.notBefore),
            ("valid until", "\(facts.notAfter) (\(validity))"),
            ("key", facts.key.description),
            ("signature", facts.signatureAlgorithm),
            ("key usage", facts.keyUsage?.joined(separator: ", ") ?? "any (no keyUsage)"),
            ("ext. key usage", facts.extendedKeyUsage?.joined(separator: ", ") ?? "any (no extendedKeyUsage)"),
            ("constraints", constraints),
            ("serial", facts.serial),
            ("SHA-256", facts.sha256),
            ("SPKI SHA-256", facts.spkiSHA256),
            ("TLSA", facts.tlsa),
        ]
    }
}

struct InspectionJSON: Encodable {
    let files: [FileResult]
}

struct FileResult: Encodable {
    let path: String
    let objects: [InspectedJSON]
    let error: String?
}

/// One object, tagged with its kind: `{"kind": "certificate", "line": 1, ...facts}`.
struct InspectedJSON: Encodable {
    let kind: String
    let line: Int?
    let certificate: CertificateFacts?
    let csr: SigningRequestFacts?
    let privateKey: PrivateKeyFacts?
    let publicKey: PublicKeyJSON?

    struct PublicKeyJSON: Encodable {
        let key: KeyDescription
        let spkiSHA256: String
        enum CodingKeys: String, CodingKey { case type = "key_type", bits = "key_bits", spkiSHA256 = "spki_sha256" }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(key.type.description, forKey: .type)
            try container.encode(key.bits, forKey: .bits)
            try container.encode(spkiSHA256, forKey: .spkiSHA256)
        }
    }

    init(_ object: InspectedObject) {
        var certificate: CertificateFacts?, csr: SigningRequestFacts?, privateKey: PrivateKeyFacts?, publicKey: PublicKeyJSON?
        switch object {
        case .certificate(let facts, let line):
            kind = "certificate"; self.line = line; certificate = facts
        case .signingRequest(let facts, let line):
            kind = "csr"; self.line = line; csr = facts
        case .privateKey(let facts, let line):
            kind = "private_key"; self.line = line; privateKey = facts
        case .publicKey(let key, let spki, let line):
            kind = "public_key"; self.line = line; publicKey = PublicKeyJSON(key: key, spkiSHA256: spki)
        }
        self.certificate = certificate
        self.csr = csr
        self.privateKey = privateKey
        self.publicKey = publicKey
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode(kind, forKey: DynamicKey("kind"))
        try container.encodeIfPresent(line, forKey: DynamicKey("line"))
        // Flatten the facts next to "kind", so consumers read one flat object.
        if let certificate { try certificate.encode(to: encoder) }
        if let csr { try csr.encode(to: encoder) }
        if let privateKey { try privateKey.encode(to: encoder) }
        if let publicKey { try publicKey.encode(to: encoder) }
    }
}

struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
