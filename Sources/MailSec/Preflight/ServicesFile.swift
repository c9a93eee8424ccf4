import Glibc

/// /etc/services: what getservbyname() answers, and so what Postfix's
/// master can bind when master.cf names a port instead of a number.
package struct ServicesFile: Sendable {
    package struct Entry: Sendable, Equatable {
        package var name: String
        package var aliases: [String]
        package var port: Int
        package var proto: String
        package var line: Int
    }

    package let path: String
    package private(set) var entries: [Entry] = []

    package init(text: String, path: String) {
        self.path = path
        for (offset, raw) in text.physicalLines().enumerated() {
            let content = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard fields.count >= 2 else { continue }
            let portProto = fields[1].split(separator: "/")
            guard portProto.count == 2, let port = Int(portProto[0]) else { continue }
            entries.append(Entry(name: fields[0], aliases: Array(fields[2...]), port: port, proto: String(portProto[1]), line: offset + 1))
        }
    }

    package static func load(_ path: String) throws -> ServicesFile {
        ServicesFile(text: try SecureFileSystem.readText(path), path: path)
    }

    /// The TCP entry a name or alias resolves to, as getservbyname(name, "tcp").
    package func tcp(_ name: String) -> Entry? {
        entries.first { $0.proto == "tcp" && ($0.name == name || $0.aliases.contains(name)) }
    }

    /// The TCP entry for a port number.
    package func tcp(port: Int) -> Entry? {
        entries.first { $0.proto == "tcp" && $0.port == port }
    }
}

/// Users and groups from the passwd and group files under the checked root,
/// so a copied tree is judged by its own accounts rather than this machine's.
package struct SystemAccounts: Sendable {
    package struct User: Sendable, Equatable {
        package var name: String
        package var uid: UInt32
        package var gid: UInt32
    }

    package private(set) var users: [String: User] = [:]
    private var groupNames: [UInt32: String] = [:]
    private var members: [UInt32: Set<String>] = [:]

    package init(passwd: String, group: String) {
        for line in passwd.nonEmptyLines() {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 4, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { continue }
            let name = String(fields[0])
            if users[name] == nil { users[name] = User(name: name, uid: uid, gid: gid) }
        }
        for line in group.nonEmptyLines() {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 4, let gid = UInt32(fields[2]) else { continue }
            if groupNames[gid] == nil { groupNames[gid] = String(fields[0]) }
            members[gid, default: []].formUnion(fields[3].split(separator: ",").map(String.init))
        }
    }

    /// Reads ROOT/etc/passwd and ROOT/etc/group; missing files mean no accounts.
    package static func load(root: String) -> SystemAccounts {
        SystemAccounts(passwd: (try? SecureFileSystem.readText(RootedPath.join(root, "/etc/passwd"))) ?? "",
                       group: (try? SecureFileSystem.readText(RootedPath.join(root, "/etc/group"))) ?? "")
    }

    /// The groups a user is in: the primary one and every group listing it.
    package func groups(of user: User) -> Set<UInt32> {
        var result: Set<UInt32> = [user.gid]
        for (gid, names) in members where names.contains(user.name) { result.insert(gid) }
        return result
    }

    package func userName(_ uid: UInt32) -> String { users.values.first { $0.uid == uid }?.name ?? String(uid) }
    package func groupName(_ gid: UInt32) -> String { groupNames[gid] ?? String(gid) }

    /// Whether `user` gets `want` (a mask of 4 read, 2 write, 1 execute) on a file
    /// with this owner and mode, by the owner/group/other rule; root gets everything.
    package func allows(_ user: User, _ want: UInt32, owner: FileOwner, mode permissions: FilePermissions) -> Bool {
        let mode = UInt32(permissions.rawValue)
        if user.uid == 0 { return true }
        if user.uid == owner.uid { return (mode >> 6) & want == want }
        if groups(of: user).contains(owner.gid) { return (mode >> 3) & want == want }
        return mode & want == want
    }
}
