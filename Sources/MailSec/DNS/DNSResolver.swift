internal import CUnbound
import Glibc
import Synchronization

/// Where lookups go and which DNSSEC anchors they are validated from.
public struct DNSResolverOptions: Sendable {
    /// `ADDR` or `ADDR@PORT`: every lookup goes to this server. Without it,
    /// the nameservers of /etc/resolv.conf.
    public var forwarder: String?
    /// Zone-file DS or DNSKEY records to trust, for private zones and tests.
    /// When any is given, they replace the root's anchor, so that a zone no
    /// anchor covers is reported insecure rather than failing to reach the root.
    public var trustAnchorFiles: [String] = []
    /// The root's anchor (Debian: dns-root-data).
    public var rootAnchorFile = "/usr/share/dns/root.key"

    /// The nameservers of /etc/resolv.conf, validated from the root's anchor.
    public init() {}

    /// A forwarder must be `ADDR` or `ADDR@PORT` with an IP address: libunbound
    /// takes no names there (looking one up would need a resolver already).
    public static func validateForwarder(_ text: String) throws {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard IPAddress.normalize(String(parts[0])) != nil else {
            throw MailSecError(.invalidInput, "the resolver \(TextSanitizer.quoted(text)) must be an IP address, optionally @PORT")
        }
        if parts.count == 2, UInt16(parts[1]).map({ $0 > 0 }) != true {
            throw MailSecError(.invalidInput, "the resolver \(TextSanitizer.quoted(text)): the port after @ must be between 1 and 65535")
        }
    }
}

/// One answer, with what DNSSEC validation made of it.
public struct DNSAnswer: Sendable, Equatable {
    /// What DNSSEC validation made of an answer.
    public enum Security: Sendable, Equatable {
        /// Signed and validated from a trust anchor.
        case secure
        /// Provably unsigned (or under no anchor): usable for nothing DANE needs.
        case insecure
        /// Signed but failing validation; libunbound's reason.
        case bogus(String)
    }

    /// The name asked about.
    public var name: String
    /// The record type asked for (1 A, 15 MX, 28 AAAA, 52 TLSA, ...).
    public var type: UInt16
    /// Secure, insecure, or bogus and why.
    public var security: Security
    /// DNS rcode: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...
    public var rcode: Int
    /// The records' RDATA in wire form.
    public var records: [[UInt8]]
    /// The RRset's TTL, when there is data.
    public var ttl: UInt32

    /// True for NXDOMAIN: the name does not exist.
    public var isNameError: Bool { rcode == 3 }
}

/// DNS record types MailSec asks for.
package enum DNSType {
    package static let a: UInt16 = 1
    package static let mx: UInt16 = 15
    package static let aaaa: UInt16 = 28
    package static let tlsa: UInt16 = 52
}

/// A libunbound context, owned. Lookups run asynchronously inside libunbound
/// (on a thread of its own, never a forked process: this process has threads)
/// and are waited for with poll(2), so each has a deadline like every other
/// network step; one past its deadline is cancelled.
public final class DNSResolver: @unchecked Sendable {
    private let context: OpaquePointer
    /// Guards every call into the context and the pending lookups' boxes.
    private let lock = Mutex(())

    /// Where libunbound writes its own messages once the context works: nowhere,
    /// since every failure reaches the caller as a typed error instead.
    private let quiet: UnsafeMutablePointer<FILE>?

