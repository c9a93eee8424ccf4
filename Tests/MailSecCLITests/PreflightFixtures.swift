import Foundation
import Testing

/// A copy of a mail server's file tree under a private root, as `preflight --root`
/// reads it: main.cf, master.cf (Debian's stock one with our stanza added),
/// /etc/services, passwd/group, a key and certificate from `mailsec genkey`,
/// the Dovecot socket (a link to the test Dovecot's real one) and a firewall.
/// Each property is one thing a guide can get wrong.
struct PreflightTree {
    enum Socket { case dovecot, missing, regularFile, link(String) }
    enum Firewall { case none, firewalld(open: Bool), iptables(file: String, open: Bool), pf(open: Bool), nftables(open: Bool), ufw(open: Bool) }

    var port = 465
    var serviceName = "smtps"
    var commented = false
    var overrides = ["syslog_name=postfix/smtps", "smtpd_tls_wrappermode=yes", "smtpd_sasl_auth_enable=yes",
                     "smtpd_client_restrictions=permit_sasl_authenticated,reject"]
    var mainExtra: [String] = []
    var mainBroken = false
    var servicesKnow465 = true
    var keyMode: mode_t = 0o600
    var encryptKey = false
    var socket = Socket.dovecot
    /// The mode of var/spool/postfix/private (Postfix makes it 0700 postfix:root).
    var privateDirectoryMode: mode_t = 0o755
    var firewall = Firewall.firewalld(open: true)
    /// Adds `content_filter=smtp-amavis:[127.0.0.1]:PORT` and the smtp-amavis transport.
    var contentFilterPort: UInt16?

