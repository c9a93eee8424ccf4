internal import COpenSSL

/// How a certificate covers a name a client connects to.
public enum HostMatch: Sendable, Equatable {
    /// A subjectAltName entry covers it.
    case subjectAltName
    /// Only the subject CN does, and the certificate has no DNS or IP names:
    /// legacy clients accept it, modern ones (RFC 6125/9525) do not.
    case commonNameOnly
    /// Nothing covers it.
    case none
}

extension Certificate {
    /// Matches a host name or IP address as RFC 6125/9525 say: case-insensitive,
    /// a trailing dot ignored, a wildcard only as the whole leftmost label and
    /// never across labels, IP addresses only against IP SANs.
    public func match(host: String) -> HostMatch {
        var name = host
        if name.hasSuffix(".") { name.removeLast() }
        defer { OpenSSLErrorQueue.clear() }
        return withUnsafePointer { pointer in
            if let address = IPAddress.normalize(name) {
                return X509_check_ip_asc(pointer, address, 0) == 1 ? .subjectAltName : .none
            }
            let strict = UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT)
            if X509_check_host(pointer, name, name.utf8.count, strict, nil) == 1 { return .subjectAltName }
            // OpenSSL consults the CN only when there are no DNS names at all.
            let legacy = UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
            if X509_check_host(pointer, name, name.utf8.count, legacy, nil) == 1 { return .commonNameOnly }
            return .none
        }
    }

    /// The digest of the signature algorithm (`SHA256`, `SHA1`, `MD5`), or nil
    /// for algorithms without a separate digest (Ed25519).
    public var signatureDigest: String? {
        var digest: Int32 = 0
        var publicKey: Int32 = 0
        guard OBJ_find_sigid_algs(withUnsafePointer(X509_get_signature_nid), &digest, &publicKey) == 1,
              digest != NID_undef, let name = OBJ_nid2sn(digest) else { return nil }
        return String(cString: name).uppercased()
    }
}
