#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import COpenSSL
import Glibc

/// What the TLS handshake settled on.
public struct TLSDetails: Sendable {
    /// `TLSv1.3`, `TLSv1.2`, ...
    public var version: String
    public var cipher: String
    public var handshakeMilliseconds: Double
}

/// OpenSSL's TLS client on an already connected socket, owning SSL_CTX and SSL.
/// Certificates are not verified here: the probe runs the same checks as
/// `mailsec verify` on what the server sent, and reports each one.
final class TLSSession {
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private let descriptor: Int32
    let peerName: String

    init(descriptor: Int32, serverName: String?, peerName: String) throws {
        OpenSSLErrorQueue.clear()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw MailSecError.openSSL("cannot create a TLS context") }
        self.context = context
        // A probe must see old servers to report them: accept TLS 1.0 and up at any
        // security level, and warn about what is weak instead of failing blind.
        _ = mailsec_SSL_CTX_set_min_proto_version(context, TLS1_VERSION)
        SSL_CTX_set_security_level(context, 0)
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            throw MailSecError.openSSL("cannot create a TLS session")
        }
        self.ssl = ssl
        self.descriptor = descriptor
        self.peerName = peerName
        SSL_set_fd(ssl, descriptor)
        if let serverName, IPAddress.normalize(serverName) == nil {
            _ = mailsec_SSL_set_tlsext_host_name(ssl, serverName)
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    /// Runs the handshake before `deadline`.
    func handshake(deadline: Date) throws -> TLSDetails {
        let started = Monotonic.milliseconds()
        try drive(deadline: deadline, what: "the TLS handshake") { SSL_connect(ssl) }
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "unknown"
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "unknown"
        return TLSDetails(version: version, cipher: cipher, handshakeMilliseconds: Monotonic.milliseconds() - started)
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

    /// Reads what is available (at most `capacity` bytes), waiting until `deadline`; empty at end of stream.
    func read(capacity: Int, deadline: Date) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: capacity)
        var count = 0
        try drive(deadline: deadline, what: "reading from \(peerName)", endOfStreamIsOK: true) {
            let result = SSL_read(ssl, &buffer, Int32(capacity))
            if result > 0 { count = Int(result) }
            return result
        }
        return Array(buffer.prefix(count))
    }

    func write(_ bytes: UnsafeRawBufferPointer, deadline: Date) throws {
        var offset = 0
        while offset < bytes.count {
            var written = 0
            try drive(deadline: deadline, what: "writing to \(peerName)") {
                let result = SSL_write(ssl, bytes.baseAddress! + offset, Int32(bytes.count - offset))
                if result > 0 { written = Int(result) }
                return result
            }
            offset += written
        }
    }

    /// True when decrypted bytes are waiting inside OpenSSL (poll cannot see them).
    var hasPendingData: Bool { SSL_pending(ssl) > 0 }

    func shutdown() {
        SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    /// Repeats a non-blocking OpenSSL call until it succeeds, waiting on the
    /// socket as OpenSSL asks, and turns failures into errors that say why.
    private func drive(deadline: Date, what: String, endOfStreamIsOK: Bool = false, _ call: () -> Int32) throws {
        while true {
            OpenSSLErrorQueue.clear()
            let result = call()
            if result > 0 { return }
            let error = SSL_get_error(ssl, result)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                let remaining = deadline.timeIntervalSinceNow
                guard remaining > 0 else { throw MailSecError(.io, "timed out during \(what)") }
                var poller = pollfd(fd: descriptor, events: Int16(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), revents: 0)
                _ = Glibc.poll(&poller, 1, Int32(min(remaining * 1000, 3_600_000).rounded(.up)))
            case SSL_ERROR_ZERO_RETURN where endOfStreamIsOK:
                return
            case SSL_ERROR_SYSCALL where endOfStreamIsOK && OpenSSLErrorQueue.drain().isEmpty:
                return
            case SSL_ERROR_SYSCALL:
                let reasons = OpenSSLErrorQueue.drain()
                throw MailSecError(.io, "\(peerName) closed the connection during \(what)" + (reasons.isEmpty ? "" : ": \(reasons.joined(separator: "; "))"))
            default:
                let reasons = OpenSSLErrorQueue.drain()
                if reasons.contains(where: { $0.contains("unexpected eof") }) {
                    throw MailSecError(.io, "\(peerName) closed the connection during \(what)")
                }
                throw MailSecError(.openSSL, "\(what) with \(peerName) failed: \(reasons.joined(separator: "; "))")
            }
        }
    }
}
