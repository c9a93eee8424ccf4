import Glibc

/// A uid/gid pair with the names they resolve to on this system.
public struct FileOwner: Sendable, Equatable {
    public var uid: uid_t
    public var gid: gid_t

    public init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }

    public static let root = FileOwner(uid: 0, gid: 0)

    public static var isRunningAsRoot: Bool { geteuid() == 0 }

    /// The gid of a group, if it exists here (e.g. Debian's `ssl-cert`).
    public static func groupID(named name: String) -> gid_t? {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, let result else { return nil }
        return result.pointee.gr_gid
    }

    public static func userName(_ uid: uid_t) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, let result, let name = result.pointee.pw_name else {
            return String(uid)
        }
        return String(cString: name)
    }

    public static func groupName(_ gid: gid_t) -> String {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getgrgid_r(gid, &entry, &buffer, buffer.count, &result) == 0, let result, let name = result.pointee.gr_name else {
            return String(gid)
        }
        return String(cString: name)
    }
}

/// What `stat` says about a file, in the terms users see in `ls -l`.
public struct FileStatus: Sendable, Equatable {
    public var path: String
    /// Permission bits only (e.g. 0o600).
    public var mode: mode_t
    public var owner: FileOwner
    public var isDirectory: Bool
    public var isRegularFile: Bool
    public var isSymbolicLink: Bool
    public var isSocket: Bool
    public var size: Int

    /// `stat` (following symlinks) or, with `followLinks: false`, `lstat`; nil when absent.
    public init?(path: String, followLinks: Bool = true) {
        var info = stat()
        let result = followLinks ? stat(path, &info) : lstat(path, &info)
        guard result == 0 else { return nil }
        self.path = path
        mode = info.st_mode & 0o7777
        owner = FileOwner(uid: info.st_uid, gid: info.st_gid)
        isDirectory = info.st_mode & S_IFMT == S_IFDIR
        isRegularFile = info.st_mode & S_IFMT == S_IFREG
        isSymbolicLink = info.st_mode & S_IFMT == S_IFLNK
        isSocket = info.st_mode & S_IFMT == S_IFSOCK
        size = Int(info.st_size)
    }

    /// `0600`
    public var octalMode: String { FileStatus.octal(mode) }

    /// `root:root`
    public var ownerDescription: String {
        "\(FileOwner.userName(owner.uid)):\(FileOwner.groupName(owner.gid))"
    }

    public static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
