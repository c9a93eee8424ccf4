import Foundation
import Glibc
import Testing
@testable import MailSec

/// The parser defects of the hostile review (issue 12), one test each.
@Suite struct ParserHardeningTests {
    // Defect 4: main.cf expansion was exponential in breadth.
    @Test func aSelfDoublingParameterIsReportedAndBounded() {
        let looping = PostfixMainConfig(text: "myhostname = mail.example.com\na = $a$a\n", path: "main.cf")
        #expect(looping.problems.contains { $0.line == 2 && $0.message.contains("$a") && $0.message.contains("loop") }, "\(looping.problems)")
        #expect(looping.value("a").isEmpty)

        var text = "p0 = xxxxxxxx\n"
        for level in 1...24 { text += "p\(level) = $p\(level - 1)$p\(level - 1)\n" }
        let doubling = PostfixMainConfig(text: text, path: "main.cf")
        #expect(doubling.problems.contains { $0.message.contains("more than 64 KiB") }, "\(doubling.problems)")
        #expect(doubling.value("p24").utf8.count <= PostfixExpansion.maximumLength)
        #expect(doubling.value("p3") == String(repeating: "x", count: 64), "honest expansions are untouched")
    }

    // Found by the main-cf fuzz target: compatibility_level naming a parameter
    // whose default is a compatibility_level expression recursed without end.
    @Test func aCompatibilityLevelThatRefersToALevelDependentDefaultEnds() {
        for text in ["compatibility_level = $smtpd_relay_restrictions\n",
                     "compatibility_level = ${smtpd_relay_restrictions}3.6\nsmtpd_relay_restrictions = $b\nb = $compatibility_level\n"] {
            let config = PostfixMainConfig(text: text, path: "main.cf")
            #expect(config.compatibilityLevel >= 0)
            _ = config.value("smtpd_relay_restrictions")
        }
        let plain = PostfixMainConfig(text: "compatibility_level = $level\nlevel = 3.6\n", path: "main.cf")
        #expect(plain.compatibilityLevel == 3.6)
        #expect(plain.value("smtpd_relay_restrictions").contains("defer_unauth_destination"))
    }

    // Defect 9: 8,000 chained user chains overflowed the stack.
    @Test func aDeepChainOfUserChainsIsWalkedWithoutRecursion() {
        var rules = "*filter\n:INPUT DROP [0:0]\n-A INPUT -j c0\n"
        for index in 0..<8_000 { rules += ":c\(index) - [0:0]\n-A c\(index) -j c\(index + 1)\n" }
        rules += ":c8000 - [0:0]\n-A c8000 -p tcp -m tcp --dport 465 -j ACCEPT\nCOMMIT\n"
        let inspector = FirewallInspector(root: "/nonexistent", port: 465, services: nil)
        let verdict = inspector.iptables(rules, file: "rules.v4", chain: "INPUT", reload: "")
        #expect(verdict.allows, "\(verdict.detail)")
        // A RETURN in the middle goes back to the caller, whose later rule decides.
        let returning = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j a\n-A INPUT -p tcp --dport 465 -j DROP\n-A a -j b\n-A a -j ACCEPT\n-A b -j RETURN\nCOMMIT\n"
        #expect(inspector.iptables(returning, file: "f", chain: "INPUT", reload: "").allows, "a's ACCEPT after b returns")
    }

