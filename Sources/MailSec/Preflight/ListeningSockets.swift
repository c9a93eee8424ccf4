import Glibc

/// TCP sockets listening on this machine, read from /proc/net/tcp and tcp6,
/// with the process holding each. Reading the kernel's table sends no traffic,
/// so a content filter or port 465 can be checked without connecting to it.
package struct ListeningSockets: Sendable {
    package struct Listener: Sendable, Equatable {
        /// The bound address: `0.0.0.0`, `127.0.0.1`, `::`, `::1`.
        package var address: String
        package var port: Int
        package var inode: String
        /// The holder's pid and command name, when /proc lets us see it.
        package var pid: Int32?
        package var command: String?
    }

    package private(set) var listeners: [Listener] = []

    package init(listeners: [Listener]) {
        self.listeners = listeners
    }

    /// The machine's listeners now, without their owners (see `withOwners`).
    package static func current() -> ListeningSockets {
        var listeners: [Listener] = []
        for (file, isIPv6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
            guard let text = try? SecureFileSystem.readText(file) else { continue }
            for line in text.nonEmptyLines().dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A" else { continue }
                let local = fields[1].split(separator: ":")
                guard local.count == 2, let port = Int(local[1], radix: 16) else { continue }
                listeners.append(Listener(address: decode(String(local[0]), isIPv6: isIPv6), port: port, inode: String(fields[9])))
            }
        }
        return ListeningSockets(listeners: listeners)
    }

    /// These listeners with the process holding each, found by matching socket
    /// inodes in every /proc/PID/fd: a walk worth doing only for the few that matter.
    package static func withOwners(_ listeners: [Listener]) -> [Listener] {
        let owners = socketOwners(Set(listeners.map(\.inode)))
        return listeners.map { listener in
            var owned = listener
            if let owner = owners[listener.inode] {
                owned.pid = owner.pid
                owned.command = owner.command
            }
            return owned
        }
    }

    /// Listeners a client on this machine reaches at `host:port`: the exact address or a wildcard.
    package func listening(host: String, port: Int) -> [Listener] {
        let isIPv6 = host.contains(":")
        return listeners.filter { listener in
            guard listener.port == port else { return false }
            if listener.address == "0.0.0.0" { return !isIPv6 || host == "::ffff:127.0.0.1" }
            if listener.address == "::" { return true }
            return listener.address == host || (host == "localhost" && ["127.0.0.1", "::1"].contains(listener.address))
        }
    }

    /// Every listener on a port, whatever the address.
    package func listening(port: Int) -> [Listener] { listeners.filter { $0.port == port } }

    /// /proc/net/tcp writes addresses as the kernel's 32-bit words in host (little-endian) order.
    static func decode(_ hex: String, isIPv6: Bool) -> String {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        // Reverse each 4-byte word.
        var ordered: [UInt8] = []
        for word in stride(from: 0, to: bytes.count, by: 4) { ordered += bytes[word..<min(word + 4, bytes.count)].reversed() }
        if !isIPv6 { return ordered.map(String.init).joined(separator: ".") }
        if ordered[0..<10].allSatisfy({ $0 == 0 }), ordered[10] == 0xff, ordered[11] == 0xff {
            return "::ffff:" + ordered[12...].map(String.init).joined(separator: ".")
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { raw in for (offset, byte) in ordered.prefix(16).enumerated() { raw[offset] = byte } }
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return hex }
        return String(nulTerminated: buffer)
    }

    static func socketOwners(_ inodes: Set<String>) -> [String: (pid: Int32, command: String)] {
        var holders: [String: [Int32]] = [:]
        guard !inodes.isEmpty, let proc = opendir("/proc") else { return [:] }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), let fds = opendir("/proc/\(name)/fd") else { continue }
            defer { closedir(fds) }
            while let fd = readdir(fds) {
                let fdName = withUnsafeBytes(of: fd.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                var target = [CChar](repeating: 0, count: 64)
                let length = readlink("/proc/\(name)/fd/\(fdName)", &target, target.count - 1)
                guard length > 8 else { continue }
                let link = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                guard link.hasPrefix("socket:["), link.hasSuffix("]") else { continue }
                let inode = String(link.dropFirst(8).dropLast())
                if inodes.contains(inode), holders[inode]?.contains(pid) != true { holders[inode, default: []].append(pid) }
            }
        }
        // Children inherit a listening socket (Postfix's smtpd processes hold
        // master's): the owner is the holder whose parent does not hold it too.
        // /proc lists pids in number order, and pids wrap, so a child can come first.
        return holders.mapValues { pids in
            let owner = rootHolder(pids, parent: parent(of:))
            let command = (try? SecureFileSystem.readText("/proc/\(owner)/comm"))?.nonEmptyLines().first.map(String.init) ?? "?"
            return (owner, command)
        }
    }

    /// Of the processes holding one socket, the one whose parent is not among them.
    static func rootHolder(_ pids: [Int32], parent: (Int32) -> Int32?) -> Int32 {
        pids.first { pid in parent(pid).map { !pids.contains($0) } ?? true } ?? pids[0]
    }

    /// The parent's pid, from /proc/PID/stat: `pid (comm) state ppid ...`,
    /// read after the last `)`, since a command name may hold spaces and parentheses.
    static func parent(of pid: Int32) -> Int32? {
        guard let stat = try? SecureFileSystem.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }
}