    /// A resolver with its own libunbound context, set up from `options`: the forwarder and the trust anchors (a malformed anchor file is an error naming its line).
    public init(_ options: DNSResolverOptions = DNSResolverOptions()) throws {
        guard let context = ub_ctx_create() else { throw MailSecError(.io, "libunbound could not create a resolver context") }
        self.context = context
        quiet = fopen("/dev/null", "w")
        try check(ub_ctx_async(context, 1), "cannot run libunbound's lookups on a thread")
        // A resolver on loopback (a local unbound, a test server) is the common case.
        try check(ub_ctx_set_option(context, "do-not-query-localhost:", "no"), "cannot allow a resolver on loopback")
        // RFC 8145 key-tag queries tell the zone's servers which anchors we hold: a round trip, and nothing we need.
        try check(ub_ctx_set_option(context, "trust-anchor-signaling:", "no"), "cannot turn off trust-anchor signaling")
        if let forwarder = options.forwarder {
            try check(ub_ctx_set_fwd(context, forwarder), "cannot use \(forwarder) as the resolver (ADDR or ADDR@PORT)")
        } else {
            try check(ub_ctx_resolvconf(context, "/etc/resolv.conf"), "cannot read the nameservers in /etc/resolv.conf")
        }
        if options.trustAnchorFiles.isEmpty {
            if access(options.rootAnchorFile, R_OK) == 0 {
                try check(ub_ctx_add_ta_file(context, options.rootAnchorFile), "cannot read the root trust anchor \(options.rootAnchorFile)")
            }
        } else {
            for file in options.trustAnchorFiles {
                guard access(file, R_OK) == 0 else { throw MailSecError(.fileNotFound, "\(file): cannot read the trust anchor file") }
                try check(ub_ctx_add_ta_file(context, file), "\(file) holds no DS or DNSKEY record libunbound accepts")
            }
        }
        try start(options)
    }

    /// libunbound reads the anchor files only when its first lookup starts
    /// the validator. Start it here, with `localhost.` (answered inside
    /// libunbound, RFC 6761: no packet leaves), so that a malformed anchor
    /// is an error now, not a failed lookup later.
    private func start(_ options: DNSResolverOptions) throws {
        _ = ub_ctx_debugout(context, quiet.map { UnsafeMutableRawPointer($0) })
        guard (try? queries([Question("localhost.", type: DNSType.a)], deadline: .after(.seconds(5)))[0].get()) == nil else { return }
        throw MailSecError(.invalidInput, "the DNSSEC validator cannot start: \(Self.startFailure(options) ?? "libunbound did not start")",
                           remedy: options.trustAnchorFiles.isEmpty ? nil : "a trust anchor file holds DS or DNSKEY records in zone-file form, e.g. the output of `keymgr ZONE ds` or `dig DNSKEY ZONE`")
    }

    /// Why a context with `options` cannot start, in libunbound's words
    /// (`parse error in FILE:LINE:COLUMN : reason`): only on that failure, a
    /// throwaway context runs once in the foreground with its messages captured.
    private static func startFailure(_ options: DNSResolverOptions) -> String? {
        guard let context = ub_ctx_create() else { return nil }
        defer { ub_ctx_delete(context) }
        for file in options.trustAnchorFiles.isEmpty ? [options.rootAnchorFile] : options.trustAnchorFiles {
            _ = ub_ctx_add_ta_file(context, file)
        }
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let messages = open_memstream(&buffer, &size) else { return nil }
        _ = ub_ctx_debugout(context, messages)
        var result: UnsafeMutablePointer<ub_result>?
        _ = ub_resolve(context, "localhost.", Int32(DNSType.a), 1, &result)
        if let result { ub_resolve_free(result) }
        fclose(messages)
        defer { free(buffer) }
        let said = buffer.map { String(cString: $0) } ?? ""
        return said.split(separator: "\n").first { $0.contains("error") }
            .map { String($0[($0.firstRange(of: "error: ")?.upperBound ?? $0.startIndex)...]) }
    }

    deinit {
        ub_ctx_delete(context)
        if let quiet { fclose(quiet) }
    }

    private func check(_ code: Int32, _ message: String) throws {
        guard code == 0 else {
            let reason = ub_strerror(code).map { String(cString: $0) } ?? "error \(code)"
            throw MailSecError(.invalidInput, "\(message): \(reason)")
        }
    }

    /// What one lookup hands back from libunbound's callback. Read and
    /// written only under `lock`: callbacks run inside ub_process, which is
    /// called under it.
    private final class Pending: @unchecked Sendable {
        var done = false
        var error: Int32 = 0
        var answer: DNSAnswer?
        var id: Int32 = 0
    }

    /// One question of a batch.
    public struct Question: Sendable, Hashable {
        /// The name to look up.
        public var name: String
        /// The record type (1 A, 15 MX, 28 AAAA, 52 TLSA, ...).
        public var type: UInt16
        /// A question for `name`'s records of `type`, class IN.
        public init(_ name: String, type: UInt16) {
            self.name = name
            self.type = type
        }
    }

