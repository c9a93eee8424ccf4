#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// What `mailsec genkey` and `mailsec ca create` are asked to make.
public struct IssuanceRequest {
    /// Where the key comes from.
    public enum KeySource {
        /// A new key of this kind.
        case generate(KeySpec)
        /// Keep the key already at `locations.keyPath` (renewal that keeps DANE 3 1 1 valid).
        case reuseExisting(passphrase: SecureBytes?)
        /// Make the key waiting at `locations.nextKeyPath` the current one (the
        /// old key is kept as a backup): the second half of a DANE rollover,
        /// once the next key's record has been published long enough.
        case promoteNext(passphrase: SecureBytes?)
    }

    /// What is made for the key.
    public enum Output: Equatable {
        /// A certificate: self-signed, or signed by the request's authority.
        case certificate
        /// A CSR to send to a CA.
        case signingRequest
    }

    /// A local CA, as `mailsec ca create` left it.
    public struct Authority {
        /// The CA's name (its files are `NAME.key` and `NAME.crt`).
        public var name: String
        /// Where the CA's key and certificate are.
        public var locations: KeyPairLocations
        /// The passphrase of the CA's key, when it is encrypted.
        public var passphrase: SecureBytes?
        /// A CA by name, where its files are, and the passphrase of its key if it has one.
        public init(name: String, locations: KeyPairLocations, passphrase: SecureBytes? = nil) {
            self.name = name
            self.locations = locations
            self.passphrase = passphrase
        }
    }

    /// The subject, names, validity and role of the certificate or request.
    public var profile: CertificateProfile
    /// Where the key, certificate and request go, with their modes and owners.
    public var locations: KeyPairLocations
    /// A new key, the existing one, or the waiting next key.
    public var key: KeySource
    /// A certificate (self-signed, or signed by `authority`) or a signing request for a CA.
    public var output: Output = .certificate
    /// The local CA that signs the certificate; nil for a self-signed one.
    public var authority: Authority?
    /// Replace existing files, keeping backups.
    public var force = false
    /// Write the new key encrypted under this passphrase.
    public var keyPassphrase: SecureBytes?
    /// Called during key generation, for a progress display.
    public var progress: ((Int) -> Void)?

    /// A request for a certificate or CSR with the given profile, at the given locations, for the given key.
    public init(profile: CertificateProfile, locations: KeyPairLocations, key: KeySource) {
        self.profile = profile
        self.locations = locations
        self.key = key
    }

    var outputPath: String { output == .certificate ? locations.certificatePath : locations.requestPath }
}

/// One file that was written (or, for a reused key, kept).
public struct WrittenFile: Sendable {
    /// Where the file is (under the root, if one was given).
    public var path: String
    /// The path the server sees (without --root), for configuration lines.
    public var systemPath: String
    /// The file's mode and owner after writing.
    public var status: FileStatus?
    /// Where the file it replaced was kept, if there was one.
    public var backupPath: String?
    /// False for a reused key that was left as it was.
    public var written: Bool
}

/// What was made.
public struct IssuanceResult {
    /// The private key's file.
    public var key: WrittenFile
    /// The key's algorithm and size.
    public var keyDescription: KeyDescription
    /// True when the key was written encrypted.
    public var keyEncrypted: Bool
    /// The certificate made, when one was asked for.
    public var certificate: Certificate?
    /// The signing request made, when one was asked for.
    public var request: CertificateSigningRequest?
    /// The certificate's or request's file.
    public var output: WrittenFile
    /// SHA-256 of the key's SubjectPublicKeyInfo: the data of its TLSA `3 1 1` record.
    public var spkiSHA256: [UInt8]
    /// Things the user should know that did not stop the run.
    public var warnings: [String]
}

