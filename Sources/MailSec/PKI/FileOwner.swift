import Glibc

/// A file's owner: a user and a group id, with the names they resolve to on this system.
public struct FileOwner: Sendable, Equatable {
    /// The owning user's id (0 is root).
    public var uid: UInt32
    /// The owning group's id.
    public var gid: UInt32

    /// An owner by user and group id.
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// root:root.
    public static let root = FileOwner(uid: 0, gid: 0)

    /// True when this process runs as root (its effective user id is 0).
    public static var isRunningAsRoot: Bool { geteuid() == 0 }

    /// The gid of a group, if it exists here (e.g. Debian's `ssl-cert`).
    public static func groupID(named name: String) -> UInt32? {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, let result else { return nil }
        return result.pointee.gr_gid
    }

    /// The user's name, or the number when it has none here.
    public static func userName(_ uid: UInt32) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, let result, let name = result.pointee.pw_name else {
            return String(uid)
        }
        return String(cString: name)
    }

    /// The group's name, or the number when it has none here.
    public static func groupName(_ gid: UInt32) -> String {
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
    /// The path that was looked at.
    public var path: String
    /// Permission bits only (e.g. 0o600).
    public var mode: FilePermissions
    /// The owning user and group.
    public var owner: FileOwner
    /// True for a directory.
    public var isDirectory: Bool
    /// True for a regular file.
    public var isRegularFile: Bool
    /// True for a symbolic link (only when looked at without following links).
    public var isSymbolicLink: Bool
    /// True for a Unix socket.
    public var isSocket: Bool
    /// The size in bytes.
    public var size: Int

    /// `stat` (following symlinks) or, with `followLinks: false`, `lstat`; nil when absent.
    public init?(path: String, followLinks: Bool = true) {
        var info = stat()
        let result = followLinks ? stat(path, &info) : lstat(path, &info)
        guard result == 0 else { return nil }
        self.path = path
        mode = FilePermissions(rawValue: UInt16(info.st_mode & 0o7777))
        owner = FileOwner(uid: info.st_uid, gid: info.st_gid)
        isDirectory = info.st_mode & S_IFMT == S_IFDIR
        isRegularFile = info.st_mode & S_IFMT == S_IFREG
        isSymbolicLink = info.st_mode & S_IFMT == S_IFLNK
        isSocket = info.st_mode & S_IFMT == S_IFSOCK
        size = Int(info.st_size)
    }

    /// `0600`
    public var octalMode: String { mode.description }

    /// `root:root`
    public var ownerDescription: String {
        "\(FileOwner.userName(owner.uid)):\(FileOwner.groupName(owner.gid))"
    }
}

/// The permission bits of a file, as `chmod` takes them: an option set that
/// reads and prints as octal (`0o640` in code, `0640` in messages), in the
/// manner of swift-system's `FilePermissions`.
public struct FilePermissions: OptionSet, Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The permission bits, 0 to 0o7777.
    public let rawValue: UInt16

    /// Permissions from mode bits; anything above 0o7777 (a file type) is dropped.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue & 0o7777
    }

    /// `0o600`
    public init(integerLiteral value: UInt16) {
        self.init(rawValue: value)
    }

    /// `0o400`: the owner may read.
    public static let ownerRead: FilePermissions = 0o400
    /// `0o200`: the owner may write.
    public static let ownerWrite: FilePermissions = 0o200
    /// `0o100`: the owner may execute (search, for a directory).
    public static let ownerExecute: FilePermissions = 0o100
    /// `0o040`: the group may read.
    public static let groupRead: FilePermissions = 0o040
    /// `0o020`: the group may write.
    public static let groupWrite: FilePermissions = 0o020
    /// `0o010`: the group may execute (search, for a directory).
    public static let groupExecute: FilePermissions = 0o010
    /// `0o004`: everyone else may read.
    public static let otherRead: FilePermissions = 0o004
    /// `0o002`: everyone else may write.
    public static let otherWrite: FilePermissions = 0o002
    /// `0o001`: everyone else may execute (search, for a directory).
    public static let otherExecute: FilePermissions = 0o001
    /// `0o4000`: set-user-ID.
    public static let setUserID: FilePermissions = 0o4000
    /// `0o2000`: set-group-ID (new files in a directory take its group).
    public static let setGroupID: FilePermissions = 0o2000
    /// `0o1000`: sticky (in a shared directory, only a file's owner may remove it).
    public static let sticky: FilePermissions = 0o1000

    /// Every bit for the group (`0o070`).
    public static let group: FilePermissions = 0o070
    /// Every bit for others (`0o007`).
    public static let others: FilePermissions = 0o007

    /// `0640`: four octal digits, as `stat -c %a` pads them.
    public var description: String {
        let digits = String(rawValue, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The same bits as the C type the system calls take.
    var mode: mode_t { mode_t(rawValue) }
}
