import Glibc

/// The file layouts admins know, and where a key pair goes in each.
public enum PKILayout: String, Sendable, CaseIterable {
    /// RHEL, CentOS, Fedora (genkey's): /etc/pki/tls/private and /etc/pki/tls/certs.
    case pki
    /// Debian and Ubuntu: /etc/ssl/private (root:ssl-cert 0710) and /etc/ssl/certs.
    case debian

    /// Where a host's key, certificate and CSR go under `root`.
    public func locations(for hostname: String, root: String) -> KeyPairLocations {
        let base = self == .pki ? "/etc/pki/tls" : "/etc/ssl"
        var locations = KeyPairLocations(
            root: root,
            keyPath: RootedPath.join(root, "\(base)/private/\(hostname).key"),
            certificatePath: RootedPath.join(root, "\(base)/certs/\(hostname).crt"),
            requestPath: RootedPath.join(root, "\(base)/certs/\(hostname).csr")
        )
        // Debian lets members of ssl-cert (Postfix, Dovecot, Exim) read keys
        // without root; where that group exists, follow the convention.
        if self == .debian, FileOwner.isRunningAsRoot, let group = FileOwner.groupID(named: "ssl-cert") {
            locations.keyMode = 0o640
            locations.keyDirectoryMode = 0o710
            locations.keyGroup = group
        }
        return locations
    }

    /// A CA's name becomes a file name: letters, digits, '.', '-' and '_', not
    /// starting with '.' or '-' (so never `..`, a path or an option).
    public static func validateAuthorityName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 64, name.first != ".", name.first != "-",
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw MailSecError(.invalidInput, "invalid CA name \(TextSanitizer.quoted(name)): use letters, digits, '.', '-' and '_' (it becomes a file name)")
        }
    }

    /// Where a local CA made by `mailsec ca create NAME` lives under `root`.
    public static func authorityLocations(name: String, root: String) -> KeyPairLocations {
        KeyPairLocations(
            root: root,
            keyPath: RootedPath.join(root, "/etc/pki/CA/private/\(name).key"),
            certificatePath: RootedPath.join(root, "/etc/pki/CA/certs/\(name).crt"),
            requestPath: RootedPath.join(root, "/etc/pki/CA/certs/\(name).csr")
        )
    }
}

/// The paths and permissions of one key pair.
public struct KeyPairLocations: Sendable, Equatable {
    /// The prefix every path lives under (`/` on the real system).
    public var root: String
    /// Where the private key goes (`/etc/pki/tls/private/HOST.key`).
    public var keyPath: String
    /// Where the certificate goes (`/etc/pki/tls/certs/HOST.crt`).
    public var certificatePath: String
    /// Where a signing request goes (`/etc/pki/tls/certs/HOST.csr`).
    public var requestPath: String
    /// 0600, or 0640 with `keyGroup` (Debian's ssl-cert).
    public var keyMode: FilePermissions = 0o600
    /// Mode of the key directory when it has to be created.
    public var keyDirectoryMode: FilePermissions = 0o700
    /// Group of the key and its directory; root's when nil.
    public var keyGroup: UInt32?
    /// The certificate's and request's mode.
    public var publicMode: FilePermissions = 0o644

    /// Locations by path, with the default modes (key 0600, its directory 0700, the rest 0644).
    public init(root: String, keyPath: String, certificatePath: String, requestPath: String) {
        self.root = root
        self.keyPath = keyPath
        self.certificatePath = certificatePath
        self.requestPath = requestPath
    }

    /// Where the key that will replace this one waits until it is promoted:
    /// `private/HOST.next.key` beside `private/HOST.key`, so that its DANE
    /// record can be published (and cached by senders) before it serves mail.
    public var nextKeyPath: String { Self.nextKeyPath(for: keyPath) }

    static func nextKeyPath(for keyPath: String) -> String {
        keyPath.hasSuffix(".key") ? String(keyPath.dropLast(4)) + ".next.key" : keyPath + ".next"
    }

    /// The path as the server itself will see it (without `root`), for configuration lines.
    public func systemPath(_ path: String) -> String {
        guard root != "/", path.hasPrefix(root + "/") else { return path }
        return String(path.dropFirst(root.count))
    }
}
