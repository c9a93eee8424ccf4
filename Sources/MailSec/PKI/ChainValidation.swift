#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
internal import COpenSSL

/// A certificate revocation list, owning its OpenSSL X509_CRL.
public final class CertificateRevocationList: @unchecked Sendable {
    private let pointer: OpaquePointer

    /// The X509_CRL, for the duration of `body`: the rest of MailSec borrows it
    /// for an OpenSSL call and never keeps it, so it cannot outlive this owner.
    func withUnsafePointer<Result>(_ body: (OpaquePointer) throws -> Result) rethrows -> Result {
        try body(pointer)
    }
    /// Where the CRL was read from, for messages.
    public let source: String

    init(taking pointer: OpaquePointer, source: String) {
        self.pointer = pointer
        self.source = source
    }

    deinit {
        X509_CRL_free(pointer)
    }

    /// Every CRL in a PEM file (`X509 CRL` blocks), or the one in a DER file.
    public static func all(in bytes: [UInt8], source: String) throws -> [CertificateRevocationList] {
        try bytes.withUnsafeBytes { buffer in
            let blocks = try PEMDocument.blocks(in: buffer, source: source)
            let ders = blocks.isEmpty ? [bytes] : try blocks.filter { $0.label == "X509 CRL" }.map { try PEMDocument.decodeBody(of: $0, in: buffer, source: source) }
            guard !ders.isEmpty else { throw MailSecError(.invalidInput, "\(source) holds no CRL (-----BEGIN X509 CRL-----)") }
            return try ders.map { der in
                OpenSSLErrorQueue.clear()
                let decoded: OpaquePointer? = der.withUnsafeBufferPointer { raw in
                    var cursor = raw.baseAddress
                    return d2i_X509_CRL(nil, &cursor, raw.count)
                }
                guard let decoded else { throw MailSecError.openSSL("\(source) is not a certificate revocation list") }
                return CertificateRevocationList(taking: decoded, source: source)
            }
        }
    }

    /// The CA that issued the CRL.
    public var issuer: DistinguishedName { DistinguishedName(openSSL: X509_CRL_get_issuer(pointer)) }
}

/// How to validate a chain: as of when, with which CRLs, how deep.
public struct ChainValidationOptions: Sendable {
    /// The time to validate at; compared to the second, notAfter inclusive.
    public var time = Date()
    /// CRLs to check the whole path against; empty: revocation is not checked.
    public var crls: [CertificateRevocationList] = []
    /// The most certificates between the leaf and the anchor (OpenSSL's default: 100).
    public var maximumDepth: Int?

    /// Now, no CRLs, OpenSSL's depth limit.
    public init() {}
}

/// One certificate of the path that was built, leaf first.
public struct PathCertificate: Sendable, Codable, Equatable {
    /// The certificate's subject.
    public var subject: String
    /// Its issuer.
    public var issuer: String
    /// Start of validity, `2026-12-07T22:46:45Z`.
    public var notBefore: String
    /// End of validity (inclusive).
    public var notAfter: String
    /// Its key, as `RSA 2048` or `EC P-256`.
    public var key: String
    /// True for the trust anchor the path ends at.
    public var anchor: Bool

    enum CodingKeys: String, CodingKey { case subject, issuer, notBefore = "not_before", notAfter = "not_after", key, anchor }
}

/// A rule a certificate on the path breaks, in OpenSSL's words and ours.
public struct PathProblem: Sendable, Equatable {
    /// What kind of rule is broken: what `verify` reports it as, and how.
    public enum Kind: Sendable, Equatable {
        /// The issuer is in no file and not trusted.
        case issuerMissing
        /// A certificate that names the issuer is there, but cannot be the issuer (why in `rule`).
        case issuerRefused
        /// The certificate is its own issuer and not trusted.
        case selfSignedLeaf
        /// The path ends at a root that is not trusted.
        case untrustedRoot
        /// A certificate of the path is past its notAfter.
        case expired
        /// A certificate of the path is before its notBefore.
        case notYetValid
        /// A certificate of the path is on its issuer's CRL.
        case revoked
        /// No CRL for the certificate's issuer (a warning: it was not checked).
        case noCRL
        /// A CRL was given but cannot be used (bad signature, expired, no issuer).
        case crlUnusable
        /// Any other rule: strict-mode RFC 5280 rules, key sizes, EKU, name constraints, ours on top.
        case other
    }

