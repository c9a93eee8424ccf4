#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// A directory held open by descriptor. Files are created, linked and renamed
/// relative to the descriptor, so once it has been opened and checked, nobody
/// can redirect what is written by swapping a directory on the path (a
/// writable parent directory, a long RSA generation to race against).
public final class SecureDirectory {
    private let descriptor: Int32
    /// The directory's real path (symbolic links resolved), for messages and backups.
    public let path: String

    /// Opens the existing directory `path`. With `holdsPrivateKeys`, it and
    /// every directory above it must be safe (see `SecureFileSystem.checkPrivateDirectory`),
    /// and the opened directory is checked again through its descriptor.
    public init(path: String, holdsPrivateKeys: Bool) throws {
        guard let real = SecureFileSystem.realPath(path) else { throw SecureFileSystem.error(errno, "cannot open the directory \(path)") }
        let checked = holdsPrivateKeys ? try SecureFileSystem.checkPrivateDirectory(real) : nil
        let descriptor = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw SecureFileSystem.error(errno, "cannot open the directory \(real)") }
        var opened = stat()
        if let checked {
            // The directory we hold must be the one we checked, and still be safe.
            guard fstat(descriptor, &opened) == 0, opened.st_dev == checked.st_dev, opened.st_ino == checked.st_ino,
                  opened.st_mode & 0o022 == 0, opened.st_uid == 0 || opened.st_uid == geteuid() else {
                close(descriptor)
                throw MailSecError(.permission, "\(real) changed while it was being checked; someone else can modify it",
                                   remedy: "keep private keys in a directory that only root can change")
            }
        }
        self.descriptor = descriptor
        self.path = real
    }

    deinit {
        close(descriptor)
    }

    /// Holds an exclusive lock on the directory until released, so that two
    /// runs writing the same key pair take turns instead of mixing their files.
    /// Waits up to `timeout` for another run to finish.
    public func lock(timeout: Duration = .seconds(120)) throws {
        let deadline = Deadline.after(timeout)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw SecureFileSystem.error(errno, "cannot lock \(path)") }
            guard !deadline.hasPassed else {
                throw MailSecError(.io, "another mailsec is still writing keys in \(path) after \(timeout.shortDescription)",
                                   remedy: "wait for it to finish (ps -C mailsec), then run this again")
            }
            usleep(20_000)
        }
    }

    func withDescriptor<R>(_ body: (Int32) throws -> R) rethrows -> R { try body(descriptor) }

    /// What `lstat` says about `name` in this directory; nil when absent.
    func status(of name: String) -> stat? {
        var info = stat()
        return fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? info : nil
    }

    /// Fsyncs the directory, so renames and links in it survive a crash.
    func sync() {
        fsync(descriptor)
    }
}

/// A file written next to its destination but not yet in place.
///
/// The temporary file is created exclusively with mode 0600, so whatever the
/// umask its content is never readable by others; it gets its final owner and
/// mode, is fsynced, and only then linked or renamed into place. Until
/// `commit`, the destination is untouched; an interrupted run leaves at most a
/// root-only `.NAME.tmp-*` file behind. Everything happens relative to the
/// directory's descriptor (`SecureDirectory`).
public final class StagedFile {
    /// The destination.
    public let path: String
    let directory: SecureDirectory
    let name: String
    let temporaryName: String
    var temporaryPath: String { directory.path + "/" + temporaryName }
    private var finished = false

    /// Writes `contents` to a temporary file in `path`'s directory with `mode` and `owner`.
    public convenience init(path: String, contents: UnsafeRawBufferPointer, mode: FilePermissions, owner: FileOwner?) throws {
        let directory = try SecureDirectory(path: SecureFileSystem.directory(of: path), holdsPrivateKeys: false)
        try self.init(in: directory, name: SecureFileSystem.baseName(of: path), contents: contents, mode: mode, owner: owner)
    }