    // Defect 12: CRLF files were misparsed.
    @Test func crlfFilesReadLikeLFFiles() throws {
        let main = "myhostname = mail.example.com\nsmtpd_tls_cert_file = /etc/cert.pem\nsmtpd_relay_restrictions = permit_mynetworks,\n    reject_unauth_destination\n"
        let master = "smtp      inet  n       -       y       -       -       smtpd\nsubmissions inet n       -       y       -       -       smtpd\n  -o smtpd_tls_wrappermode=yes\n"
        let crlf = { (text: String) in text.replacingOccurrences("\n", with: "\r\n") }
        let lfMain = PostfixMainConfig(text: main, path: "main.cf"), crlfMain = PostfixMainConfig(text: crlf(main), path: "main.cf")
        #expect(crlfMain.entries == lfMain.entries && lfMain.entries.count == 3)
        #expect(crlfMain.problems.isEmpty)
        let lfMaster = PostfixMasterConfig(text: master, path: "master.cf"), crlfMaster = PostfixMasterConfig(text: crlf(master), path: "master.cf")
        #expect(crlfMaster.services == lfMaster.services && lfMaster.services.count == 2)
        let inspector = FirewallInspector(root: "/nonexistent", port: 465, services: nil)
        let dropPolicy = crlf("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n")
        #expect(!inspector.iptables(dropPolicy, file: "rules.v4", chain: "INPUT", reload: "").allows, "a DROP policy is a DROP policy")
        let services = ServicesFile(text: crlf("smtp 25/tcp mail\nsubmissions 465/tcp ssmtp smtps\n"), path: "services")
        #expect(services.tcp("smtps")?.port == 465)
        let directory = try TemporaryPath()
        try Data(crlf("pwcheck_method: saslauthd\nmech_list: PLAIN LOGIN\n").utf8).write(to: URL(fileURLWithPath: directory.path + "/smtpd.conf"))
        let cyrus = try CyrusConfiguration.find(app: "smtpd", in: [directory.path])
        #expect(cyrus.pwcheckMethod == "saslauthd")
        #expect(cyrus.mechanismList == "PLAIN LOGIN")
        // Lines as a streaming reader hands them over from a CRLF file: each with its CR.
        let log = AuthStringDecoder.decodeLog(["C: AUTH PLAIN AGJvYgBib2ItcGFzcw==\r", "S: 235 ok\r"])
        #expect(log.count == 1)
    }

    // Defect 15: quadratic parsing of long continuations and big pf files.
    @Test func longContinuationsAndBigPfFilesParseInLinearTime() {
        var main = "myhostname = mail.example.com\nmynetworks = 127.0.0.1\n"
        for index in 0..<100_000 { main += "    10.\(index / 65_536).\(index / 256 % 256).\(index % 256)\n" }
        let config = PostfixMainConfig(text: main, path: "main.cf")
        #expect(config.list("mynetworks").count == 100_001)
        var pf = ""
        for index in 0..<20_000 { pf += "m\(index) = \"\(1000 + index)\"\n" }
        for index in 0..<20_000 { pf += "pass in proto tcp to port $m\(index)\n" }
        pf += "pass in proto tcp to port 465\nblock in all\n"
        let verdict = FirewallInspector(root: "/nonexistent", port: 465, services: nil).pf(pf, file: "pf.conf")
        #expect(verdict.allows && verdict.detail.contains("line 40001"), "\(verdict.detail)")
        #expect(FirewallInspector.expandMacros("port $a $b $c", ["a": "1", "b": "2"]) == "port 1 2 $c")
    }

