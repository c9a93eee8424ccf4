#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// A file written next to its destination but not yet in place.
///
/// The temporary file is created exclusively with mode 0600, so whatever the
/// umask its content is never readable by others; it gets its final owner and
/// mode, is fsynced, and only then linked or renamed into place. Until
/// `commit`, the destination is untouched; an interrupted run leaves at most a
/// root-only `.NAME.tmp-*` file behind.
public final class StagedFile {
    public let path: String
    let temporaryPath: String
    private var finished = false

    /// Writes `contents` to a temporary file in `path`'s directory with `mode` and `owner`.
    public init(path: String, contents: UnsafeRawBufferPointer, mode: mode_t, owner: FileOwner?) throws {
        self.path = path
        let directory = SecureFileSystem.directory(of: path)
        let base = SecureFileSystem.baseName(of: path)
        let random = UInt64.random(in: .min ... .max)
        temporaryPath = "\(directory)/.\(base).tmp-\(getpid())-\(String(random, radix: 36))"

        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SecureFileSystem.error(errno, "cannot create a file in \(directory)")
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
            guard fchmod(descriptor, mode) == 0 else { throw SecureFileSystem.error(errno, "cannot set the mode of \(path)") }
            guard fsync(descriptor) == 0 else { throw SecureFileSystem.error(errno, "cannot flush \(path) to disk") }
            closed = true
            guard close(descriptor) == 0 else { throw SecureFileSystem.error(errno, "cannot write \(path)") }
        } catch {
            unlink(temporaryPath)
            finished = true
            throw error
        }
    }

    deinit {
        if !finished { unlink(temporaryPath) }
    }

    /// Puts the file in place. Without `replacing`, an existing destination is
    /// an error (checked atomically by `link`). With it, the old file is first
    /// linked to a backup name, then atomically replaced by `rename`, so the
    /// destination always holds either the old or the new content.
    /// Returns the backup's path, if one was made.
    @discardableResult
    public func commit(replacing: Bool, now: Date = Date()) throws -> String? {
        precondition(!finished, "a staged file is committed once")
        defer { finished = true }
        var backup: String?
        if replacing, FileStatus(path: path, followLinks: false) != nil {
            let candidate = try SecureFileSystem.backupPath(for: path, now: now)
            guard link(path, candidate) == 0 else {
                unlink(temporaryPath)
                throw SecureFileSystem.error(errno, "cannot keep a backup of \(path) as \(candidate)")
            }
            backup = candidate
        }
        if replacing {
            guard rename(temporaryPath, path) == 0 else {
                let code = errno
                unlink(temporaryPath)
                throw SecureFileSystem.error(code, "cannot put \(path) in place")
            }
        } else {
            let linked = link(temporaryPath, path)
            let code = errno
            unlink(temporaryPath)
            guard linked == 0 else {
                if code == EEXIST {
                    throw MailSecError(.fileExists, "\(path) already exists", remedy: "it was left untouched; pass --force to replace it (a backup is kept)")
                }
                throw SecureFileSystem.error(code, "cannot put \(path) in place")
            }
        }
        SecureFileSystem.syncDirectory(of: path)
        return backup
    }

    /// Removes the temporary file without touching the destination.
    public func discard() {
        guard !finished else { return }
        unlink(temporaryPath)
        finished = true
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

/// Directory preparation, safe reading, and path helpers.
public enum SecureFileSystem {
    /// Makes sure `path` is a directory, creating it and missing parents.
    /// Parents get 0755; the directory itself `mode`. An existing directory
    /// meant for private keys must not be writable by group or others, nor
    /// owned by another user: whoever can write there can swap the key.
    /// Returns true when the directory was created.
    @discardableResult
    public static func prepareDirectory(_ path: String, mode: mode_t, owner: FileOwner?, holdsPrivateKeys: Bool) throws -> Bool {
        if let status = FileStatus(path: path) {
            guard status.isDirectory else {
                throw MailSecError(.io, "\(path) exists but is not a directory", remedy: "move it away or choose another path")
            }
            if holdsPrivateKeys {
                if status.mode & 0o022 != 0 {
                    throw MailSecError(.permission, "\(path) is writable by \(status.mode & 0o002 != 0 ? "everyone" : "its group") (mode \(status.octalMode)), so anyone there could replace the private key",
                                       remedy: "chmod go-w \(path)")
                }
                let me = geteuid()
                if status.owner.uid != 0, status.owner.uid != me {
                    throw MailSecError(.permission, "\(path) is owned by \(FileOwner.userName(status.owner.uid)), who could replace the private key",
                                       remedy: "chown root \(path)")
                }
            }
            return false
        }
        let parent = directory(of: path)
        if parent != path, FileStatus(path: parent) == nil {
            try prepareDirectory(parent, mode: 0o755, owner: owner, holdsPrivateKeys: false)
        }
        // mkdir's mode is narrowed by the umask, never widened; chmod then sets it exactly.
        guard mkdir(path, mode & 0o700) == 0 || errno == EEXIST else {
            throw error(errno, "cannot create the directory \(path)")
        }
        if let owner, chown(path, owner.uid, owner.gid) != 0 {
            throw error(errno, "cannot give \(path) to \(FileOwner.userName(owner.uid))")
        }
        guard chmod(path, mode) == 0 else { throw error(errno, "cannot set the mode of \(path)") }
        return true
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
        let contents = SecureBytes(capacity: min(max(size, 64) + 1, limit + 1))
        var chunk = [UInt8](repeating: 0, count: 16_384)
        defer { for index in chunk.indices { chunk[index] = 0 } }
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
        let contents = SecureBytes(capacity: 4096)
        var chunk = [UInt8](repeating: 0, count: 16_384)
        defer { for index in chunk.indices { chunk[index] = 0 } }
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

    /// A whole text file (a configuration file, a /proc table) as UTF-8, with
    /// the same errors as `read`.
    public static func readText(_ path: String, limit: Int = 16 << 20, kind: String = "a configuration file") throws -> String {
        try read(path, limit: limit, kind: kind).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// A free backup name: `PATH.YYYYMMDD-HHMMSS.bak`, then `-1`, `-2`, ...
    static func backupPath(for path: String, now: Date) throws -> String {
        let stem = "\(path).\(UTCTime.compact(now))"
        var candidate = "\(stem).bak"
        var counter = 1
        while FileStatus(path: candidate, followLinks: false) != nil {
            candidate = "\(stem)-\(counter).bak"
            counter += 1
            if counter > 1000 { throw MailSecError(.io, "too many backups of \(path)") }
        }
        return candidate
    }

    static func syncDirectory(of path: String) {
        let descriptor = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

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
            return MailSecError(.permission, "\(context): \(reason)", remedy: "run as root, or choose a directory you can write with --root")
        case EROFS:
            return MailSecError(.io, "\(context): \(reason)", remedy: "choose a writable location with --root")
        case ENOSPC, EDQUOT:
            return MailSecError(.io, "\(context): \(reason)", remedy: "free some disk space; nothing was replaced")
        default:
            return MailSecError(.io, "\(context): \(reason)")
        }
    }
}
