internal import COpenSSL
import Synchronization
import Glibc

/// What the TLS handshake settled on.
public struct TLSDetails: Sendable {
    /// `TLSv1.3`, `TLSv1.2`, ...
    public var version: String
    /// The cipher suite, as OpenSSL names it (`TLS_AES_256_GCM_SHA384`).
    public var cipher: String
    /// How long the handshake took.
    public var handshakeMilliseconds: Double
}

/// OpenSSL's TLS client over a `Socket`, owning SSL_CTX and SSL.
///
/// Records go through a BIO of our own that calls the socket's non-blocking
/// reads and writes, so TLS shares the plain stream's deadlines, MSG_NOSIGNAL
/// and TCP_QUICKACK. Certificates are not verified here: the probe runs the
/// same checks as `mailsec verify` on what the server sent, and reports each.
/// The one client SSL_CTX every probe's session is made from. OpenSSL 3
/// makes a context slowly (it fetches every algorithm from its providers),
/// and every probe wants the same settings, so it is made once; SSL_new is
/// safe from any thread, and each session holds a reference of its own.
final class TLSClientContext: @unchecked Sendable {
    private let pointer: OpaquePointer

    private init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        SSL_CTX_free(pointer)
    }

    private static let made = Mutex<TLSClientContext?>(nil)

    static func shared() throws -> TLSClientContext {
        try made.withLock { made in
            if let made { return made }
            guard let context = SSL_CTX_new(TLS_client_method()) else { throw MailSecError.openSSL("cannot create a TLS context") }
            // A probe must see old servers to report them: accept TLS 1.0 and up at any
            // security level, and warn about what is weak instead of failing blind.
            _ = mailsec_SSL_CTX_set_min_proto_version(context, TLS1_VERSION)
            SSL_CTX_set_security_level(context, 0)
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
            // Read what the socket holds in one call rather than each record's
            // header and body apart: half the reads, and every read re-arms
            // TCP_QUICKACK. Callers always try SSL_read before waiting, so
            // bytes buffered inside the SSL are never missed by a poll.
            mailsec_SSL_CTX_set_read_ahead(context, 1)
            // Lets a session match TLSA records (SSL_dane_enable); sessions without them are unchanged.
            guard SSL_CTX_dane_enable(context) > 0 else {
                SSL_CTX_free(context)
                throw MailSecError.openSSL("cannot enable DANE on the TLS context")
            }
            let shared = TLSClientContext(context)
            made = shared
            return shared
        }
    }

    /// A new session (SSL) on this context; the caller frees it.
    func makeSession() -> OpaquePointer? {
        SSL_new(pointer)
    }
}

/// The TLSA records a handshake is to be matched against with OpenSSL's
/// DANE verifier (RFC 7671, 7672), as Postfix does it.
struct DANEExpectation: Sendable {
    /// Usable records only (DANE-TA and DANE-EE).
    var records: [TLSARecord]
    /// The TLSA base domain first, then any other name a DANE-TA-issued
    /// certificate may carry (the domain an MX was found for).
    var referenceNames: [String]
}

/// What OpenSSL's DANE verification made of the chain the server sent.
struct DANEOutcome: Sendable {
    /// The record that matched and the depth of the certificate it matched (0: the leaf).
    var matched: (record: TLSARecord, depth: Int)?
    /// OpenSSL's reason when none did.
    var failure: String?
}

final class TLSStream: ByteStream {
    private let ssl: OpaquePointer
    private let socket: Socket
    var peerName: String { socket.peerName }

    init(over socket: Socket, serverName: String?, dane: DANEExpectation? = nil) throws {
        OpenSSLErrorQueue.clear()
        let context = try TLSClientContext.shared()
        guard let ssl = context.makeSession() else { throw MailSecError.openSSL("cannot create a TLS session") }
        guard let bio = BIO_new(SocketBIO.method) else {
            SSL_free(ssl)
            throw MailSecError.openSSL("cannot create a TLS transport")
        }
        self.ssl = ssl
        self.socket = socket
        // The BIO points at the socket without retaining it; this object keeps
        // the socket alive for as long as the SSL (and so the BIO) exists.
        BIO_set_data(bio, Unmanaged.passUnretained(socket).toOpaque())
        SSL_set_bio(ssl, bio, bio)
        if let serverName, IPAddress.normalize(serverName) == nil {
            _ = mailsec_SSL_set_tlsext_host_name(ssl, serverName)
        }
        if let dane { try expect(dane) }
    }

