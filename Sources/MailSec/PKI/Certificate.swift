#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
internal import COpenSSL
import Glibc

/// An X.509 certificate, owning its OpenSSL X509.
public final class Certificate: @unchecked Sendable {
    private let pointer: OpaquePointer

    /// The X509, for the duration of `body`: the rest of MailSec borrows it
    /// for an OpenSSL call and never keeps it, so it cannot outlive this owner.
    func withUnsafePointer<Result>(_ body: (OpaquePointer) throws -> Result) rethrows -> Result {
        try body(pointer)
    }

    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        X509_free(pointer)
    }

    /// Decodes one DER certificate. Bytes after it are an error: they mean a
    /// damaged or wrongly joined file, which a server may load differently.
    public convenience init(der: [UInt8], source: String = "certificate") throws {
        OpenSSLErrorQueue.clear()
        var consumed = 0
        let decoded: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            let result = d2i_X509(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return result
        }
        guard let decoded else {
            throw MailSecError.openSSL("\(source) is not a DER X.509 certificate")
        }
        self.init(taking: decoded)
        if consumed < der.count {
            throw MailSecError(.invalidInput, "\(source): \(der.count - consumed) bytes follow the DER certificate (\(consumed) bytes); the file is damaged or two files were joined",
                               remedy: "get a clean copy of the certificate (PEM files may hold several certificates; DER files hold one)")
        }
    }

    /// Every certificate in a PEM file (leaf first, as written) or the one in a DER file.
    /// Other PEM blocks (keys, CSRs) are skipped.
    public static func all(in bytes: [UInt8], source: String) throws -> [Certificate] {
        try bytes.withUnsafeBytes { buffer in
            let blocks = try PEMDocument.blocks(in: buffer, source: source)
            if blocks.isEmpty {
                guard !bytes.isEmpty else { throw MailSecError(.invalidInput, "\(source) is empty") }
                return [try Certificate(der: bytes, source: source)]
            }
            return try blocks.filter { $0.label == "CERTIFICATE" || $0.label == "X509 CERTIFICATE" || $0.label == "TRUSTED CERTIFICATE" }.map { block in
                try Certificate(der: PEMDocument.decodeBody(of: block, in: buffer, source: source),
                                source: "\(source) (block at line \(block.line))")
            }
        }
    }

    // MARK: Names

    /// The subject's distinguished name.
    public var subject: DistinguishedName { DistinguishedName(openSSL: X509_get_subject_name(pointer)) }
    /// The issuer's distinguished name.
    public var issuer: DistinguishedName { DistinguishedName(openSSL: X509_get_issuer_name(pointer)) }

    /// The subjectAltName entries: DNS names, IP addresses, anything else by its kind.
    public var subjectAlternativeNames: [SubjectAlternativeName] {
        guard let names = X509_get_ext_d2i(pointer, NID_subject_alt_name, nil, nil) else { return [] }
        let list = OpaquePointer(names)
        defer { GENERAL_NAMES_free(list) }
        return SubjectAlternativeName.list(from: list)
    }

    // MARK: Validity

    /// The start of validity.
    public var notBefore: Date { Date(asn1: X509_get0_notBefore(pointer)) }
    /// The end of validity (valid through this second).
    public var notAfter: Date { Date(asn1: X509_get0_notAfter(pointer)) }

    // MARK: Key and signature

    /// The public key's algorithm and size, or why OpenSSL cannot decode it.
    public var publicKeyDescription: KeyDescription {
        KeyDescription(decoded: X509_get0_pubkey(pointer), info: X509_get_X509_PUBKEY(pointer))
    }

    /// DER SubjectPublicKeyInfo, as stored in the certificate. Re-encoding the
    /// decoded key would go through OpenSSL 3's encoder look-up, which costs
    /// more than everything else `inspect` does with a certificate.
    public func subjectPublicKeyInfo() throws -> [UInt8] {
        try DER.encode("the certificate's public key") { i2d_X509_PUBKEY(X509_get_X509_PUBKEY(pointer), &$0) }
    }

    /// SHA-256 of the SubjectPublicKeyInfo: the TLSA `3 1 1` association data.
    public func spkiSHA256() throws -> [UInt8] {
        Digest.sha256(try subjectPublicKeyInfo())
    }

    /// `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `ED25519`, ...
    public var signatureAlgorithm: String {
        let nid = X509_get_signature_nid(pointer)
        return OBJ_nid2ln(nid).map { String(cString: $0) } ?? "unknown"
    }

    /// Serial number in uppercase hex, as `openssl x509 -serial` prints it.
    public var serialNumber: String {
        guard let bignum = ASN1_INTEGER_to_BN(X509_get0_serialNumber(pointer), nil) else { return "" }
        defer { BN_free(bignum) }
        guard let hex = BN_bn2hex(bignum) else { return "" }
        defer { mailsec_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    // MARK: Extensions

    /// The keyUsage extension's bits; nil when the extension is absent (any use allowed).
    public var keyUsage: KeyUsage? {
        guard X509_get_extension_flags(pointer) & UInt32(EXFLAG_KUSAGE) != 0 else { return nil }
        return KeyUsage(rawValue: X509_get_key_usage(pointer))
    }

    /// extendedKeyUsage purposes (`serverAuth`, `clientAuth`, or dotted OIDs); nil when absent.
    public var extendedKeyUsage: [String]? {
        guard let raw = X509_get_ext_d2i(pointer, NID_ext_key_usage, nil, nil) else { return nil }
        let usages = OpaquePointer(raw)
        defer { EXTENDED_KEY_USAGE_free(usages) }
        return (0..<mailsec_sk_ASN1_OBJECT_num(usages)).map { index in
            ASN1Object.name(mailsec_sk_ASN1_OBJECT_value(usages, index))
        }
    }

    /// basicConstraints; nil when the extension is absent.
    public var basicConstraints: BasicConstraints? {
        var critical: Int32 = 0
        guard let raw = X509_get_ext_d2i(pointer, NID_basic_constraints, &critical, nil) else { return nil }
        let constraints = raw.assumingMemoryBound(to: BASIC_CONSTRAINTS.self)
        defer { BASIC_CONSTRAINTS_free(constraints) }
        var pathLength: Int?
        if let length = constraints.pointee.pathlen {
            pathLength = Int(ASN1_INTEGER_get(length))
        }
        return BasicConstraints(isCA: constraints.pointee.ca != 0, pathLength: pathLength, critical: critical == 1)
    }

    /// True when the certificate is signed by its own key.
    public var isSelfSigned: Bool {
        X509_self_signed(pointer, 1) == 1
    }

    // MARK: Encodings and fingerprints

    /// The certificate in DER.
    public func derBytes() throws -> [UInt8] {
        try DER.encode("the certificate") { i2d_X509(pointer, &$0) }
    }

    /// The certificate in PEM.
    public func pem() throws -> [UInt8] {
        let bio = try MemoryBIO()
        guard bio.withUnsafePointer({ PEM_write_bio_X509($0, pointer) }) == 1 else { throw MailSecError.openSSL("cannot encode the certificate") }
        return bio.bytes()
    }

    /// SHA-256 of the DER certificate, as `openssl x509 -fingerprint -sha256` computes it.
    public func sha256Fingerprint() throws -> [UInt8] {
        Digest.sha256(try derBytes())
    }

    /// True when `issuer` issued this certificate (names, key identifiers and signature).
    public func isIssued(by issuer: Certificate) -> Bool {
        guard X509_check_issued(issuer.pointer, pointer) == X509_V_OK, let key = X509_get0_pubkey(issuer.pointer) else {
            OpenSSLErrorQueue.clear()
            return false
        }
        let verified = X509_verify(pointer, key) == 1
        OpenSSLErrorQueue.clear()
        return verified
    }
}

/// The basicConstraints extension.
public struct BasicConstraints: Sendable, Equatable {
    /// CA:TRUE: the certificate may issue others.
    public var isCA: Bool
    /// The most intermediates that may follow it, when set.
    public var pathLength: Int?
    /// True when the extension is marked critical (a CA's must be, RFC 5280 4.2.1.9).
    public var critical: Bool
}

enum ASN1Object {
    /// OpenSSL's short name for a known OID, the dotted form otherwise.
    static func name(_ object: OpaquePointer?) -> String {
        let nid = OBJ_obj2nid(object)
        if nid != NID_undef, let short = OBJ_nid2sn(nid) { return String(cString: short) }
        var text = [CChar](repeating: 0, count: 128)
        OBJ_obj2txt(&text, Int32(text.count), object, 1)
        return String(nulTerminated: text)
    }
}

extension ASN1String {
    static func utf8(_ string: UnsafePointer<ASN1_STRING>?) -> String {
        guard let string else { return "" }
        var output: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&output, string)
        guard length >= 0, let output else { return "" }
        defer { mailsec_OPENSSL_free(output) }
        return String(decoding: UnsafeBufferPointer(start: output, count: Int(length)), as: UTF8.self)
    }

    static func bytes(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> [UInt8] {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
    }
}

enum ASN1String {}

extension DistinguishedName {
    init(openSSL name: OpaquePointer?) {
        var attributes: [Attribute] = []
        if let name {
            for index in 0..<X509_NAME_entry_count(name) {
                let entry = X509_NAME_get_entry(name, index)
                let key = ASN1Object.name(X509_NAME_ENTRY_get_object(entry))
                let value = ASN1String.utf8(X509_NAME_ENTRY_get_data(entry))
                attributes.append(Attribute(key, value))
            }
        }
        self.init(attributes)
    }

    /// A new OpenSSL X509_NAME; the caller frees it.
    func makeOpenSSLName() throws -> OpaquePointer {
        guard let name = X509_NAME_new() else { throw MailSecError.openSSL("cannot allocate a name") }
        for attribute in attributes {
            let added = X509_NAME_add_entry_by_txt(name, attribute.key, MBSTRING_UTF8, attribute.value, -1, -1, 0)
            guard added == 1 else {
                X509_NAME_free(name)
                throw MailSecError.openSSL("subject field \(attribute.key)='\(attribute.value)' is not acceptable")
            }
        }
        return name
    }
}

extension SubjectAlternativeName {
    /// Reads an OpenSSL GENERAL_NAMES list.
    static func list(from names: OpaquePointer) -> [SubjectAlternativeName] {
        (0..<mailsec_sk_GENERAL_NAME_num(names)).compactMap { index in
            guard let name = mailsec_sk_GENERAL_NAME_value(names, index) else { return nil }
            switch name.pointee.type {
            case GEN_DNS:
                return .dns(String(decoding: ASN1String.bytes(name.pointee.d.dNSName), as: UTF8.self))
            case GEN_IPADD:
                let octets = ASN1String.bytes(name.pointee.d.iPAddress)
                return .ip(IPAddress.format(octets) ?? Hex.encode(octets))
            case GEN_EMAIL:
                return .email(String(decoding: ASN1String.bytes(name.pointee.d.rfc822Name), as: UTF8.self))
            case GEN_URI:
                return .uri(String(decoding: ASN1String.bytes(name.pointee.d.uniformResourceIdentifier), as: UTF8.self))
            default:
                return .other("othername")
            }
        }
    }
}

extension Date {
    init(asn1 time: UnsafePointer<ASN1_TIME>?) {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else {
            self.init(timeIntervalSince1970: 0)
            return
        }
        self.init(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
