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

            // A renewal keeps what the previous certificate said unless told otherwise.
            let previous = reuseKey ? previousCertificate(at: locations.certificatePath) : nil
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

            var request = IssuanceRequest(profile: profile, locations: locations,
                                          key: reuseKey ? .reuseExisting(passphrase: try passphraseIfEncrypted(keyAt: locations.keyPath, file: encryption.passphraseFile, fileOption: "--passphrase-file")) : .generate(key.spec))
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
            let progress = reuseKey ? nil : KeyGenerationProgress.reporter(for: key.spec, quiet: placement.json)
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