    private func expect(_ dane: DANEExpectation) throws {
        guard SSL_dane_enable(ssl, dane.referenceNames.first) > 0 else { throw MailSecError.openSSL("cannot enable DANE on the TLS session") }
        // RFC 7672 section 3.1.1: a DANE-EE match stands for itself; names (and dates) do not apply.
        _ = SSL_dane_set_flags(ssl, UInt(DANE_FLAG_NO_DANE_EE_NAMECHECKS))
        for name in dane.referenceNames.dropFirst() { _ = SSL_add1_host(ssl, name) }
        for record in dane.records {
            // 0 means OpenSSL finds the record unusable, as a sender would: it is skipped.
            let added = record.data.withUnsafeBufferPointer {
                SSL_dane_tlsa_add(ssl, record.usage.rawValue, record.selector.rawValue, record.matchingType.rawValue, $0.baseAddress, $0.count)
            }
            if added < 0 { throw MailSecError.openSSL("cannot add the TLSA record \(record) to the TLS session") }
        }
        OpenSSLErrorQueue.clear()
    }

    /// After the handshake: whether a TLSA record matched, by OpenSSL's verifier.
    func daneOutcome() -> DANEOutcome {
        let depth = SSL_get0_dane_authority(ssl, nil, nil)
        if depth >= 0 {
            var usage: UInt8 = 0, selector: UInt8 = 0, matchingType: UInt8 = 0
            var data: UnsafePointer<UInt8>?
            var length = 0
            if SSL_get0_dane_tlsa(ssl, &usage, &selector, &matchingType, &data, &length) >= 0, let data,
               let record = TLSARecord(rdata: [usage, selector, matchingType] + Array(UnsafeBufferPointer(start: data, count: length))) {
                return DANEOutcome(matched: (record, Int(depth)))
            }
        }
        let result = SSL_get_verify_result(ssl)
        let reason = X509_verify_cert_error_string(result).map { String(cString: $0) } ?? "verification error \(result)"
        return DANEOutcome(failure: result == X509_V_OK ? "no TLSA record matched" : reason)
    }

    deinit {
        SSL_free(ssl)
    }

    /// Runs the handshake before `deadline`.
    func handshake(deadline: Deadline) throws -> TLSDetails {
        let started = ContinuousClock.now
        _ = try drive(deadline: deadline, what: "the TLS handshake", endOfStreamIsAnswer: false) { SSL_connect(ssl) }
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "unknown"
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "unknown"
        return TLSDetails(version: version, cipher: cipher, handshakeMilliseconds: (ContinuousClock.now - started).milliseconds)
    }

    /// The certificates the server sent, leaf first.
    func peerChain() -> [Certificate] {
        guard let chain = SSL_get_peer_cert_chain(ssl) else { return [] }
        return (0..<mailsec_sk_X509_num(chain)).compactMap { index in
            guard let certificate = mailsec_sk_X509_value(chain, index) else { return nil }
            X509_up_ref(certificate)
            return Certificate(taking: certificate)
        }
    }

