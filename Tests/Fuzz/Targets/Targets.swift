import Glibc
@testable import MailSec
import MailSecExporter

/// The fuzz targets: each hands the input to one of MailSec's parsers the way
/// the tool does with a file, a reply or a command-line value. Thrown errors
/// are fine (bad input must be refused); crashes, hangs, leaks and unbounded
/// memory are what libFuzzer catches. Adding a parser means adding a line here
/// and a seed directory under Tests/Fuzz/Corpus.
enum FuzzTargets {
    typealias Target = @Sendable (UnsafeRawBufferPointer) -> Void

    nonisolated(unsafe) private static var current: Target = { _ in }
    static func select(_ name: String) { current = all[name]! }
    static func selected(_ input: UnsafeRawBufferPointer) { current(input) }

    static let all: [String: Target] = [
        // Certificates, chains, CSRs and keys, PEM or DER, as inspect, verify and genkey read them.
        "pem": { input in _ = try? FileInspection.inspect(input, source: "fuzz") },
        "chain": chain,
        "key": { input in
            _ = try? PrivateKey(pem: input, source: "fuzz")
            _ = try? PrivateKey(der: input, source: "fuzz")
        },
        "csr": { input in
            guard let request = try? CertificateSigningRequest(der: Array(input), source: "fuzz") else { return }
            _ = try? SigningRequestFacts(request)
        },
        // AUTH strings and transcripts (auth decode).
        "auth-string": { input in
            let text = String(decoding: input, as: UTF8.self)
            for hint in [nil, "PLAIN", "LOGIN user name", "LOGIN password", "CRAM-MD5 response", "XOAUTH2"] {
                _ = try? AuthStringDecoder.decode(text, hint: hint)
            }
        },
        "transcript": { input in
            var decoder = AuthTranscriptDecoder()
            for line in text(input).split(separator: "\n", omittingEmptySubsequences: false) { _ = decoder.feed(line) }
        },
        // Dovecot's auth-client protocol: the line codec and the handshake state machine.
        "dovecot-line": { input in
            let line = Array(input)
            let fields = AuthProtocolLine.fields(line)
            _ = AuthProtocolLine.parameters(fields.dropFirst())
            _ = AuthProtocolLine.sanitized(line)
            _ = fields.map { AuthProtocolLine.unescape(Substring(AuthProtocolLine.escape($0))) }
        },
        "dovecot-handshake": { input in
            var parser = DovecotHandshakeParser(address: .unix("/fuzz"))
            for line in input.split(separator: 0x0a, omittingEmptySubsequences: false) {
                // nil from try? is a refused line; a handshake is the end of it.
                guard case .some(.none) = try? parser.add(Array(line)) else { return }
            }
        },
        // Replies of mail servers.
        "smtp-reply": { input in
            var parser = SMTPReplyParser()
            for line in text(input).split(separator: "\n", omittingEmptySubsequences: false) {
                guard (try? parser.add(String(line))) != nil else { return }
            }
        },
        "imap-response": { input in
            for line in text(input).split(separator: "\n", omittingEmptySubsequences: false) {
                let line = String(line)
                _ = IMAPResponse.literalLength(atEndOf: line)
                guard let response = try? IMAPResponse(parsing: line) else { continue }
                _ = response.capabilities
            }
        },
        "pop3-response": { input in
            var body = POP3MultiLine()
            for line in text(input).split(separator: "\n", omittingEmptySubsequences: false) {
                _ = try? POP3Status(parsing: String(line)).shown
                guard let done = try? body.add(String(line)), !done else { return }
            }
        },
        "sieve-response": { input in
            var data: [[SieveToken]] = []
            for line in text(input).split(separator: "\n", omittingEmptySubsequences: false) {
                guard let (tokens, _) = try? SieveTokenizer.tokens(String(line)) else { continue }
                if let status = SieveResponse.status(tokens) {
                    _ = SieveResponse(data: data, status: status.status, code: status.code, text: status.text).capabilities
                    data = []
                } else {
                    data.append(tokens)
                }
            }
        },
        "line-reader": lineReader,
        // Postfix's configuration.
        "main-cf": { input in
            let config = PostfixMainConfig(text: text(input), path: "main.cf")
            for name in config.entries.keys {
                _ = config.value(name)
                _ = config.list(name)
            }
            _ = config.compatibilityLevel
        },
        "master-cf": { input in
            let master = PostfixMasterConfig(text: text(input), path: "master.cf")
            for service in master.services { _ = (service.portName, service.host, service.overrideValues) }
        },
        // Dovecot's configuration, 2.3 or 2.4, as audit reads it (includes under a root that holds nothing).
        "dovecot-conf": { input in
            let config = DovecotConfiguration(text: text(input), path: "dovecot.conf", root: "/nonexistent")
            for path in config.sectionPaths { _ = config.value("port", in: path) }
            _ = (config.isVersion24, config.value("protocols"), config.value("ssl_cert"))
        },
        // DANE: TLSA RDATA as a DNS answer carries it.
        "tlsa-rdata": { input in
            if let record = TLSARecord(rdata: Array(input)) {
                _ = record.zoneLine(host: "mail.example.net", port: 25)
            }
        },
        // MX RDATA (preference and an uncompressed name), as libunbound hands it over.
        "mx-rdata": { input in
            if let record = MXRecord(rdata: Array(input)) {
                _ = (record.isNullMX, record.exchange.utf8.count)
            }
        },
        // The exporter: its module file and the request targets Prometheus sends.
        "exporter-config": { input in
            _ = try? ExporterConfiguration.parse(text(input), path: "exporter.yml", readFile: { _ in SecureBytes(Array("secret".utf8)) })
        },
        "http-query": { input in
            if let query = try? HTTPQuery(parsing: text(input)) {
                var metrics = PrometheusText()
                for (name, value) in query.parameters { metrics.add("mailsec_check_status", 1, labels: [("check", name), ("status", value)], help: value) }
                _ = metrics.text
            }
        },
        // Firewalls, as preflight reads them from files.
        "iptables": { input in
            let inspector = FirewallInspector(root: "/nonexistent", port: 465, services: nil)
            _ = inspector.iptables(text(input), file: "rules.v4", chain: "INPUT", reload: "")
            _ = inspector.decide(FirewallInspector.IptablesTable(text(input)), chain: "ufw-user-input")
        },
        "firewalld": { input in
            let xml = text(input)
            for name in ["zone", "port", "service"] { _ = FirewallInspector.xmlElements(in: xml, named: name) }
            _ = FirewallInspector.keyValue(xml, "DefaultZone")
        },
        "pf": { input in _ = FirewallInspector(root: "/nonexistent", port: 465, services: nil).pf(text(input), file: "pf.conf") },
        "nftables": { input in _ = FirewallInspector(root: "/nonexistent", port: 465, services: nil).nftables(text(input), file: "nftables.conf") },
        "ufw": { input in
            let inspector = FirewallInspector(root: "/nonexistent", port: 465, services: nil)
            _ = inspector.decide(FirewallInspector.IptablesTable(text(input)), chain: "ufw-user-input")
            _ = FirewallInspector.keyValue(text(input), "DEFAULT_INPUT_POLICY")
        },
        "services": { input in
            let services = ServicesFile(text: text(input), path: "services")
            for name in ["smtp", "smtps", "submission", "submissions"] { _ = services.tcp(name) }
        },
        "smtpd-conf": { input in _ = try? CyrusConfiguration(text: text(input), path: "smtpd.conf") },
        // Values from the command line: targets, socket addresses, names, subjects.
        "names": { input in
            let value = text(input)
            _ = try? ProbeTarget(parsing: value)
            _ = try? SocketAddress(parsing: value)
            _ = try? Hostname.normalize(value, allowWildcard: true)
            _ = try? SubjectAlternativeName(parsing: value)
            _ = try? DistinguishedName(parsing: value)
            _ = try? ProbeOptions.validateEHLO(value)
            _ = try? Base64.decode(Array(input), ignoringWhitespace: true)
            _ = TextSanitizer.escaped(value)
            _ = ShellQuoting.quote(value)
        },
        "credentials": credentials,
    ]