/// Makes a key and a certificate or CSR and puts them in place safely.
public enum Issuer {
    /// Makes what `request` asks for: the key first (generated, reused or promoted), then the certificate or request, each written safely (a private key 0600 from its first byte, written beside its destination and renamed into place, an existing file kept as a backup).
    public static func run(_ request: IssuanceRequest) throws -> IssuanceResult {
        let locations = request.locations
        let outputPath = request.outputPath
        let reusing: Bool, promoting: Bool
        switch request.key {
        case .reuseExisting: (reusing, promoting) = (true, false)
        case .promoteNext: (reusing, promoting) = (false, true)
        case .generate: (reusing, promoting) = (false, false)
        }
        var warnings: [String] = []
        try validatePaths(key: locations.keyPath, output: outputPath)

        // Refuse early, before spending seconds on an RSA key.
        try SecureFileSystem.prepareDirectory(SecureFileSystem.directory(of: locations.keyPath), mode: locations.keyDirectoryMode,
                                              owner: ownerForKey(locations), holdsPrivateKeys: true)
        try SecureFileSystem.prepareDirectory(SecureFileSystem.directory(of: outputPath), mode: 0o755,
                                              owner: FileOwner.isRunningAsRoot ? .root : nil, holdsPrivateKeys: false)
        // Held from here to the end: checked once, written through, and locked so
        // that two runs for the same key take turns.
        let keyDirectory = try SecureDirectory(path: SecureFileSystem.directory(of: locations.keyPath), holdsPrivateKeys: true)
        let outputDirectory = try SecureDirectory(path: SecureFileSystem.directory(of: outputPath), holdsPrivateKeys: false)
        try keyDirectory.lock()
        let keyName = SecureFileSystem.baseName(of: locations.keyPath)
        for finished in StagedPair.recover(keyDirectory: keyDirectory, keyName: keyName) {
            warnings.append("finished putting \(finished) in place: an earlier run was interrupted between replacing the key and its certificate")
        }
        let outputName = SecureFileSystem.baseName(of: outputPath)
        if outputDirectory.path == keyDirectory.path, outputName == keyName {
            throw MailSecError(.invalidInput, "the key and the certificate would both be written to \(locations.keyPath)",
                               remedy: "give them different paths (\(Vocabulary.name(.keyOutput)) and \(Vocabulary.name(.certificateOutput)))")
        }
        let keyExists = keyDirectory.status(of: keyName) != nil
        if reusing {
            guard keyExists else {
                throw MailSecError(.fileNotFound, "\(locations.keyPath): no key to reuse", remedy: "leave out \(Vocabulary.name(.reuseKey)) to make a new key")
            }
        } else if promoting {
            guard keyDirectory.status(of: SecureFileSystem.baseName(of: locations.nextKeyPath)) != nil else {
                throw MailSecError(.fileNotFound, "\(locations.nextKeyPath): no next key to promote",
                                   remedy: "make one first and publish its TLSA record; promote it after twice the record's TTL")
            }
        } else if keyExists && !request.force {
            throw MailSecError(.fileExists, "\(locations.keyPath) already exists; it was left untouched",
                               remedy: "renew the certificate for this key with \(Vocabulary.name(.reuseKey)), or replace the key with \(Vocabulary.name(.force)) (the old one is kept as a backup)")
        }
        if outputDirectory.status(of: outputName) != nil && !request.force && !reusing && !promoting {
            throw MailSecError(.fileExists, "\(outputPath) already exists; it was left untouched",
                               remedy: "pass \(Vocabulary.name(.force)) to replace it (a backup is kept)")
        }

        let authority = try request.authority.map(loadAuthority)
        if let authority {
            let caExpiry = authority.certificate.notAfter
            let leafExpiry = Date().addingTimeInterval(TimeInterval(request.profile.days) * 86_400)
            if leafExpiry > caExpiry {
                warnings.append("the certificate outlives its CA (which expires \(UTCTime.human(caExpiry))); clients will reject it after that")
            }
        }

        let key: PrivateKey
        let keyEncrypted: Bool
        var promotedPEM: SecureBytes?
        switch request.key {
        case .generate(let spec):
            key = try PrivateKey.generate(spec, progress: request.progress)
            keyEncrypted = request.keyPassphrase != nil
        case .reuseExisting(let passphrase):
            let pem = try SecureFileSystem.read(locations.keyPath)
            key = try pem.withUnsafeBytes { try PrivateKey(pem: $0, passphrase: passphrase, source: locations.keyPath) }
            keyEncrypted = pem.withUnsafeBytes { PEMDocument.looksEncrypted($0) }
        case .promoteNext(let passphrase):
            let pem = try SecureFileSystem.read(locations.nextKeyPath)
            key = try pem.withUnsafeBytes { try PrivateKey(pem: $0, passphrase: passphrase, source: locations.nextKeyPath) }
            keyEncrypted = pem.withUnsafeBytes { PEMDocument.looksEncrypted($0) }
            promotedPEM = pem
        }

        var certificate: Certificate?
        var signingRequest: CertificateSigningRequest?
        let outputBytes: [UInt8]
        switch request.output {
        case .certificate:
            let made = try Certificate(profile: request.profile, subjectKey: key, issuer: authority)
            outputBytes = try made.pem()
            certificate = made
        case .signingRequest:
            let made = try CertificateSigningRequest(profile: request.profile, key: key)
            outputBytes = try made.pem()
            signingRequest = made
        }

        // Stage everything first, so a full disk stops us before anything is replaced.
        var stagedKey: StagedFile?
        if !reusing {
            // A promoted key moves as it is, byte for byte (its encryption too).
            let pem = try promotedPEM ?? key.pkcs8PEM(passphrase: request.keyPassphrase)
            stagedKey = try pem.withUnsafeBytes {
                try StagedFile(in: keyDirectory, name: keyName, contents: $0, mode: locations.keyMode, owner: ownerForKey(locations))
            }
        }
        let stagedOutput = try outputBytes.withUnsafeBytes {
            try StagedFile(in: outputDirectory, name: outputName, contents: $0, mode: locations.publicMode, owner: FileOwner.isRunningAsRoot ? .root : nil)
        }
        // Key and certificate change together or not at all.
        let (keyBackup, outputBackup) = try StagedPair(key: stagedKey, certificate: stagedOutput)
            .commit(replacingKey: request.force || promoting, replacingCertificate: request.force || reusing || promoting, keyDirectory: keyDirectory, keyName: keyName)
        if promoting {
            // It is the current key now (and the old one is a backup): no second copy waits.
            _ = keyDirectory.withDescriptor { unlinkat($0, SecureFileSystem.baseName(of: locations.nextKeyPath), 0) }
            keyDirectory.sync()
        }

        // Only a server key must load unattended; an encrypted CA key is good practice.
        if keyEncrypted && request.profile.role == .server {
            warnings.append("the key is encrypted: Postfix and Dovecot cannot ask for a passphrase and will not start with it")
        }
        if request.profile.role == .server, request.output == .certificate, request.profile.days > 825 {
            warnings.append("Apple clients reject TLS server certificates valid for more than 825 days; consider \(Vocabulary.name(.days)) 825 or less")
        }

        return IssuanceResult(
            key: WrittenFile(path: locations.keyPath, systemPath: locations.systemPath(locations.keyPath),
                             status: FileStatus(path: locations.keyPath), backupPath: keyBackup, written: !reusing),
            keyDescription: key.keyDescription,
            keyEncrypted: keyEncrypted,
            certificate: certificate,
            request: signingRequest,
            output: WrittenFile(path: outputPath, systemPath: locations.systemPath(outputPath),
                                status: FileStatus(path: outputPath), backupPath: outputBackup, written: true),
            spkiSHA256: Digest.sha256(try certificate?.subjectPublicKeyInfo() ?? signingRequest?.subjectPublicKeyInfo() ?? key.subjectPublicKeyInfo()),
            warnings: warnings
        )
    }