    /// What kind of rule is broken.
    public var kind: Kind
    /// 0 for the leaf, 1 for its issuer, ...
    public var depth: Int
    /// The subject of the certificate at fault.
    public var subject: String
    /// OpenSSL's X509_V_ERR_* code, 0 for a rule of our own.
    public var code: Int32
    /// OpenSSL's reason, or ours.
    public var reason: String
    /// The rule in plain language.
    public var rule: String
    /// The fix.
    public var remedy: String

    /// The leaf's own faults that verify reports under their own check
    /// (validity, key-strength, key-usage, signature-algorithm), so one fault is one finding.
    public var reportedByLeafCheck: Bool {
        depth == 0 && (kind == .expired || kind == .notYetValid
            || [X509_V_ERR_EE_KEY_TOO_SMALL, X509_V_ERR_INVALID_PURPOSE, X509_V_ERR_CA_MD_TOO_WEAK].contains(code))
    }
}

/// The path built from the leaf to an anchor, and what is wrong with it.
public struct ChainValidation: Sendable {
    /// The certificates from the leaf to the anchor (as far as a path could be built).
    public var path: [PathCertificate]
    /// Every rule broken along the path; empty when it verifies.
    public var problems: [PathProblem]
    /// Whether CRLs were consulted.
    public var checkedRevocation: Bool

    /// True when nothing but missing CRLs is wrong.
    public var verified: Bool { problems.allSatisfy { $0.kind == .noCRL } }
}

