import Foundation
import MailSec
import Testing

/// Our main.cf / master.cf parser against Postfix's own postconf, on every
/// preflight fixture, Debian's stock files and a file of awkward syntax.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct PostfixParserTests {
    /// Configuration directories to compare on.
    static func directories() throws -> [(String, TemporaryDirectory)] {
        var result: [(String, TemporaryDirectory)] = []
        // Debian's stock main.cf variants with the stock master.cf.
        for main in ["/usr/share/postfix/main.cf.debian", "/usr/share/postfix/main.cf.dist"] {
            let directory = try TemporaryDirectory()
            try FileManager.default.copyItem(atPath: main, toPath: directory.path + "/main.cf")
            try FileManager.default.copyItem(atPath: "/etc/postfix/master.cf", toPath: directory.path + "/master.cf")
            result.append((directory.path, directory))
        }
        var trees: [PreflightTree] = [PreflightTree()]
        var numeric = PreflightTree(); numeric.serviceName = "465"; numeric.contentFilterPort = 10026; trees.append(numeric)
        var commented = PreflightTree(); commented.commented = true; trees.append(commented)
        var relay = PreflightTree(); relay.mainExtra = ["smtpd_tls_wrappermode = yes", "mua_client_restrictions = permit_sasl_authenticated, reject"]
        relay.overrides.append("smtpd_client_restrictions=$mua_client_restrictions"); trees.append(relay)
        for tree in trees {
            let directory = try TemporaryDirectory()
            result.append((try tree.build(in: directory) + "/etc/postfix", directory))
        }
        let awkward = try TemporaryDirectory()
        try """
        # awkward but valid
        myhostname=mail.example.org
        mydomain = example.org
        myorigin = $mydomain
        smtpd_banner = ${myhostname} ESMTP $(mail_name)
        smtpd_tls_cert_file = /etc/ssl/certs/${myhostname}.pem
        smtpd_tls_key_file = ${smtpd_tls_cert_file?/etc/ssl/private/$myhostname.key}
        smtpd_tls_CAfile = ${undefined_parameter:/etc/ssl/certs/ca-certificates.crt}
        smtpd_recipient_restrictions =
        \tpermit_mynetworks,
        # comment between continuation lines
            permit_sasl_authenticated,\treject_unauth_destination
        smtpd_relay_restrictions = $smtpd_recipient_restrictions
        smtpd_sasl_path = private/auth
        smtpd_sasl_path = private/dovecot-auth
        smtpd_helo_restrictions = $$literal
        smtpd_sasl_type=dovecot   

        """.write(toFile: awkward.path + "/main.cf", atomically: true, encoding: .utf8)
        try """
        smtp      inet  n       -       y       -       -       smtpd
        [::1]:smtps inet n - n - - smtpd -o syslog_name=postfix/v6
          -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }
        # a comment does not end the entry
          -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes
        127.0.0.1:465 inet n - n - - smtpd
            -o { content_filter = smtp-amavis:[127.0.0.1]:10026 }
            -v
        pickup    unix  n       -       y       60      1       pickup
        smtp-amavis unix - - n - 2 smtp -o smtp_data_done_timeout=1200 -o { smtp_send_xforward_command = yes }

        """.write(toFile: awkward.path + "/master.cf", atomically: true, encoding: .utf8)
        result.append((awkward.path, awkward))
        return result
    }

    /// The parameters the checks read, compared after expansion.
    static let expanded = ["myhostname", "queue_directory", "mail_owner", "smtpd_tls_wrappermode", "smtpd_sasl_auth_enable", "smtpd_sasl_type",
                           "smtpd_sasl_path", "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_chain_files", "smtpd_client_restrictions",
                           "smtpd_helo_restrictions", "smtpd_sender_restrictions", "smtpd_relay_restrictions", "smtpd_recipient_restrictions",
                           "content_filter", "cyrus_sasl_config_path", "smtpd_tls_CAfile", "smtpd_banner"]

    func postconf(_ directory: String, _ arguments: [String]) throws -> [String] {
        let result = try run("/usr/sbin/postconf", ["-c", directory] + arguments)
        #expect(result.status == 0, "postconf \(arguments): \(result.stderr)")
        return result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test func mainCfAgreesWithPostconf() throws {
        for (directory, _) in try Self.directories() {
            let main = try PostfixMainConfig.load(directory + "/main.cf", systemHostname: hostname())
            #expect(main.problems.isEmpty, "\(directory): \(main.problems)")
            // Every parameter postconf -n reports, with the same raw value.
            let explicit = try postconf(directory, ["-n"])
            #expect(!explicit.isEmpty)
            for line in explicit {
                let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                let name = parts[0], value = parts.count > 1 ? parts[1] : ""
                if name == "config_directory" { continue }   // postconf adds it for -c
                #expect(main.entries[name]?.value == value, "\(directory) \(name): postconf '\(value)', ours '\(main.entries[name]?.value ?? "nil")'")
            }
            let values = try postconf(directory, ["-xh"] + Self.expanded)
            for (name, value) in zip(Self.expanded, values) {
                #expect(main.value(name) == value, "\(directory) \(name): postconf -x '\(value)', ours '\(main.value(name))'")
            }
        }
    }

    @Test func masterCfAgreesWithPostconf() throws {
        for (directory, _) in try Self.directories() {
            let master = try PostfixMasterConfig.load(directory + "/master.cf")
            #expect(master.problems.isEmpty, "\(directory): \(master.problems)")
            let services = try postconf(directory, ["-M"])
            #expect(services.count == master.services.count, "\(directory): postconf -M lists \(services.count), ours \(master.services.count)")
            for (line, service) in zip(services, master.services) {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).prefix(8).map(String.init)
                #expect(fields == [service.name, service.type, service.privateColumn, service.unprivileged, service.chroot,
                                   service.wakeup, service.maxProcesses, service.command], "\(directory): \(line)")
            }
            // Every -o override, as postconf -P shows it: service/type/name = value.
            var ours: [String] = []
            for service in master.services {
                for (name, value) in service.overrideValues.sorted(by: { $0.key < $1.key }) { ours.append("\(service.name)/\(service.type)/\(name) = \(value)") }
            }
            let theirs = try postconf(directory, ["-P"])
            #expect(Set(ours) == Set(theirs), "\(directory)\nours: \(Set(ours).subtracting(theirs))\npostconf: \(Set(theirs).subtracting(ours))")
        }
    }

    @Test func overridesExpandLikePostfix() throws {
        // An override that refers to a main.cf parameter, as Debian's master.cf suggests ($mua_client_restrictions).
        var tree = PreflightTree()
        tree.mainExtra = ["mua_client_restrictions = permit_sasl_authenticated, reject"]
        tree.overrides[3] = "smtpd_client_restrictions=$mua_client_restrictions"
        let root = try TemporaryDirectory()
        let directory = try tree.build(in: root) + "/etc/postfix"
        let main = try PostfixMainConfig.load(directory + "/main.cf")
        let master = try PostfixMasterConfig.load(directory + "/master.cf")
        let service = try #require(master.service(named: "smtps", type: "inet"))
        #expect(main.value("smtpd_client_restrictions", overrides: service.overrideValues) == "permit_sasl_authenticated, reject")
        let expanded = try postconf(directory, ["-Px", "smtps/inet/smtpd_client_restrictions"])
        #expect(expanded == ["smtps/inet/smtpd_client_restrictions = permit_sasl_authenticated, reject"])
    }

    @Test func eachOverrideKnowsItsPhysicalLine() throws {
        let directories = try Self.directories()
        let (directory, _) = try #require(directories.last)   // the awkward one
        let master = try PostfixMasterConfig.load(directory + "/master.cf")
        let ipv6 = try #require(master.service(named: "[::1]:smtps", type: "inet"))
        #expect(ipv6.lines == 2...5, "a comment inside the entry does not end it")
        #expect(ipv6.override("syslog_name")?.line == 2)
        #expect(ipv6.override("smtpd_client_restrictions")?.line == 3)
        #expect(ipv6.override("smtpd_tls_wrappermode")?.line == 5)
        #expect(ipv6.override("smtpd_sasl_auth_enable")?.line == 5)
        let amavis = try #require(master.service(named: "smtp-amavis", type: "unix"))
        #expect(amavis.override("smtp_send_xforward_command")?.line == 10)
    }

    @Test func errorsNameTheSameLineAsPostfix() throws {
        let directory = try TemporaryDirectory()
        try "myhostname = mail.example.com\n# fine\nsmtpd_banner\n  continued\nmydomain = example.com\n".write(toFile: directory.path + "/main.cf", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: "/etc/postfix/master.cf", toPath: directory.path + "/master.cf")
        let main = try PostfixMainConfig.load(directory.path + "/main.cf")
        let postconf = try run("/usr/sbin/postconf", ["-c", directory.path, "-n"])
        #expect(postconf.status != 0)
        let problem = try #require(main.problems.first)
        #expect(postconf.stderr.contains("line \(problem.line): missing '='"), "postconf: \(postconf.stderr) ours: \(problem)")

        try "smtp inet n - y - - smtpd\nsmtps inet n - y - smtpd\n  -o x=y\nbad typex n - y - - smtpd\n".write(toFile: directory.path + "/master.cf", atomically: true, encoding: .utf8)
        let master = try PostfixMasterConfig.load(directory.path + "/master.cf")
        #expect(master.problems.map(\.line) == [2, 4], "\(master.problems)")
        #expect(master.problems.allSatisfy { $0.file == directory.path + "/master.cf" })
    }
}