    /// Writes `contents` to a temporary file in `directory`, to become `name`.
    public init(in directory: SecureDirectory, name: String, contents: UnsafeRawBufferPointer, mode: FilePermissions, owner: FileOwner?) throws {
        self.directory = directory
        self.name = name
        path = directory.path + "/" + name
        let random = UInt64.random(in: .min ... .max)
        temporaryName = ".\(name).tmp-\(getpid())-\(String(random, radix: 36))"

        let descriptor = directory.withDescriptor { openat($0, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard descriptor >= 0 else {
            throw SecureFileSystem.error(errno, "cannot create a file in \(directory.path)")
        }
        var closed = false
        do {
            defer { if !closed { close(descriptor) } }
            try Self.writeAll(descriptor, contents, path: path)
            // Owner before mode: the final mode may open the file to the group
            // (Debian's 0640 root:ssl-cert), which must be the right group by then.
            if let owner, fchown(descriptor, owner.uid, owner.gid) != 0 {
                throw SecureFileSystem.error(errno, "cannot give \(path) to \(FileOwner.userName(owner.uid)):\(FileOwner.groupName(owner.gid))")
            }
            guard fchmod(descriptor, mode.mode) == 0 else { throw SecureFileSystem.error(errno, "cannot set the mode of \(path)") }
            guard fsync(descriptor) == 0 else { throw SecureFileSystem.error(errno, "cannot flush \(path) to disk") }
            closed = true
            guard close(descriptor) == 0 else { throw SecureFileSystem.error(errno, "cannot write \(path)") }
        } catch {
            removeTemporary()
            finished = true
            throw error
        }
    }

    deinit {
        if !finished { removeTemporary() }
    }

    /// Puts the file in place. Without `replacing`, an existing destination is
    /// an error (checked atomically by `link`). With it, the old file is first
    /// linked to a backup name, then atomically replaced by `rename`, so the
    /// destination always holds either the old or the new content.
    /// Returns the backup's path, if one was made.
    @discardableResult
    public func commit(replacing: Bool, now: Date = Date()) throws -> String? {
        let backup = replacing ? try keepBackup(now: now) : nil
        try install(replacing: replacing)
        return backup
    }

    /// Links the current destination, if any, to a free backup name; returns its path.
    func keepBackup(now: Date) throws -> String? {
        precondition(!finished, "a staged file is committed once")
        guard directory.status(of: name) != nil else { return nil }
        let candidate = try SecureFileSystem.backupName(for: name, in: directory, now: now)
        let linked = directory.withDescriptor { linkat($0, name, $0, candidate, 0) }
        guard linked == 0 else {
            let code = errno
            removeTemporary()
            finished = true
            throw SecureFileSystem.error(code, "cannot keep a backup of \(path) as \(directory.path)/\(candidate)")
        }
        return directory.path + "/" + candidate
    }

    /// Moves the staged file into place (see `commit`).
    func install(replacing: Bool) throws {
        precondition(!finished, "a staged file is committed once")
        defer { finished = true }
        if replacing {
            let renamed = directory.withDescriptor { renameat($0, temporaryName, $0, name) }
            guard renamed == 0 else {
                let code = errno
                removeTemporary()
                throw SecureFileSystem.error(code, "cannot put \(path) in place")
            }
        } else {
            let linked = directory.withDescriptor { linkat($0, temporaryName, $0, name, 0) }
            let code = errno
            removeTemporary()
            guard linked == 0 else {
                if code == EEXIST {
                    throw MailSecError(.fileExists, "\(path) already exists", remedy: "it was left untouched; pass \(Vocabulary.name(.force)) to replace it (a backup is kept)")
                }
                throw SecureFileSystem.error(code, "cannot put \(path) in place")
            }
        }
        directory.sync()
    }

    /// Removes the temporary file without touching the destination.
    public func discard() {
        guard !finished else { return }
        removeTemporary()
        finished = true
    }

    private func removeTemporary() {
        _ = directory.withDescriptor { unlinkat($0, temporaryName, 0) }
    }

    private static func writeAll(_ descriptor: Int32, _ contents: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < contents.count {
            let written = write(descriptor, contents.baseAddress! + offset, contents.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw SecureFileSystem.error(errno, "cannot write \(path)")
            }
            offset += written
        }
    }
}

/// A key and its certificate replaced as a pair: either both change or neither.
///
/// Both files are staged first. A journal in the key's directory then names
/// the staged files and their destinations before the first rename, so a run
/// killed between the two renames is finished by the next run (`recover`); a
/// failure to put the certificate in place puts the old key back.
public struct StagedPair {
    /// The new key, nil when the key stays as it is.
    public let key: StagedFile?
    /// The new certificate.
    public let certificate: StagedFile

    /// A pair from two staged files (the key optional).
    public init(key: StagedFile?, certificate: StagedFile) {
        self.key = key
        self.certificate = certificate
    }

    static func journalName(for key: String) -> String { ".\(key).commit" }

    /// Puts both in place; returns the backups made (key, certificate).
    public func commit(replacingKey: Bool, replacingCertificate: Bool, keyDirectory: SecureDirectory, keyName: String,
                       now: Date = Date()) throws -> (key: String?, certificate: String?) {
        guard let key else {
            return (nil, try certificate.commit(replacing: replacingCertificate, now: now))
        }
        let journal = Self.journalName(for: keyName)
        let entries = "\(key.temporaryPath)\t\(key.path)\n\(certificate.temporaryPath)\t\(certificate.path)\n"
        let written = try Array(entries.utf8).withUnsafeBytes {
            try StagedFile(in: keyDirectory, name: journal, contents: $0, mode: 0o600, owner: nil)
        }
        try written.install(replacing: true)
        defer {
            _ = keyDirectory.withDescriptor { unlinkat($0, journal, 0) }
            keyDirectory.sync()
        }
        let keyBackup = replacingKey ? try key.keepBackup(now: now) : nil
        do {
            try key.install(replacing: replacingKey)
        } catch {
            if let keyBackup { unlink(keyBackup) }
            throw error
        }
        do {
            let certificateBackup = try certificate.commit(replacing: replacingCertificate, now: now)
            return (keyBackup, certificateBackup)
        } catch {
            // Put the old key back (its backup is a link to it), or take the new one away.
            if let keyBackup {
                rename(keyBackup, key.path)
            } else {
                unlink(key.path)
            }
            keyDirectory.sync()
            throw MailSecError((error as? MailSecError)?.code ?? .io,
                               "\((error as? MailSecError)?.message ?? "\(error)"); the key was put back as it was, so key and certificate still belong together",
                               remedy: (error as? MailSecError)?.remedy)
        }
    }

    /// Finishes a pair replacement that an earlier run left half done (killed
    /// between its renames): each staged file still there is moved into place.
    /// Returns what was finished, for a warning. Call with the directory locked.
    public static func recover(keyDirectory: SecureDirectory, keyName: String) -> [String] {
        let journal = journalName(for: keyName)
        guard keyDirectory.status(of: journal) != nil,
              let text = try? SecureFileSystem.readText(keyDirectory.path + "/" + journal, limit: 64 * 1024) else { return [] }
        var finished: [String] = []
        for line in text.nonEmptyLines() {
            let parts = line.split(separator: "\t")
            guard parts.count == 2 else { continue }
            let (temporary, destination) = (String(parts[0]), String(parts[1]))
            // Only our own staged files, next to their destinations.
            guard SecureFileSystem.directory(of: temporary) == SecureFileSystem.directory(of: destination),
                  SecureFileSystem.baseName(of: temporary).hasPrefix(".\(SecureFileSystem.baseName(of: destination)).tmp-"),
                  FileStatus(path: temporary, followLinks: false)?.isRegularFile == true else { continue }
            if rename(temporary, destination) == 0 { finished.append(destination) }
        }
        _ = keyDirectory.withDescriptor { unlinkat($0, journal, 0) }
        keyDirectory.sync()
        return finished
    }
}

/// Directory preparation, safe reading, and path helpers.
public enum SecureFileSystem {
    /// Makes sure `path` is a directory, creating it and missing parents.
    /// Parents get 0755; the directory itself `mode`. A directory meant for
    /// private keys, and every directory above it, must be safe
    /// (`checkPrivateDirectory`). Returns true when the directory was created.
    @discardableResult
    public static func prepareDirectory(_ path: String, mode: FilePermissions, owner: FileOwner?, holdsPrivateKeys: Bool) throws -> Bool {
        var created = false
        if let status = FileStatus(path: path) {
            guard status.isDirectory else {
                throw MailSecError(.io, "\(path) exists but is not a directory", remedy: "move it away or choose another path")
            }
        } else {
            let parent = directory(of: path)
            if parent != path, FileStatus(path: parent) == nil {
                try prepareDirectory(parent, mode: 0o755, owner: owner, holdsPrivateKeys: false)
            }
            // mkdir's mode is narrowed by the umask, never widened; chmod then sets it exactly.
            guard mkdir(path, mode.intersection(0o700).mode) == 0 || errno == EEXIST else {
                throw error(errno, "cannot create the directory \(path)")
            }
            if let owner, chown(path, owner.uid, owner.gid) != 0 {
                throw error(errno, "cannot give \(path) to \(FileOwner.userName(owner.uid))")
            }
            guard chmod(path, mode.mode) == 0 else { throw error(errno, "cannot set the mode of \(path)") }
            created = true
        }
        if holdsPrivateKeys { _ = try checkPrivateDirectory(path) }
        return created
    }

    /// Whether a directory is safe for private keys, as OpenSSH's safe_path
    /// judges a key's path: the directory must be owned by root or us and
    /// writable by nobody else, and so must every directory above it, or
    /// whoever can write there could rename a directory on the way and have
    /// the key written into one they own. A shared sticky directory (/tmp) is
    /// safe to pass through when the entry below it is ours or root's, since
    /// nobody else may rename it. Returns the directory's `lstat`.
    /// Symbolic links on the way are resolved first: what is checked is where the key really goes.
    @discardableResult
    public static func checkPrivateDirectory(_ given: String) throws -> stat {
        let me = geteuid()
        func trusted(_ uid: UInt32) -> Bool { uid == 0 || uid == me }
        guard let path = realPath(given) else { throw error(errno, "cannot check \(given)") }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw error(errno, "cannot check \(path)") }
        let target = info
        let octal = FilePermissions(rawValue: UInt16(info.st_mode & 0o7777)).description
        if info.st_mode & 0o022 != 0 {
            if info.st_mode & 0o1000 != 0 {
                throw MailSecError(.permission, "\(path) is a shared directory (mode \(octal), like /tmp): anyone there could replace the private key",
                                   remedy: "keep keys in a directory of their own, e.g. a root (\(Vocabulary.name(.root))) under /root, or the default /etc/pki/tls/private")
            }
            throw MailSecError(.permission, "\(path) is writable by \(info.st_mode & 0o002 != 0 ? "everyone" : "its group") (mode \(octal)), so anyone there could replace the private key",
                               remedy: "chmod go-w \(ShellQuoting.quote(path))")
        }
        if !trusted(info.st_uid) {
            throw MailSecError(.permission, "\(path) is owned by \(FileOwner.userName(info.st_uid)), who could replace the private key",
                               remedy: "chown root \(ShellQuoting.quote(path))")
        }
        // Every directory above, up to /.
        var child = path
        var childOwner = info.st_uid
        while child != "/" {
            let parent = directory(of: child)
            var above = stat()
            guard lstat(parent, &above) == 0 else { throw error(errno, "cannot check \(parent)") }
            let writableByOthers = above.st_mode & 0o022 != 0
            let sticky = above.st_mode & 0o1000 != 0
            if !trusted(above.st_uid) || (writableByOthers && !(sticky && trusted(childOwner))) {
                let who = !trusted(above.st_uid) ? "is owned by \(FileOwner.userName(above.st_uid))" : "is writable by others (mode \(FilePermissions(rawValue: UInt16(above.st_mode & 0o7777))))"
                throw MailSecError(.permission, "\(parent) \(who), so someone else could swap \(child) and the private key with it",
                                   remedy: "keep keys under directories only root can change: a root (\(Vocabulary.name(.root))) under /root, or the default /etc")
            }
            child = parent
            childOwner = above.st_uid
        }
        return target
    }

    /// Opens a file to read it, refusing anything that is not a regular file:
    /// a FIFO would block the open (or the read) forever, a device could
    /// stream without end. The open is non-blocking, so even a FIFO with no
    /// writer cannot hold it; the descriptor is made blocking again after
    /// fstat has shown a regular file. Returns the descriptor and its size.
    public static func openRegularFile(_ path: String) throws -> (descriptor: Int32, size: Int) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw MailSecError(.fileNotFound, "\(path): no such file")
            case EACCES, EPERM:
                let detail = FileStatus(path: path).map { " (mode \($0.octalMode), owner \($0.ownerDescription))" } ?? ""
                throw MailSecError(.permission, "\(path): permission denied\(detail)", remedy: "run as a user that can read it (root?)")
            case ENXIO: throw MailSecError(.invalidInput, "\(path) is a socket or a FIFO, not a regular file")
            default: throw error(code, "cannot open \(path)")
            }
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            throw error(code, "cannot read \(path)")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            let kind: String
            switch info.st_mode & S_IFMT {
            case S_IFDIR: kind = "a directory"
            case S_IFIFO: kind = "a FIFO (named pipe)"
            case S_IFCHR: kind = "a character device"
            case S_IFBLK: kind = "a block device"
            case S_IFSOCK: kind = "a socket"
            default: kind = "not a regular file"
            }
            throw MailSecError(.invalidInput, "\(path) is \(kind), not a file", remedy: "give the path of a regular file")
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return (descriptor, Int(info.st_size))
    }

    /// Reads a whole file into zeroing storage, with errors that name it.
    /// Files over `limit` bytes are refused: keys and certificates are small.
    /// `kind` names what the file should be, for the message when it is too large.
    public static func read(_ path: String, limit: Int = 4 << 20, kind: String = "a key or certificate file") throws -> SecureBytes {
        let (descriptor, size) = try openRegularFile(path)
        defer { close(descriptor) }
        if size > limit { throw tooLarge(path, limit: limit, kind: kind) }
        var contents = SecureBytes(capacity: min(max(size, 64) + 1, limit + 1))
        var chunk = [UInt8](repeating: 0, count: 16_384)
        defer { SecureMemory.wipe(&chunk) }
        while true {
            let count = Glibc.read(descriptor, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw error(errno, "cannot read \(path)")
            }
            if count == 0 { break }
            contents.append(contentsOf: chunk[0..<count])
            if contents.count > limit { throw tooLarge(path, limit: limit, kind: kind) }
        }
        return contents
    }

    private static func tooLarge(_ path: String, limit: Int, kind: String) -> MailSecError {
        let size = limit >= 1 << 20 ? "\(limit >> 20) MiB" : "\(limit / 1024) KiB"
        return MailSecError(.invalidInput, "\(path) is larger than \(size), too large for \(kind)")
    }

    /// The path with every symbolic link, `.` and `..` resolved (realpath(3)); nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(path, &resolved) != nil else { return nil }
        return String(nulTerminated: resolved)
    }

    /// The names in a directory, sorted (`.` and `..` left out).
    public static func entries(of path: String) throws -> [String] {
        guard let directory = opendir(path) else { throw error(errno, "cannot list \(path)") }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// All of standard input (a pipe or a terminal), bounded by `limit`.
    public static func readStandardInput(limit: Int, kind: String) throws -> SecureBytes {
        var contents = SecureBytes(capacity: 4096)
        var chunk = [UInt8](repeating: 0, count: 16_384)
        defer { SecureMemory.wipe(&chunk) }
        while true {
            let count = Glibc.read(0, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw error(errno, "cannot read standard input")
            }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[0..<count])
            if contents.count > limit { throw tooLarge("standard input", limit: limit, kind: kind) }
        }
    }

    /// The first line of a password or passphrase file (CR LF or LF ended), as a secret.
    public static func readSecretLine(_ path: String) throws -> SecureBytes {
        let contents = try read(path, limit: 64 * 1024, kind: "a password or passphrase file")
        var secret = SecureBytes()
        contents.withUnsafeBytes { bytes in
            for byte in bytes {
                if byte == 0x0a { break }
                secret.append(byte)
            }
        }
        if secret.count > 0, secret.withUnsafeBytes({ $0.last }) == 0x0d { secret.removeLast() }
        guard !secret.isEmpty else {
            throw MailSecError(.passphrase, "\(path): the first line is empty; expected the passphrase there")
        }
        return secret
    }

    /// A whole text file (a configuration file, a /proc table) as UTF-8, with
    /// the same errors as `read`.
    public static func readText(_ path: String, limit: Int = 16 << 20, kind: String = "a configuration file") throws -> String {
        try read(path, limit: limit, kind: kind).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// A free backup name: `NAME.YYYYMMDD-HHMMSS.bak`, then `-1`, `-2`, ...
    static func backupName(for name: String, in directory: SecureDirectory, now: Date) throws -> String {
        let stem = "\(name).\(UTCTime.compact(now))"
        var candidate = "\(stem).bak"
        var counter = 1
        while directory.status(of: candidate) != nil {
            candidate = "\(stem)-\(counter).bak"
            counter += 1
            if counter > 1000 { throw MailSecError(.io, "too many backups of \(directory.path)/\(name)") }
        }
        return candidate
    }

    static func syncDirectory(of path: String) {
        let descriptor = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    /// The directory part of `path` (`dirname`): `.` when there is none, `/` for a file at the root.
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The last component of `path` (`basename`).
    public static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `path` made absolute against the working directory, with `.`/`..` and double slashes resolved textually.
    public static func absolute(_ path: String) -> String {
        var full = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
            let cwd = getcwd(&buffer, buffer.count) != nil ? String(nulTerminated: buffer) : "."
            full = cwd + "/" + path
        }
        var parts: [Substring] = []
        for part in full.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func error(_ code: Int32, _ context: String) -> MailSecError {
        let reason = String(cString: strerror(code))
        switch code {
        case EACCES, EPERM:
            // Root is refused only by file attributes or a security policy: say so, not "run as root".
            let remedy = FileOwner.isRunningAsRoot
                ? "root was refused: look for an immutable or append-only attribute (lsattr, chattr -i) and for SELinux or AppArmor denials"
                : "run as root, or choose a directory you can write (\(Vocabulary.name(.root)))"
            return MailSecError(.permission, "\(context): \(reason)", remedy: remedy)
        case EISDIR:
            return MailSecError(.invalidInput, "\(context): a directory is in the way", remedy: "move the directory away, or choose another path")
        case EROFS:
            return MailSecError(.io, "\(context): \(reason)", remedy: "choose a writable location (\(Vocabulary.name(.root)))")
        case ENOSPC, EDQUOT:
            return MailSecError(.io, "\(context): \(reason)", remedy: "free some disk space; nothing was replaced")
        default:
            return MailSecError(.io, "\(context): \(reason)")
        }
    }
}