extension Certificate {
    /// Builds and validates a path from this certificate to a trust anchor, as
    /// clients do: `pool` is a set of untrusted certificates in any order (the
    /// rest of the server's file, --chain), anchors come from `store` and may
    /// be intermediates or this very certificate (a partial chain). OpenSSL's
    /// verifier runs in strict mode (RFC 5280 rules it does not apply by
    /// default), for the TLS server purpose (extendedKeyUsage through the
    /// chain) at security level 2 (key sizes through the chain). Every problem
    /// is collected, not just the first; validity is judged here for every
    /// certificate of the path, to the second and with notAfter inclusive
    /// (RFC 5280 4.1.2.5; OpenSSL counts the notAfter second as expired), and
    /// the rules OpenSSL 3.0 does not check are checked on top.
    public func validateChain(pool: [Certificate], store: TrustStore, options: ChainValidationOptions) throws -> ChainValidation {
        OpenSSLErrorQueue.clear()
        guard let untrusted = mailsec_sk_X509_new_null() else { throw MailSecError.openSSL("cannot allocate a certificate list") }
        defer { mailsec_sk_X509_free_all(untrusted) }
        for certificate in pool where certificate !== self {
            certificate.withUnsafePointer { _ = mailsec_sk_X509_push_reference(untrusted, $0) }
        }
        guard let context = X509_STORE_CTX_new() else { throw MailSecError.openSSL("cannot allocate a verification context") }
        defer { X509_STORE_CTX_free(context) }
        // set0_crls keeps the list without taking it: it is freed after the run.
        var crls: OpaquePointer?
        defer { if let crls { mailsec_sk_X509_CRL_free_all(crls) } }
        // The context borrows the store and this certificate: both are used only inside these closures.
        return try store.withUnsafePointer { storePointer in
            try withUnsafePointer { leaf in
                guard X509_STORE_CTX_init(context, storePointer, leaf, untrusted) == 1 else {
                    throw MailSecError.openSSL("cannot set up chain verification")
                }
                let parameters = X509_STORE_CTX_get0_param(context)
                var flags = UInt(X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN)
                if !options.crls.isEmpty {
                    flags |= UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL)
                    guard let list = mailsec_sk_X509_CRL_new_null() else { throw MailSecError.openSSL("cannot allocate a CRL list") }
                    crls = list
                    for crl in options.crls { crl.withUnsafePointer { _ = mailsec_sk_X509_CRL_push_reference(list, $0) } }
                    X509_STORE_CTX_set0_crls(context, list)
                }
                return try run(context, parameters: parameters, flags: flags, untrusted: pool, store: store, options: options)
            }
        }
    }

    private func run(_ context: OpaquePointer, parameters: OpaquePointer?, flags: UInt, untrusted pool: [Certificate], store: TrustStore,
                     options: ChainValidationOptions) throws -> ChainValidation {
        X509_VERIFY_PARAM_set_flags(parameters, flags)
        X509_VERIFY_PARAM_set_time(parameters, time_t(options.time.timeIntervalSince1970.rounded(.down)))
        X509_VERIFY_PARAM_set_auth_level(parameters, 2)
        if let depth = options.maximumDepth { X509_VERIFY_PARAM_set_depth(parameters, Int32(depth)) }
        _ = X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER)
        let collector = VerifyErrors()
        X509_STORE_CTX_set_ex_data(context, 0, Unmanaged.passUnretained(collector).toOpaque())
        X509_STORE_CTX_set_verify_cb(context) { ok, context in
            guard ok == 0, let context, let data = X509_STORE_CTX_get_ex_data(context, 0) else { return ok }
            let errors = Unmanaged<VerifyErrors>.fromOpaque(data).takeUnretainedValue()
            let code = X509_STORE_CTX_get_error(context)
            let depth = Int(X509_STORE_CTX_get_error_depth(context))
            let subject = X509_STORE_CTX_get_current_cert(context).map { DistinguishedName(openSSL: X509_get_subject_name($0)).description } ?? "?"
            errors.entries.append((code, depth, subject))
            // Go on: every problem of the path is wanted, not just the first.
            return 1
        }
        _ = X509_verify_cert(context)
        var built: [Certificate] = []
        if let chain = X509_STORE_CTX_get0_chain(context) {
            for index in 0..<mailsec_sk_X509_num(chain) {
                guard let certificate = mailsec_sk_X509_value(chain, index) else { continue }
                X509_up_ref(certificate)
                built.append(Certificate(taking: certificate))
            }
        }
        OpenSSLErrorQueue.clear()
        if built.isEmpty { built = [self] }
        let anchored = store.contains(built.last!)
        var problems: [PathProblem] = []
        for (code, depth, subject) in collector.entries {
            // Time is judged below, to the second and notAfter inclusive.
            if code == X509_V_ERR_CERT_HAS_EXPIRED || code == X509_V_ERR_CERT_NOT_YET_VALID { continue }
            let problem = Self.problem(code: code, depth: depth, subject: subject, path: built, pool: pool, store: store)
            if !problems.contains(problem) { problems.append(problem) }
        }
        problems += Self.validity(built, at: options.time)
        problems += Self.strictRules(built)
        let path = built.enumerated().map { index, certificate in
            PathCertificate(subject: certificate.subject.description, issuer: certificate.issuer.description,
                            notBefore: UTCTime.iso8601(certificate.notBefore), notAfter: UTCTime.iso8601(certificate.notAfter),
                            key: certificate.publicKeyDescription.description, anchor: index == built.count - 1 && anchored)
        }
        return ChainValidation(path: path, problems: problems, checkedRevocation: !options.crls.isEmpty)
    }

    /// Every certificate of the path must be valid at `time`: notBefore ≤ t ≤ notAfter, to the second.
    static func validity(_ path: [Certificate], at time: Date) -> [PathProblem] {
        let now = time.timeIntervalSince1970.rounded(.down)
        var problems: [PathProblem] = []
        for (depth, certificate) in path.enumerated() {
            let role = depth == 0 ? "the certificate" : (depth == path.count - 1 ? "the root" : "the intermediate")
            let subject = certificate.subject.description
            if now > certificate.notAfter.timeIntervalSince1970 {
                problems.append(PathProblem(kind: .expired, depth: depth, subject: subject, code: X509_V_ERR_CERT_HAS_EXPIRED, reason: "certificate has expired",
                                            rule: "\(role) \(subject) expired on \(UTCTime.human(certificate.notAfter))",
                                            remedy: depth == 0 ? "renew the certificate" : "get the current \(depth == path.count - 1 ? "root" : "intermediate") from the CA and put it in the chain file (an expired intermediate is a common leftover)"))
            } else if now < certificate.notBefore.timeIntervalSince1970 {
                problems.append(PathProblem(kind: .notYetValid, depth: depth, subject: subject, code: X509_V_ERR_CERT_NOT_YET_VALID, reason: "certificate is not yet valid",
                                            rule: "\(role) \(subject) is not valid before \(UTCTime.human(certificate.notBefore))",
                                            remedy: "check the clock (timedatectl) here and where the certificate was made, or wait"))
            }
        }
        return problems
    }

    /// What RFC 5280 and the CA/Browser Forum's baseline requirements demand
    /// and OpenSSL 3.0 does not check, even in strict mode. (An
    /// authorityKeyIdentifier without keyIdentifier it does catch, as missing.)
    static func strictRules(_ path: [Certificate]) -> [PathProblem] {
        var problems: [PathProblem] = []
        func add(_ depth: Int, _ reason: String, _ rule: String, _ remedy: String) {
            problems.append(PathProblem(kind: .other, depth: depth, subject: path[depth].subject.description, code: 0, reason: reason, rule: rule, remedy: remedy))
        }
        let reissue = "the CA must reissue it; a client that checks this rule refuses the chain"
        for (depth, certificate) in path.enumerated() {
            if let serial = certificate.serialSign, serial <= 0 {
                add(depth, "serial number is \(serial == 0 ? "zero" : "negative")", "RFC 5280 4.1.2.2: a serial number must be a positive integer", reissue)
            }
            if certificate.hasNonCriticalPolicyConstraints {
                add(depth, "policyConstraints is not critical", "RFC 5280 4.2.1.11: conforming CAs must mark policyConstraints critical", reissue)
            }
        }
        let leaf = path[0]
        if leaf.basicConstraints?.isCA != true, leaf.hasNameConstraints {
            add(0, "nameConstraints in an end-entity certificate", "RFC 5280 4.2.1.10: nameConstraints may appear only in CA certificates", reissue)
        }
        let dnsNames = leaf.subjectAlternativeNames.compactMap { name -> String? in
            if case .dns(let dns) = name { return dns }
            return nil
        }
        for name in dnsNames where name.contains("_") {
            add(0, "underscore in DNS name \(name)", "baseline requirements 7.1.4.2.1: a DNS name in subjectAltName must not contain '_' (a host name has none)", "issue a certificate for the host's real name")
        }
        // Name constraints of every CA above, for DNS names, wildcards included. A
        // malformed name cannot be shown to lie inside them, so under constraints it fails.
        for depth in path.indices.dropFirst() {
            guard let constraints = path[depth].dnsNameConstraints else { continue }
            for name in dnsNames {
                let violation = NameConstraintCheck.isWellFormed(name)
                    ? NameConstraintCheck.violation(of: name, permitted: constraints.permitted, excluded: constraints.excluded)
                    : "is malformed, so it cannot be judged against the name constraints"
                if let violation {
                    problems.append(PathProblem(kind: .other, depth: 0, subject: leaf.subject.description, code: 0, reason: "name constraints violation",
                                                rule: "\(TextSanitizer.quoted(name)) \(violation) of \(path[depth].subject) (RFC 5280 4.2.1.10)",
                                                remedy: "the CA may not issue for this name: get the certificate from a CA allowed to"))
                }
            }
        }
        return problems
    }

    /// Explains one of OpenSSL's verify errors, naming the certificate at fault.
    static func problem(code: Int32, depth: Int, subject: String, path: [Certificate], pool: [Certificate], store: TrustStore) -> PathProblem {
        let reason = String(cString: X509_verify_cert_error_string(Int(code)))
        func make(_ kind: PathProblem.Kind, _ rule: String, _ remedy: String) -> PathProblem {
            PathProblem(kind: kind, depth: depth, subject: subject, code: code, reason: reason, rule: rule, remedy: remedy)
        }
        let certificate = depth < path.count ? path[depth] : path.last!
        let appendIntermediate = "append the intermediate certificate after the leaf: cat leaf.crt intermediate.crt > fullchain.crt, and use that file as smtpd_tls_cert_file / ssl_cert; for a private CA pass it with \(Vocabulary.name(.trustedCAFile))"
        switch code {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
            // A certificate that names the issuer may be there and be refused: say why, not "missing".
            let candidates = (pool + path).filter { $0 !== certificate && $0.subject == certificate.issuer }
            // The issuer already on the path: the certificates issued each other, round in a loop.
            if let looped = candidates.first(where: { candidate in path.contains { $0 === candidate } }) {
                return make(.issuerMissing, "the chain loops: \(subject) and \(looped.subject) issued each other, and nothing on the loop is trusted by \(store.description)",
                            "find the root this chain should end at and trust it (\(Vocabulary.name(.trustedCAFile)) for a private CA), or get the CA's current chain")
            }
            if let candidate = candidates.first {
                return make(.issuerRefused, "the issuer \(candidate.subject) is there, but cannot have issued \(subject): \(candidate.refusalReason(asIssuerOf: certificate))",
                            "use the right issuer certificate (the CA's current intermediate); the one given does not belong to this certificate")
            }
            return make(.issuerMissing, "incomplete chain: the issuer of \(subject) (\(certificate.issuer)) is neither in the files given nor trusted by \(store.description)", appendIntermediate)
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            return make(.selfSignedLeaf, "\(subject) is self-signed and not trusted", "get it signed by a CA, or install it as trusted on the clients; to check against it here, pass it with \(Vocabulary.name(.trustedCAFile))")
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return make(.untrustedRoot, "the chain ends at \(subject), which \(store.description) does not trust",
                        "if this is your own CA, pass it with \(Vocabulary.name(.trustedCAFile)); otherwise use a certificate from a publicly trusted CA")
        case X509_V_ERR_CERT_REVOKED:
            return make(.revoked, "\(subject) has been revoked by its issuer", "replace it: a revoked certificate is refused by every client that checks")
        case X509_V_ERR_UNABLE_TO_GET_CRL:
            return make(.noCRL, "no CRL from the issuer of \(subject) was given, so it was not checked for revocation", "add the issuer's CRL with \(Vocabulary.name(.crlFiles))")
        case X509_V_ERR_CRL_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, X509_V_ERR_CRL_HAS_EXPIRED, X509_V_ERR_CRL_NOT_YET_VALID:
            return make(.crlUnusable, "the CRL for \(subject) cannot be used: \(reason)", "fetch the issuer's current CRL (its CRL Distribution Point) and pass that with \(Vocabulary.name(.crlFiles))")
        case X509_V_ERR_INVALID_PURPOSE:
            // OpenSSL says "unsuitable purpose" for a restrictive EKU and for a non-CA used as one.
            if let usages = certificate.extendedKeyUsage, !usages.contains("serverAuth"), !usages.contains("anyExtendedKeyUsage") {
                return make(.other, "\(subject) may not be used for a TLS server: its extendedKeyUsage (\(usages.joined(separator: ", "))) excludes serverAuth\(depth > 0 ? ", and an intermediate's EKU limits everything below it" : "")",
                            depth == 0 ? "issue a server certificate (extendedKeyUsage serverAuth)" : "use an intermediate meant for TLS servers; ask the CA")
            }
            if depth > 0, certificate.basicConstraints?.isCA != true {
                return make(.other, "\(subject) is not a CA, so it cannot vouch for a TLS server certificate", "the chain must go through the CA's real intermediate")
            }
            return make(.other, "\(subject) is not suitable for a TLS server (\(reason))", "use a certificate issued for TLS servers")
        case X509_V_ERR_INVALID_CA:
            return make(.other, "\(subject) is used as a CA but is not one (basicConstraints CA:TRUE missing)", "the chain must go through real CA certificates; check which intermediate the CA gave")
        case X509_V_ERR_EE_KEY_TOO_SMALL, X509_V_ERR_CA_KEY_TOO_SMALL:
            return make(.other, "\(subject) has a key too weak for clients (\(certificate.publicKeyDescription); at least RSA 2048 or EC P-256 through the whole chain)",
                        depth == 0 ? "make a new key (RSA 2048 or more, or EC)" + Vocabulary.with(.replaceKey(host: "HOSTNAME", choosingKey: true)) { ": \($0)" } : "the CA's certificate is too weak: use one of its current chains")
        case X509_V_ERR_PERMITTED_VIOLATION, X509_V_ERR_EXCLUDED_VIOLATION:
            return make(.other, "\(subject): a name outside what the CA may issue for (\(reason))", "get the certificate from a CA allowed to issue for these names")
        case X509_V_ERR_CERT_CHAIN_TOO_LONG:
            return make(.other, "the chain is longer than allowed (\(Vocabulary.name(.maximumDepth)), or a CA's path length)", "use a shorter chain from the CA")
        case X509_V_ERR_CERT_SIGNATURE_FAILURE:
            return make(.other, "the signature on \(subject) does not verify", "the certificate is damaged or was not issued by the certificate it names; get a fresh copy")
        default:
            return make(.other, "\(subject): \(reason) (RFC 5280 strict checking, as clients apply it)", "the CA must reissue the certificate; check it with: openssl verify -x509_strict -purpose sslserver")
        }
    }
}