    /// One key and certificate for every tree, made once.
    static let pki: String = {
        let directory = NSTemporaryDirectory() + "mailsec-preflight-pki-\(getpid())"
        let made = try? mailsec("genkey", "--root", directory, "--batch", "--key-type", "ec", "mail.example.com")
        precondition(made?.status == 0, "genkey: \(made?.stderr ?? "")")
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "mailsec-preflight-pki-\(getpid())") }
        return directory
    }()

    func build(in directory: TemporaryDirectory) throws -> String {
        let root = directory.path + "/root"
        let manager = FileManager.default
        for sub in ["etc/postfix", "etc/pki/tls/certs", "etc/pki/tls/private", "var/spool/postfix/private"] {
            try manager.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        chmod(root + "/etc/pki/tls/private", 0o700)
        var main = """
        # written by the preflight tests
        compatibility_level = 3.6
        myhostname = mail.example.com
        mydomain = example.com
        smtpd_banner = $myhostname ESMTP
        smtpd_tls_cert_file = /etc/pki/tls/certs/$myhostname.crt
        smtpd_tls_key_file = /etc/pki/tls/private/$myhostname.key
        smtpd_tls_security_level = may
        smtpd_sasl_type = dovecot
        smtpd_sasl_path = private/auth
        smtpd_relay_restrictions = permit_mynetworks,
            permit_sasl_authenticated,
        # a comment inside a continued value
            defer_unauth_destination

        """
        if mainBroken { main += "smtpd_helo_required yes\n" }
        main += mainExtra.map { $0 + "\n" }.joined()
        try main.write(toFile: root + "/etc/postfix/main.cf", atomically: true, encoding: .utf8)

        var options = overrides
        if let contentFilterPort { options.append("content_filter=smtp-amavis:[127.0.0.1]:\(contentFilterPort)") }
        let stanza = ([serviceName + "     inet  n       -       n       -       -       smtpd"] + options.map { "  -o " + $0 })
            .map { commented ? "#" + $0 : $0 }.joined(separator: "\n")
        var master = try String(contentsOfFile: "/etc/postfix/master.cf", encoding: .utf8)
        master += "\n" + stanza + "\n"
        if contentFilterPort != nil {
            master += "smtp-amavis unix -      -       n       -       2       smtp\n  -o smtp_data_done_timeout=1200\n"
        }
        try master.write(toFile: root + "/etc/postfix/master.cf", atomically: true, encoding: .utf8)

        var services = try String(contentsOfFile: "/etc/services", encoding: .utf8)
        if !servicesKnow465 {
            services = services.split(separator: "\n").filter { !$0.contains("465/") }.joined(separator: "\n") + "\n"
        }
        try services.write(toFile: root + "/etc/services", atomically: true, encoding: .utf8)
        for file in ["passwd", "group"] { try manager.copyItem(atPath: "/etc/" + file, toPath: root + "/etc/" + file) }

        let key = root + "/etc/pki/tls/private/mail.example.com.key"
        try manager.copyItem(atPath: Self.pki + "/etc/pki/tls/certs/mail.example.com.crt", toPath: root + "/etc/pki/tls/certs/mail.example.com.crt")
        if encryptKey {
            _ = try openssl("pkey", "-in", Self.pki + "/etc/pki/tls/private/mail.example.com.key", "-aes256", "-passout", "pass:secret1", "-out", key)
        } else {
            try manager.copyItem(atPath: Self.pki + "/etc/pki/tls/private/mail.example.com.key", toPath: key)
        }
        chmod(key, keyMode)

        let socketPath = root + "/var/spool/postfix/private/auth"
        switch socket {
        // A hard link: the same socket, inside the tree (preflight follows no link out of --root).
        case .dovecot: guard link(try DovecotFixture.shared.socket, socketPath) == 0 else { throw CocoaError(.fileWriteUnknown) }
        case .missing: break
        case .regularFile: try "".write(toFile: socketPath, atomically: true, encoding: .utf8)
        case .link(let target): guard link(target, socketPath) == 0 else { throw CocoaError(.fileWriteUnknown) }
        }
        chmod(root + "/var/spool/postfix/private", privateDirectoryMode)
        try writeFirewall(root: root)
        return root
    }

    func writeFirewall(root: String) throws {
        func write(_ text: String, _ path: String) throws {
            try FileManager.default.createDirectory(atPath: root + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root + path, atomically: true, encoding: .utf8)
        }
        switch firewall {
        case .none: break
        case .firewalld(let open):
            try write("DefaultZone=public\n", "/etc/firewalld/firewalld.conf")
            try write("""
            <?xml version="1.0" encoding="utf-8"?>
            <service>
              <short>SMTPS</short>
              <port protocol="tcp" port="\(port)"/>
            </service>

            """, "/etc/firewalld/services/smtps.xml")
            try write("""
            <?xml version="1.0" encoding="utf-8"?>
            <zone>
              <short>Public</short>
              <service name="ssh"/>
              <service name="smtp"/>
            \(open ? "  <service name=\"smtps\"/>\n" : "")</zone>

            """, "/etc/firewalld/zones/public.xml")
        case .iptables(let file, let open):
            try write("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
            -A INPUT -p icmp -j ACCEPT
            -A INPUT -i lo -j ACCEPT
            -A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
            -A INPUT -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT
            \(open ? "-A INPUT -p tcp -m state --state NEW -m tcp --dport \(port) -j ACCEPT\n" : "")-A INPUT -j REJECT --reject-with icmp-host-prohibited
            -A FORWARD -j REJECT --reject-with icmp-host-prohibited
            COMMIT

            """, file)
        case .pf(let open):
            try write("""
            ext_if = "em0"
            mail_services = "{ smtp, submission\(open ? ", \(port == 465 ? "smtps" : String(port))" : ""), imaps }"
            set skip on lo
            block in all
            pass out all keep state
            pass in on $ext_if proto tcp from any to any port $mail_services keep state

            """, "/etc/pf.conf")
        case .nftables(let open):
            try write("""
            #!/usr/sbin/nft -f
            flush ruleset
            table inet filter {
                chain input {
                    type filter hook input priority 0; policy drop;
                    ct state established,related accept
                    iif lo accept
                    tcp dport { 22, 25\(open ? ", \(port)" : "") } accept
                }
            }

            """, "/etc/nftables.conf")
        case .ufw(let open):
            try write("ENABLED=yes\n", "/etc/ufw/ufw.conf")
            try write("DEFAULT_INPUT_POLICY=\"DROP\"\n", "/etc/default/ufw")
            try write("""
            *filter
            :ufw-user-input - [0:0]
            ### RULES ###
            ### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
            -A ufw-user-input -p tcp --dport 22 -j ACCEPT
            \(open ? "-A ufw-user-input -p tcp --dport \(port) -j ACCEPT\n" : "")COMMIT

            """, "/etc/ufw/user.rules")
        }
    }
}

/// A TCP listener on 127.0.0.1 for as long as the value lives: a stand-in
/// for what occupies a port (a content filter, another daemon on 465).
final class Listener: Sendable {
    let port: UInt16
    private let descriptor: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(descriptor, 4) == 0 else { throw CocoaError(.fileWriteUnknown) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(descriptor) }

    /// Whether a client has connected and is waiting to be accepted (accepts it, without waiting).
    var hasPendingConnection: Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 1
    }
}

/// Runs preflight with --json and returns the exit code, each id's worst status, and the document.
func preflight(_ arguments: [String], input: String? = nil) throws -> (status: Int32, worst: [String: String], json: [String: Any], result: RunResult) {
    let result = try mailsec(arguments: ["preflight", "--json"] + arguments, input: input)
    let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
    let rank = ["skip": 0, "pass": 1, "warn": 2, "fail": 3]
    var worst: [String: String] = [:]
    for check in (json["checks"] as? [[String: Any]]) ?? [] {
        let id = check["id"] as! String, status = check["status"] as! String
        if rank[status]! >= rank[worst[id] ?? "skip"]! { worst[id] = status }
    }
    return (result.status, worst, json, result)
}

func messages(_ json: [String: Any], id: String) -> String {
    ((json["checks"] as? [[String: Any]]) ?? []).filter { $0["id"] as? String == id }
        .map { "\($0["message"] as? String ?? "")\n\($0["remedy"] as? String ?? "")" }.joined(separator: "\n")
}
