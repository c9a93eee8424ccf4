import ArgumentParser
import MailSec

struct GenKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genkey",
        abstract: "Make a private key and a self-signed certificate (or a CSR) for a mail host.",
        discussion: """
        Like RHEL's genkey, non-interactively: the key goes to /etc/pki/tls/private/HOSTNAME.key (0600 \
        root:root) and the certificate to /etc/pki/tls/certs/HOSTNAME.crt (0644). Existing files are \
        never replaced without --force, and then the old ones are kept as backups.

        Examples:
          mailsec genkey mail.example.com
          mailsec genkey --san smtp.example.com --san IP:192.0.2.25 --days 825 mail.example.com
          mailsec genkey --csr --subject '/C=DE/O=Example' mail.example.com
          mailsec genkey --reuse-key mail.example.com      # renew; DANE 3 1 1 stays valid
          mailsec genkey --ca office-ca mail.example.com   # sign with a CA from 'mailsec ca create'
        """
    )

    @Argument(help: "The mail server's host name, e.g. mail.example.com (its MX and the name clients use).")
    var hostname: String

    @OptionGroup var key: KeyOptions
    @OptionGroup(title: "Subject") var subject: SubjectOptions

    @Option(name: .customLong("san"), help: ArgumentHelp("Another name for the certificate: a DNS name, *.example.com, or IP:192.0.2.1. Repeatable.", valueName: "name"))
    var alternativeNames: [String] = []

    @Option(help: "Validity in days.")
    var days: Int = 365

    @Option(help: ArgumentHelp("File layout: pki (/etc/pki/tls, RHEL) or debian (/etc/ssl).", valueName: "layout"))
    var layout: LayoutOption = .pki

    @Option(name: .customLong("key-out"), help: ArgumentHelp("Write the key here instead.", valueName: "path"))
    var keyOut: String?

    @Option(name: .customLong("cert-out"), help: ArgumentHelp("Write the certificate (or CSR) here instead.", valueName: "path"))
    var certOut: String?

    @Flag(help: "Make a certificate signing request for a CA instead of a certificate (genkey's --genreq).")
    var csr = false

    @Option(name: .customLong("ca"), help: ArgumentHelp("Sign with the local CA NAME made by 'mailsec ca create'.", valueName: "name"))
    var authority: String?

    @Option(name: .customLong("ca-passphrase-file"), help: ArgumentHelp("Passphrase of an encrypted CA key.", valueName: "file"))
    var authorityPassphraseFile: String?

    @Flag(name: .customLong("reuse-key"), help: "Keep the existing key and issue a new certificate for it (renewal: keeps the previous subject and names, --san adds names; the old certificate is kept as a backup).")
    var reuseKey = false

    @Flag(name: .customLong("next-key"), help: "Make only the key that will replace the current one (private/HOSTNAME.next.key) and print the TLSA records of both, to publish before the switch.")
    var nextKey = false

    @Flag(name: .customLong("promote-next"), help: "Issue the certificate for the next key and make it the current key (the old one is kept as a backup); with --reuse-key's renewal rules.")
    var promoteNext = false

    @OptionGroup(title: "Key encryption") var encryption: EncryptionOptions
    @OptionGroup var placement: PlacementOptions

    func validate() throws {
        do {
            _ = try Hostname.normalize(hostname)
            _ = try alternativeNames.map { try SubjectAlternativeName(parsing: $0) }
        } catch let error as MailSecError {
            throw ValidationError(error.message + (error.remedy.map { "; \($0)" } ?? ""))
        }
        guard CertificateProfile.dayRange.contains(days) else {
            throw ValidationError("--days \(days) is out of range: use 1 to \(CertificateProfile.dayRange.upperBound) (365 is usual)")
        }
        if csr && authority != nil { throw ValidationError("--csr and --ca exclude each other: a CSR goes to an outside CA") }
        if let authority {
            do { try PKILayout.validateAuthorityName(authority) } catch let error as MailSecError { throw ValidationError("--ca: " + error.message) }
        }
        for (option, path) in [("--key-out", keyOut), ("--cert-out", certOut)] {
            if let path, path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                throw ValidationError("\(option) \(TextSanitizer.quoted(path)) contains a control character (a newline?)")
            }
        }
        if let keyOut, let certOut, SecureFileSystem.absolute(keyOut) == SecureFileSystem.absolute(certOut) {
            throw ValidationError("--key-out and --cert-out name the same file: the certificate would take the key's place")
        }
        if nextKey {
            for (given, flag) in [(csr, "--csr"), (authority != nil, "--ca"), (reuseKey, "--reuse-key"), (promoteNext, "--promote-next"),
                                  (encryption.encrypt, "--encrypt"), (certOut != nil, "--cert-out"), (!alternativeNames.isEmpty, "--san")] where given {
                throw ValidationError("--next-key makes only the next key; \(flag) does not apply (it is for the certificate made when the key is promoted)")
            }
        }
        if promoteNext && encryption.encrypt { throw ValidationError("--promote-next keeps the next key as it is; --encrypt does not apply") }
        if promoteNext && (key.bits != nil || key.curve != nil || key.keyType != .rsa) {
            throw ValidationError("--promote-next uses the next key already made, so --key-type, --bits and --curve do not apply")
        }
        if reuseKey && encryption.encrypt { throw ValidationError("--encrypt makes a new key; it cannot be combined with --reuse-key") }
        if reuseKey && (key.bits != nil || key.curve != nil || key.keyType != .rsa) {
            throw ValidationError("--reuse-key keeps the existing key, so --key-type, --bits and --curve do not apply")
        }
    }

    func run() throws {
        try runReportingErrors {
            let host = try Hostname.normalize(hostname)
            let root = try placement.resolvedRoot(needsSystemPaths: keyOut == nil || certOut == nil)
            var locations = layout.value.locations(for: host, root: root)
            if let keyOut { locations.keyPath = SecureFileSystem.absolute(keyOut) }
            if let certOut {
                let path = SecureFileSystem.absolute(certOut)
                if csr { locations.requestPath = path } else { locations.certificatePath = path }
            }

            if nextKey {
                try makeNextKey(host: host, locations: locations)
                return
            }
            let renewing = reuseKey || promoteNext
            // A renewal keeps what the previous certificate said unless told otherwise.
            let previous = renewing ? previousCertificate(at: locations.certificatePath) : nil
            var names: [SubjectAlternativeName] = [.dns(host)]
            // Renewal keeps the previous names; --san adds to them.
            let extraNames = (previous?.subjectAlternativeNames ?? []) + (try alternativeNames.map { try SubjectAlternativeName(parsing: $0) })
            for name in extraNames where !names.contains(name) { names.append(name) }
            let subjectName: DistinguishedName
            if let previous, try subject.given().attributes.isEmpty {
                subjectName = previous.subject
            } else {
                subjectName = try subject.resolve(commonNameDefault: host, interactive: placement.interactive)
            }
            if previous != nil {
                Terminal.printError("mailsec: renewing with the subject and names of the previous certificate unless given")
            }
            let profile = CertificateProfile(subject: subjectName, subjectAlternativeNames: names, days: days, role: .server)

            let source: IssuanceRequest.KeySource
            if promoteNext {
                source = .promoteNext(passphrase: try passphraseIfEncrypted(keyAt: locations.nextKeyPath, file: encryption.passphraseFile, fileOption: "--passphrase-file"))
            } else if reuseKey {
                source = .reuseExisting(passphrase: try passphraseIfEncrypted(keyAt: locations.keyPath, file: encryption.passphraseFile, fileOption: "--passphrase-file"))
            } else {
                source = .generate(key.spec)
            }
            var request = IssuanceRequest(profile: profile, locations: locations, key: source)
            request.output = csr ? .signingRequest : .certificate
            request.force = placement.force
            request.keyPassphrase = try encryption.newKeyPassphrase()
            if let authority {
                let caLocations = PKILayout.authorityLocations(name: authority, root: root)
                request.authority = .init(name: authority, locations: caLocations, passphrase: try passphraseIfEncrypted(keyAt: caLocations.keyPath, file: authorityPassphraseFile, fileOption: "--ca-passphrase-file"))
            }
            if csr && days != 365 {
                Terminal.printError("mailsec: note: --days does not apply to a CSR; the CA decides the validity")
            }
            let progress = renewing ? nil : KeyGenerationProgress.reporter(for: key.spec, quiet: placement.json)
            request.progress = progress
            let result = try Issuer.run(request)
            KeyGenerationProgress.finish(progress)

            let summary = try IssuanceSummary(name: host, result: result, isAuthority: false)
            if placement.json {
                try JSONOutput.print(summary)
            } else {
                summary.printHuman()
            }
        }
    }

    /// `--next-key`: the next key alone, and the records to publish for both keys.
    private func makeNextKey(host: String, locations: KeyPairLocations) throws {
        let progress = KeyGenerationProgress.reporter(for: key.spec, quiet: placement.json)
        let (file, made) = try Issuer.makeNextKey(key.spec, locations: locations, force: placement.force, progress: progress)
        KeyGenerationProgress.finish(progress)
        // The current record from the certificate (readable by all), else from the current key.
        let hasCertificate = FileStatus(path: locations.certificatePath) != nil
        let hasKey = FileStatus(path: locations.keyPath) != nil
        let plan = try TLSAPlan(certificate: hasCertificate ? locations.certificatePath : nil, key: !hasCertificate && hasKey ? locations.keyPath : nil,
                                nextKeys: [file.path], usage: .daneEE, selector: .publicKey, matchingType: .sha256)
        let records = plan.entries.flatMap { entry in
            [25, 465].map { TLSAJSON(name: TLSARecord.ownerName(host: host, port: $0), role: entry.role.rawValue, source: entry.source,
                                     usage: 3, selector: 1, mtype: 1, data: Hex.encode(entry.record.data)) }
        }
        let facts = IssuanceSummary.FileFacts(file)
        if placement.json {
            try JSONOutput.print(NextKeyJSON(name: host, nextKey: facts, type: made.keyDescription.type.description, bits: made.keyDescription.bits, tlsa: records))
            return
        }
        let renderer = HumanRenderer()
        var report = Report()
        report.add(.pass("key-file", "next key written: \(facts.path)  \(facts.mode ?? "?") \(facts.owner ?? "?")  \(made.keyDescription)"))
        if let backup = facts.backup { report.add(.pass("backup", "previous next key kept as \(backup)")) }
        if !plan.entries.contains(where: { $0.role == .current }) {
            report.add(.warn("current", "no current certificate or key at \(locations.certificatePath): only the next key's records are shown"))
        }
        print(renderer.render(report))
        print()
        print(renderer.heading("DANE TLSA records: publish all of them now, beside each other:"))
        for entry in plan.entries {
            print("  ; \(entry.role.rawValue), from \(TextSanitizer.escaped(entry.source))")
            for port in [UInt16(25), 465] { print("  \(entry.record.zoneLine(host: host, port: port))") }
        }
        print()
        print("After twice the records' TTL, switch to the next key:")
        print("  mailsec genkey --reuse-key --promote-next \(host)\(locations.root == "/" ? "" : " --root \(ShellQuoting.quote(locations.root))")")
        print("or have your CA certify it and deploy that certificate; then remove the old key's record.")
    }

    /// The certificate being renewed, when there is a readable one.
    private func previousCertificate(at path: String) -> Certificate? {
        guard let bytes = try? SecureFileSystem.read(path).withUnsafeBytes({ Array($0) }) else { return nil }
        return (try? Certificate.all(in: bytes, source: path))?.first
    }
}

enum LayoutOption: String, ExpressibleByArgument, CaseIterable {
    case pki, debian
    var value: PKILayout { self == .pki ? .pki : .debian }
}

struct NextKeyJSON: Encodable {
    let ok = true
    let name: String
    let nextKey: IssuanceSummary.FileFacts
    let type: String
    let bits: Int
    let tlsa: [TLSAJSON]
    enum CodingKeys: String, CodingKey { case ok, name, nextKey = "next_key", type, bits, tlsa }
}