    /// Makes the key that will replace the current one, at
    /// `locations.nextKeyPath` (0600, or 0640 for the key group), and touches
    /// nothing else: its TLSA record is published first, the key promoted later.
    public static func makeNextKey(_ spec: KeySpec, locations: KeyPairLocations, force: Bool,
                                   progress: ((Int) -> Void)? = nil) throws -> (file: WrittenFile, key: PrivateKey) {
        let path = locations.nextKeyPath
        try validatePaths(key: path, output: locations.certificatePath)
        try SecureFileSystem.prepareDirectory(SecureFileSystem.directory(of: path), mode: locations.keyDirectoryMode,
                                              owner: ownerForKey(locations), holdsPrivateKeys: true)
        let directory = try SecureDirectory(path: SecureFileSystem.directory(of: path), holdsPrivateKeys: true)
        try directory.lock()
        let name = SecureFileSystem.baseName(of: path)
        if directory.status(of: name) != nil && !force {
            throw MailSecError(.fileExists, "\(path) already exists: a next key is waiting; it was left untouched",
                               remedy: "promote it once its TLSA record has been published for twice its TTL, or replace it with \(Vocabulary.name(.force)) (a backup is kept)")
        }
        let key = try PrivateKey.generate(spec, progress: progress)
        let staged = try key.pkcs8PEM(passphrase: nil).withUnsafeBytes {
            try StagedFile(in: directory, name: name, contents: $0, mode: locations.keyMode, owner: ownerForKey(locations))
        }
        let backup = try staged.commit(replacing: force)
        return (WrittenFile(path: path, systemPath: locations.systemPath(path), status: FileStatus(path: path), backupPath: backup, written: true), key)
    }