    /// Looks up `name`/`type` (class IN), validated, before `deadline`.
    public func query(_ name: String, type: UInt16, deadline: Deadline) throws -> DNSAnswer {
        try queries([Question(name, type: type)], deadline: deadline)[0].get()
    }

    /// Looks up every question at once (one round trip for all, not one each),
    /// each answer or its own failure in the questions' order. Threads may
    /// share a resolver: ub_process hands answers to whoever calls it, so each
    /// waiter polls libunbound's descriptor, processes under the lock, and
    /// looks again at least every 10 ms in case another waiter took its answer.
    public func queries(_ questions: [Question], deadline: Deadline) throws -> [Result<DNSAnswer, MailSecError>] {
        let pendings = questions.map { _ in Pending() }
        lock.withLock { _ in
            for (question, pending) in zip(questions, pendings) {
                let argument = Unmanaged.passRetained(pending).toOpaque()
                let started = ub_resolve_async(context, question.name, Int32(question.type), 1, argument, { argument, error, result in
                    let pending = Unmanaged<Pending>.fromOpaque(argument!).takeRetainedValue()
                    pending.done = true
                    pending.error = error
                    if let result {
                        pending.answer = DNSResolver.answer(from: result.pointee)
                        ub_resolve_free(result)
                    }
                }, &pending.id)
                if started != 0 {
                    Unmanaged<Pending>.fromOpaque(argument).release()
                    pending.done = true
                    pending.error = started
                }
            }
        }
        let descriptor = ub_fd(context)
        while !lock.withLock({ _ in pendings.allSatisfy(\.done) }) {
            guard !deadline.hasPassed else {
                lock.withLock { _ in
                    for pending in pendings where !pending.done {
                        // The callback will not run for a cancelled query: release its box here.
                        if ub_cancel(context, pending.id) == 0 { Unmanaged.passUnretained(pending).release() }
                    }
                }
                break
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, min(deadline.pollMilliseconds, 10))
            if ready < 0 && errno != EINTR { throw MailSecError(.io, "waiting for libunbound: \(String(cString: strerror(errno)))") }
            if ready > 0 { try lock.withLock { _ in try check(ub_process(context), "libunbound failed") } }
        }
        return lock.withLock { _ in
            zip(questions, pendings).map { question, pending in
                guard pending.done else { return .failure(MailSecError(.timeout, "no DNS answer for \(question.name) in time")) }
                guard pending.error == 0, let answer = pending.answer else {
                    let reason = ub_strerror(pending.error).map { String(cString: $0) } ?? "error \(pending.error)"
                    return .failure(MailSecError(.io, "looking up \(question.name): \(reason)"))
                }
                return .success(answer)
            }
        }
    }

    /// The addresses in the A and AAAA answers for `host`, IPv4 first.
    static func addresses(of host: String, a: DNSAnswer, aaaa: DNSAnswer) throws -> [String] {
        var addresses: [String] = []
        for answer in [a, aaaa] {
            if case .bogus(let why) = answer.security {
                throw MailSecError(.hostNotFound, "the address records of \(host) fail DNSSEC validation: \(why)")
            }
            addresses += answer.records.compactMap(IPAddress.format)   // A: 4 bytes, AAAA: 16
        }
        guard !addresses.isEmpty else {
            throw MailSecError(.hostNotFound, "cannot resolve \(host): no A or AAAA record", remedy: "check the host name, or its records in DNS")
        }
        return addresses
    }

    private static func answer(from result: ub_result) -> DNSAnswer {
        var records: [[UInt8]] = []
        if result.havedata != 0, let data = result.data, let lengths = result.len {
            var index = 0
            while let record = data[index] {
                records.append(Array(UnsafeRawBufferPointer(start: record, count: Int(lengths[index]))))
                index += 1
            }
        }
        let security: DNSAnswer.Security
        if result.bogus != 0 {
            security = .bogus(result.why_bogus.map { String(cString: $0) } ?? "validation failed")
        } else if result.secure != 0 {
            security = .secure
        } else {
            security = .insecure
        }
        return DNSAnswer(name: result.qname.map { String(cString: $0) } ?? "", type: UInt16(result.qtype), security: security,
                         rcode: Int(result.rcode), records: records, ttl: UInt32(max(0, result.ttl)))
    }
}
