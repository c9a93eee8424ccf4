import ArgumentParser
import MailSec

struct CA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Manage a local certificate authority for your own mail hosts.",
        subcommands: [Create.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Make a local CA (genkey's --makeca): key and self-signed CA certificate under /etc/pki/CA.",
            discussion: """
            The key goes to /etc/pki/CA/private/NAME.key (0600) and the certificate to \
            /etc/pki/CA/certs/NAME.crt: CA:TRUE, path length 0, keyCertSign and cRLSign. \
            'mailsec genkey --ca NAME HOST' then signs server certificates with it.

            Example:
              mailsec ca create --organization 'Example Ltd' office-ca
            """
        )

        @Argument(help: "A short name for the CA, used in file names (letters, digits, '.', '-', '_').")
        var name: String

        @OptionGroup var key: KeyOptions
        @OptionGroup(title: "Subject") var subject: SubjectOptions

        @Option(help: "Validity in days.")
        var days: Int = 3650

        @OptionGroup(title: "Key encryption") var encryption: EncryptionOptions
        @OptionGroup var placement: PlacementOptions

        func validate() throws {
            do { try PKILayout.validateAuthorityName(name) } catch let error as MailSecError { throw ValidationError(error.message) }
            guard CertificateProfile.dayRange.contains(days) else {
                throw ValidationError("--days \(days) is out of range: use 1 to \(CertificateProfile.dayRange.upperBound)")
            }
        }

        func run() throws {
            try runReportingErrors {
                let root = try placement.resolvedRoot(needsSystemPaths: true)
                let locations = PKILayout.authorityLocations(name: name, root: root)
                let subjectName = try subject.resolve(commonNameDefault: name, interactive: placement.interactive)
                let profile = CertificateProfile(subject: subjectName, days: days, role: .authority)
                var request = IssuanceRequest(profile: profile, locations: locations, key: .generate(key.spec))
                request.force = placement.force
                request.keyPassphrase = try encryption.newKeyPassphrase()
                let progress = KeyGenerationProgress.reporter(for: key.spec, quiet: placement.json)
                request.progress = progress
                let result = try Issuer.run(request)
                KeyGenerationProgress.finish(progress)

                let summary = try IssuanceSummary(name: name, result: result, isAuthority: true)
                if placement.json {
                    try JSONOutput.print(summary)
                } else {
                    summary.printHuman()
                }
            }
        }
    }
}