    /// Reads a local CA's certificate and key and checks they can sign.
    static func loadAuthority(_ authority: IssuanceRequest.Authority) throws -> (certificate: Certificate, key: PrivateKey) {
        let paths = authority.locations
        guard FileStatus(path: paths.certificatePath) != nil else {
            throw MailSecError(.fileNotFound, "no CA named '\(authority.name)': \(paths.certificatePath) does not exist",
                               remedy: "create it first" + Vocabulary.with(.createAuthority(name: authority.name, root: paths.root, replacing: false)) { ": \($0)" })
        }
        let certificateBytes = try SecureFileSystem.read(paths.certificatePath).withUnsafeBytes { Array($0) }
        guard let certificate = try Certificate.all(in: certificateBytes, source: paths.certificatePath).first else {
            throw MailSecError(.invalidInput, "\(paths.certificatePath) holds no certificate")
        }
        guard certificate.basicConstraints?.isCA == true else {
            throw MailSecError(.invalidInput, "\(paths.certificatePath) is not a CA certificate (basicConstraints CA:TRUE is missing)")
        }
        guard certificate.notAfter > Date() else {
            throw MailSecError(.invalidInput, "the CA '\(authority.name)' expired on \(UTCTime.human(certificate.notAfter))",
                               remedy: "make a new CA" + Vocabulary.with(.createAuthority(name: authority.name, root: paths.root, replacing: true)) { ": \($0)" })
        }
        let pem = try SecureFileSystem.read(paths.keyPath)
        let key = try pem.withUnsafeBytes { try PrivateKey(pem: $0, passphrase: authority.passphrase, source: paths.keyPath) }
        guard key.matches(certificate) else {
            throw MailSecError(.invalidInput, "\(paths.keyPath) is not the key of \(paths.certificatePath)")
        }
        return (certificate, key)
    }

    /// Paths that cannot be written as asked: the same file for key and
    /// certificate, or control characters (a newline in a path would also
    /// inject lines into the configuration snippets printed afterwards).
    static func validatePaths(key: String, output: String) throws {
        for path in [key, output] where path.unicodeScalars.contains(where: TextSanitizer.needsEscape) {
            throw MailSecError(.invalidInput, "the path \(TextSanitizer.quoted(path)) contains a control character (a newline?)",
                               remedy: "give a path without control characters")
        }
        if SecureFileSystem.absolute(key) == SecureFileSystem.absolute(output) {
            throw MailSecError(.invalidInput, "the key and the certificate would both be written to \(key)",
                               remedy: "give them different paths (\(Vocabulary.name(.keyOutput)) and \(Vocabulary.name(.certificateOutput)))")
        }
    }

    static func ownerForKey(_ locations: KeyPairLocations) -> FileOwner? {
        guard FileOwner.isRunningAsRoot else { return nil }
        return FileOwner(uid: 0, gid: locations.keyGroup ?? 0)
    }
}