/// Collects the verify callback's errors (C calls it; Swift reads them after).
private final class VerifyErrors {
    var entries: [(code: Int32, depth: Int, subject: String)] = []
}

extension Certificate {
    /// Why this certificate cannot be the issuer of `child`, in plain words.
    func refusalReason(asIssuerOf child: Certificate) -> String {
        withUnsafePointer { pointer in child.withUnsafePointer { childPointer in refusalReason(pointer, asIssuerOf: childPointer) } }
    }

    private func refusalReason(_ pointer: OpaquePointer, asIssuerOf child: OpaquePointer) -> String {
        let checked = X509_check_issued(pointer, child)
        switch checked {
        case X509_V_ERR_AKID_SKID_MISMATCH: return "its key identifier is not the one the certificate names (authorityKeyIdentifier): another key of the same CA"
        case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH: return "its issuer and serial are not the ones the certificate's authorityKeyIdentifier names"
        case X509_V_ERR_KEYUSAGE_NO_CERTSIGN: return "its keyUsage lacks keyCertSign, so it may not sign certificates"
        case X509_V_OK: break
        default: return String(cString: X509_verify_cert_error_string(Int(checked)))
        }
        if basicConstraints?.isCA != true { return "it is not a CA (basicConstraints CA:TRUE is missing)" }
        guard let key = X509_get0_pubkey(pointer) else { return "its public key cannot be decoded" }
        let signed = X509_verify(child, key) == 1
        OpenSSLErrorQueue.clear()
        return signed ? "OpenSSL refuses it as issuer (see the other problems)" : "its key did not sign the certificate (the signature does not verify)"
    }