    func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        OpenSSLErrorQueue.clear()
        let result = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if result > 0 { return Int(result) }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return nil }
        return try endOrFailure(error, what: "reading from \(peerName)", endOfStreamIsAnswer: true)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline) throws -> Int {
        try drive(deadline: deadline, what: "reading from \(peerName)", endOfStreamIsAnswer: true) {
            SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) throws {
        var offset = 0
        while offset < bytes.count {
            offset += try drive(deadline: deadline, what: "writing to \(peerName)", endOfStreamIsAnswer: false) {
                SSL_write(ssl, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, Int(Int32.max))))
            }
        }
    }

    /// Sends close_notify without waiting for the peer's: the polite end of a session.
    func shutdown() {
        SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    /// Repeats a non-blocking OpenSSL call until it succeeds, waiting on the
    /// socket as OpenSSL asks; returns its positive result, or 0 at the end of
    /// the stream when that is an answer (a read).
    private func drive(deadline: Deadline, what: String, endOfStreamIsAnswer: Bool, _ call: () -> Int32) throws -> Int {
        while true {
            OpenSSLErrorQueue.clear()
            let result = call()
            if result > 0 { return Int(result) }
            let error = SSL_get_error(ssl, result)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                do {
                    try socket.wait(for: error == SSL_ERROR_WANT_READ ? .readable : .writable, deadline: deadline)
                } catch let failure as MailSecError where failure.code == .timeout {
                    throw MailSecError(.timeout, "\(peerName) did not answer \(deadline.withinDescription) during \(what)")
                }
            default:
                return try endOrFailure(error, what: what, endOfStreamIsAnswer: endOfStreamIsAnswer)
            }
        }
    }

    /// Classifies a failed SSL call by OpenSSL's codes and the socket's errno:
    /// a closed connection, a TLS failure with OpenSSL's reasons, or I/O.
    private func endOrFailure(_ error: Int32, what: String, endOfStreamIsAnswer: Bool) throws -> Int {
        let entries = OpenSSLErrorQueue.drainEntries()
        let closed: Bool
        switch error {
        case SSL_ERROR_ZERO_RETURN:
            closed = true
        case SSL_ERROR_SYSCALL:
            // No errno: the peer closed the TCP connection without close_notify.
            closed = socket.lastError == nil || socket.lastError!.meansPeerClosed
            if !closed, let cause = socket.lastError {
                throw MailSecError(.io, "\(what): \(cause)", systemError: cause)
            }
        default:
            closed = entries.contains { $0.reasonCode == SSL_R_UNEXPECTED_EOF_WHILE_READING }
        }
        if closed {
            if endOfStreamIsAnswer { return 0 }
            throw MailSecError(.connectionClosed, "\(peerName) closed the connection during \(what)")
        }
        var reasons: [String] = []
        for entry in entries where !reasons.contains(entry.reason) { reasons.append(entry.reason) }
        throw MailSecError(.tls, "\(what) with \(peerName) failed" + (reasons.isEmpty ? "" : ": \(reasons.joined(separator: "; "))"))
    }
}

/// The BIO method that moves TLS records through a `Socket`. Created once
/// per process and never freed (OpenSSL keeps a pointer to it in every BIO).
private enum SocketBIO {
    nonisolated(unsafe) static let method: OpaquePointer = {
        let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mailsec socket")!
        BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        BIO_meth_set_destroy(method) { _ in 1 }
        BIO_meth_set_read(method) { bio, data, length in
            guard let bio, let data, length > 0 else { return 0 }
            mailsec_BIO_clear_retry_flags(bio)
            do {
                guard let count = try SocketBIO.socket(bio).readAvailable(into: UnsafeMutableRawBufferPointer(start: data, count: Int(length))) else {
                    mailsec_BIO_set_retry_read(bio)
                    return -1
                }
                return Int32(count)
            } catch {
                return -1   // the socket keeps the errno for the TLS layer's message
            }
        }
        BIO_meth_set_write(method) { bio, data, length in
            guard let bio, let data, length > 0 else { return 0 }
            mailsec_BIO_clear_retry_flags(bio)
            do {
                let written = try SocketBIO.socket(bio).writeAvailable(UnsafeRawBufferPointer(start: data, count: Int(length)))
                if written == 0 {
                    mailsec_BIO_set_retry_write(bio)
                    return -1
                }
                return Int32(written)
            } catch {
                return -1
            }
        }
        // SSL asks a BIO to flush after writing; ours buffers nothing. Every other control is unsupported.
        BIO_meth_set_ctrl(method) { _, command, _, _ in command == BIO_CTRL_FLUSH ? 1 : 0 }
        return method
    }()

    static func socket(_ bio: OpaquePointer) -> Socket {
        Unmanaged<Socket>.fromOpaque(BIO_get_data(bio)).takeUnretainedValue()
    }
}
