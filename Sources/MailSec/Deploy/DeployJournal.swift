import Glibc

/// One deploy at a time per server, and a record of what a deploy has begun
/// to change, so that a run killed halfway is known to the next one.
///
/// Both live in the state directory, named after the server's configuration
/// (its Postfix directory and Dovecot file), so two servers on one machine (or
/// two test instances) never wait for or read each other's.
final class DeployJournal {
    /// A file the deploy replaced, and where its previous content is kept (nil: it did not exist).
    struct Entry: Equatable {
        var path: String
        var backup: String?
    }

    let path: String
    private let lockDescriptor: Int32

    /// Opens the state directory (made root-only if missing) and takes the server's lock, waiting up to `timeout`.
    init(stateDirectory: String, server: String, timeout: Duration = .seconds(120)) throws {
        // Parents as mkdir -p makes them (a --root tree may not have /var/lib yet); the directory itself root-only.
        var made = ""
        for component in stateDirectory.split(separator: "/") {
            made += "/" + component
            let mode: FilePermissions = made == stateDirectory ? 0o700 : 0o755
            if mkdir(made, mode.mode) != 0, errno != EEXIST {
                throw SecureFileSystem.error(errno, "cannot make the state directory \(stateDirectory)")
            }
        }
        let name = "deploy-" + Hex.encode(Digest.sha256(Array(server.utf8)).prefix(8))
        path = stateDirectory + "/" + name + ".journal"
        let lockPath = stateDirectory + "/" + name + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SecureFileSystem.error(errno, "cannot open the lock \(lockPath)") }
        let deadline = Deadline.after(timeout)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let code = errno
                close(descriptor)
                throw SecureFileSystem.error(code, "cannot lock \(lockPath)")
            }
            guard !deadline.hasPassed else {
                close(descriptor)
                throw MailSecError(.io, "another mailsec deploy to this server is still running after \(timeout.shortDescription) (lock \(lockPath))",
                                   remedy: "wait for it to finish (ps -C mailsec), then run this again")
            }
            usleep(50_000)
        }
        lockDescriptor = descriptor
    }

    deinit {
        close(lockDescriptor)   // releases the lock
    }

    /// What an interrupted deploy had begun, or nil when the last one finished.
    func pending() -> [Entry]? {
        guard let text = try? SecureFileSystem.readText(path, limit: 1 << 20, kind: "the deploy journal") else { return nil }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty else { return nil }
            return Entry(path: String(fields[0]), backup: fields[1] == "-" ? nil : String(fields[1]))
        }
    }

    /// Records the files about to be replaced, durably, before the first one is.
    func record(_ entries: [Entry]) throws {
        let text = entries.map { "\($0.path)\t\($0.backup ?? "-")\n" }.joined()
        let bytes = Array(text.utf8)
        let staged = try bytes.withUnsafeBytes { try StagedFile(path: path, contents: $0, mode: 0o600, owner: nil) }
        try staged.install(replacing: true)
    }

    /// The deploy finished: deployed and served, or rolled back.
    func finish() {
        unlink(path)
        SecureFileSystem.syncDirectory(of: path)
    }
}
