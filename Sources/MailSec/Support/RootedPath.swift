import Glibc

/// Paths of a system whose files are under another root directory (a copied
/// tree, a chroot, a container image), as that system would resolve them.
package enum RootedPath {
    /// Whether `root` is this machine's own file tree rather than a copy.
    package static func isLiveSystem(_ root: String) -> Bool { root == "/" || root.isEmpty }

    /// Where PATH, as the machine under ROOT would resolve it, is on this
    /// machine. `/` as root changes nothing. Under another root, `..` stops at
    /// the root and symbolic links are followed inside the tree (an absolute
    /// target starts again at the root), so neither a path in a copied
    /// main.cf nor a link in the tree can make MailSec read this machine's
    /// own files and judge them as the tree's.
    package static func join(_ root: String, _ path: String) -> String {
        guard !isLiveSystem(root) else { return path }
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        var resolved: [Substring] = []
        var pending = Array(path.split(separator: "/").reversed())
        var links = 0
        while let component = pending.popLast() {
            if component == "." { continue }
            if component == ".." {
                _ = resolved.popLast()
                continue
            }
            let candidate = base + "/" + (resolved + [component]).joined(separator: "/")
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(candidate, &buffer, buffer.count - 1)
            guard length > 0 else {
                resolved.append(component)
                continue
            }
            links += 1
            // A loop (a link to itself through the root, say): name a path that cannot exist
            // rather than hand the link to the system, which would follow it out of the tree.
            guard links <= 40 else { return base + "/.symbolic link loop at " + candidate.dropFirst(base.count) }
            let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix("/") { resolved.removeAll() }
            pending.append(contentsOf: target.split(separator: "/").reversed())
        }
        return base + "/" + resolved.joined(separator: "/")
    }
}