    private static func text(_ input: UnsafeRawBufferPointer) -> String {
        String(decoding: input, as: UTF8.self)
    }

    /// A trust store made once: loading it per input would be all the fuzzer measured.
    private static let store = try? TrustStore(.system)

    private static let chain: Target = { input in
        guard let certificates = try? Certificate.all(in: Array(input), source: "fuzz"), let leaf = certificates.first, let store else { return }
        _ = try? CertificateFacts(leaf)
        _ = CertificateVerifier.certificateFindings(leaf: leaf, intermediates: Array(certificates.dropFirst()), hosts: ["mail.example.com"],
                                                    store: store, warnDays: 30)
    }

    /// The line reader under a stream that hands the input over in pieces
    /// of sizes the input's first byte picks, reading lines and literals.
    private static let lineReader: Target = { input in
        guard let first = input.first else { return }
        let stream = ChunkedInput(Array(input.dropFirst()), chunk: Int(first & 0x1f) + 1)
        let reader = LineReader(stream: stream, maximumLineLength: first & 0x20 != 0 ? 64 : 4096)
        while true {
            guard let line = try? reader.readLine(deadline: .distant) else { return }
            // `{n}` at the end of a line announces a literal, as in IMAP.
            if line.last == UInt8(ascii: "}"), let open = line.lastIndex(of: UInt8(ascii: "{")),
               let count = Int(String(decoding: line[(open + 1)..<(line.count - 1)], as: UTF8.self)), count <= 1 << 16 {
                guard (try? reader.readBytes(count, deadline: .distant)) != nil else { return }
            }
        }
    }

    /// The batch reader (auth test --batch) on a file holding the input: one
    /// unlinked temporary file, rewritten for each input and opened by name.
    private static let scratchFile: Int32 = {
        let path = "/tmp/mailsec-fuzz-credentials-\(getpid())"
        let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        unlink(path)
        return descriptor
    }()

    private static let credentials: Target = { input in
        guard scratchFile >= 0, ftruncate(scratchFile, 0) == 0 else { return }
        _ = pwrite(scratchFile, input.baseAddress, input.count, 0)
        guard let reader = try? CredentialReader(path: "/proc/self/fd/\(scratchFile)") else { return }
        for credential in reader { _ = credential.user }
    }
}

/// Bytes handed to a `LineReader` a few at a time, as a slow network would.
final class ChunkedInput: ByteStream {
    let peerName = "the fuzzer"
    private let bytes: [UInt8]
    private let chunk: Int
    private var offset = 0

    init(_ bytes: [UInt8], chunk: Int) {
        self.bytes = bytes
        self.chunk = chunk
    }

    func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        let count = min(buffer.count, chunk, bytes.count - offset)
        for index in 0..<count { buffer[index] = bytes[offset + index] }
        offset += count
        return count
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws -> Int {
        try readAvailable(into: buffer) ?? 0
    }

    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws {}
}