    /// The sign of the serial number: -1, 0 or 1.
    var serialSign: Int? {
        withUnsafePointer { pointer in
            guard let bignum = ASN1_INTEGER_to_BN(X509_get0_serialNumber(pointer), nil) else { return nil }
            defer { BN_free(bignum) }
            if BN_is_zero(bignum) == 1 { return 0 }
            return BN_is_negative(bignum) == 1 ? -1 : 1
        }
    }

    var hasNonCriticalPolicyConstraints: Bool {
        withUnsafePointer { pointer in
            let index = X509_get_ext_by_NID(pointer, NID_policy_constraints, -1)
            guard index >= 0, let extensionValue = X509_get_ext(pointer, index) else { return false }
            return X509_EXTENSION_get_critical(extensionValue) == 0
        }
    }

    var hasNameConstraints: Bool { withUnsafePointer { X509_get_ext_by_NID($0, NID_name_constraints, -1) >= 0 } }

    /// The dNSName subtrees of nameConstraints, when there are any.
    var dnsNameConstraints: (permitted: [String], excluded: [String])? {
        guard let raw = withUnsafePointer({ X509_get_ext_d2i($0, NID_name_constraints, nil, nil) }) else { return nil }
        let constraints = raw.assumingMemoryBound(to: NAME_CONSTRAINTS.self)
        defer { NAME_CONSTRAINTS_free(constraints) }
        func names(_ subtrees: OpaquePointer?) -> [String] {
            guard let subtrees else { return [] }
            return (0..<mailsec_sk_GENERAL_SUBTREE_num(subtrees)).compactMap { index in
                guard let subtree = mailsec_sk_GENERAL_SUBTREE_value(subtrees, index), let base = subtree.pointee.base,
                      base.pointee.type == GEN_DNS else { return nil }
                return String(decoding: ASN1String.bytes(base.pointee.d.dNSName), as: UTF8.self).lowercased()
            }
        }
        let permitted = names(constraints.pointee.permittedSubtrees), excluded = names(constraints.pointee.excludedSubtrees)
        return permitted.isEmpty && excluded.isEmpty ? nil : (permitted, excluded)
    }
}