    // Defect 14: comments and paths that led the firewall check and --root astray.
    @Test func commentsAndPathsCannotFoolTheTreeChecks() throws {
        let root = try TemporaryPath()
        func write(_ text: String, _ path: String) throws {
            try FileManager.default.createDirectory(atPath: root.path + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root.path + path, atomically: true, encoding: .utf8)
        }
        try write("DefaultZone=public\n", "/etc/firewalld/firewalld.conf")
        try write("<zone>\n  <service name=\"ssh\"/>\n  <!-- <port protocol=\"tcp\" port=\"465\"/> -->\n</zone>\n", "/etc/firewalld/zones/public.xml")
        let commented = FirewallInspector(root: root.path, port: 465, services: nil).firewalld()
        #expect(commented?.allows == false, "a port in a comment opens nothing")

        try write("DefaultZone=../../../../../../etc/x\n", "/etc/firewalld/firewalld.conf")
        let escaping = FirewallInspector(root: root.path, port: 465, services: nil).firewalld()
        #expect(escaping?.allows == false && escaping?.detail.contains("not a zone name") == true, "\(escaping?.detail ?? "")")

        // `..` stops at the root; links, absolute or relative, stay inside the tree.
        #expect(RootedPath.join(root.path, "/../../etc/passwd") == root.path + "/etc/passwd")
        try FileManager.default.createDirectory(atPath: root.path + "/etc/ssl", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root.path + "/etc/ssl/certs", withDestinationPath: "/etc/pki/certs")
        try FileManager.default.createSymbolicLink(atPath: root.path + "/etc/up", withDestinationPath: "../../../../../../../etc")
        #expect(RootedPath.join(root.path, "/etc/ssl/certs/a.pem") == root.path + "/etc/pki/certs/a.pem")
        #expect(RootedPath.join(root.path, "/etc/up/passwd") == root.path + "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: root.path + "/etc/self", withDestinationPath: "/etc/self")
        let loop = RootedPath.join(root.path, "/etc/self/main.cf")
        #expect(loop.hasPrefix(root.path + "/") && FileStatus(path: loop) == nil, "a loop names nothing: \(loop)")
        #expect(RootedPath.join("/", "/etc/passwd") == "/etc/passwd", "the live system is read as it is")
    }

    // Defect 8: a FIFO given as a file hung forever.
    @Test func aFIFOIsRefusedNotWaitedFor() throws {
        let directory = try TemporaryPath()
        let fifo = directory.path + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        for read in [{ _ = try SecureFileSystem.read(fifo) }, { _ = try SecureFileSystem.readText(fifo) }, { _ = try CredentialReader(path: fifo) },
                     { _ = try TrustStore(.file(fifo)) }, { _ = try StreamedLines(path: fifo) }] {
            #expect { try read() } throws: { ($0 as? MailSecError)?.message.contains("FIFO") == true }
        }
        let certificates = directory.path + "/certs"
        try FileManager.default.createDirectory(atPath: certificates, withIntermediateDirectories: true)
        #expect(mkfifo(certificates + "/0a1b2c3d.0", 0o600) == 0)
        #expect { _ = try TrustStore(.directory(certificates)) } throws: { ($0 as? MailSecError)?.message.contains("FIFO") == true }
    }
}

extension ParserHardeningTests {
    // Defect 20: an endless MECH list in the handshake grew memory without bound.
    @Test func anEndlessMechanismListIsRefused() throws {
        let server = try FakeAuthServer { connection in
            connection.send("VERSION\t1\t2\n")
            for index in 0..<100_000 { connection.send("MECH\tX-\(index)\tplaintext\n") }
        }
        #expect { try DovecotAuthClient(address: .unix(server.path), timeout: .seconds(10)) } throws: { error in
            let failure = error as? MailSecError
            return failure?.code == .protocolViolation && failure?.message.contains("more than 1000 lines") == true
        }
    }
}

/// A temporary directory, removed when released.
final class TemporaryPath {
    let path: String
    init() throws {
        var template = Array("/tmp/mailsec-unit-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Bytes handed out as they were received, for the line reader without a socket.
private final class CannedStream: ByteStream {
    let peerName = "the server"
    private var bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }

    func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        let count = min(buffer.count, bytes.count)
        for index in 0..<count { buffer[index] = bytes[index] }
        bytes.removeFirst(count)
        return count
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws -> Int {
        try readAvailable(into: buffer) ?? 0
    }

    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws {}
}

extension ParserHardeningTests {
    // Found by the line-reader fuzz target: a negative literal length (`{-5}`
    // parsed with Int()) trapped on an inverted range instead of being refused.
    @Test func aNegativeLiteralLengthIsRefusedNotATrap() throws {
        let reader = LineReader(stream: CannedStream("* OK {-5}\r\nhello\r\n"), maximumLineLength: 4096)
        #expect(try reader.readLine(deadline: .distant) == Array("* OK {-5}".utf8))
        #expect(throws: MailSecError.self) { try reader.readBytes(-5, deadline: .distant) }
        #expect(try reader.readBytes(5, deadline: .distant) == Array("hello".utf8))
    }
}