extension TrustStore {
    /// Whether `certificate` is one of the anchors loaded (X509_cmp compares their digests).
    func contains(_ certificate: Certificate) -> Bool {
        withUnsafePointer { store in
            certificate.withUnsafePointer { wanted in
                guard let objects = X509_STORE_get0_objects(store) else { return false }
                for index in 0..<mailsec_sk_X509_OBJECT_num(objects) {
                    guard let object = mailsec_sk_X509_OBJECT_value(objects, index), let candidate = X509_OBJECT_get0_X509(object) else { continue }
                    if X509_cmp(candidate, wanted) == 0 { return true }
                }
                return false
            }
        }
    }
}

/// RFC 5280 4.2.1.10 for dNSName constraints, applied to wildcards too: a
/// subtree `example.com` holds example.com and every name under it; `*.B`
/// stands for every one-label name under B.
enum NameConstraintCheck {
    static func isWellFormed(_ name: String) -> Bool {
        let labels = name.lowercased().split(separator: ".", omittingEmptySubsequences: false)
        guard !labels.isEmpty, name.utf8.count <= 253 else { return false }
        for (index, label) in labels.enumerated() {
            if label == "*" && index == 0 && labels.count >= 3 { continue }
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-",
                  label.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }) else { return false }
        }
        return true
    }

    /// Whether `name` lies within the subtree `base` (leading dot: below it only).
    static func within(_ name: String, _ base: String) -> Bool {
        if base.hasPrefix(".") { return name.hasSuffix(base) }
        return name == base || name.hasSuffix("." + base)
    }

    /// Why `name` breaks the constraints, or nil when it does not. A
    /// wildcard `*.B` is judged by all its expansions: `*.B` lies within a
    /// subtree exactly when every `L.B` does (`*` is no label of a real name),
    /// and an excluded subtree catches it also when that subtree is a single
    /// name one label under B.
    static func violation(of name: String, permitted: [String], excluded: [String]) -> String? {
        let name = name.lowercased()
        if !permitted.isEmpty, !permitted.contains(where: { within(name, $0) }) {
            return name.hasPrefix("*.") ? "covers names outside the permitted subtrees (\(permitted.joined(separator: ", ")))"
                                        : "is outside the permitted subtrees (\(permitted.joined(separator: ", ")))"
        }
        for subtree in excluded {
            if within(name, subtree) { return "is in the excluded subtree \(subtree)" }
            if name.hasPrefix("*.") {
                let base = name.dropFirst(2)
                if !subtree.hasPrefix("."), subtree.hasSuffix("." + base), !subtree.dropLast(base.count + 1).contains(".") {
                    return "covers \(subtree), an excluded subtree"
                }
            }
        }
        return nil
    }
}
