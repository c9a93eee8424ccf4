internal import COpenSSL

/// The key algorithms MailSec generates.
public enum KeySpec: Sendable, Equatable, CustomStringConvertible {
    /// RSA with a modulus of `bits` (2048, 3072, 4096): what old clients need.
    case rsa(bits: Int)
    /// ECDSA on `curve`.
    case ec(curve: ECCurve)
    /// Ed25519 (few mail clients take it yet).
    case ed25519

    /// RSA key sizes we generate. Less than 2048 is refused: clients reject it.
    public static let rsaSizes = [2048, 3072, 4096]

    /// `RSA 2048`, `EC P-256`, `Ed25519`.
    public var description: String {
        switch self {
        case .rsa(let bits): "RSA \(bits)"
        case .ec(let curve): "EC \(curve.rawValue)"
        case .ed25519: "Ed25519"
        }
    }
}

/// The curves MailSec makes EC keys on (NIST P-256 and P-384, which every mail client takes).
public enum ECCurve: String, Sendable, CaseIterable {
    /// NIST P-256 (prime256v1): 128-bit security, what mail clients expect.
    case p256 = "P-256"
    /// NIST P-384 (secp384r1).
    case p384 = "P-384"
}

/// A public-key algorithm, as certificates and key files name it.
public enum KeyAlgorithm: Sendable, Hashable, CustomStringConvertible {
    /// RSA (RSA-PSS keys too).
    case rsa
    /// Elliptic-curve keys (ECDSA).
    case ec
    /// EdDSA on Curve25519.
    case ed25519
    /// EdDSA on Curve448.
    case ed448
    /// Anything else, by OpenSSL's name for it (or the algorithm's OID).
    case other(String)

    /// `RSA`, `EC`, `Ed25519`, `Ed448`, or the other algorithm's name.
    public var description: String {
        switch self {
        case .rsa: "RSA"
        case .ec: "EC"
        case .ed25519: "Ed25519"
        case .ed448: "Ed448"
        case .other(let name): name
        }
    }
}

/// What kind of key something holds, as reported to users.
public struct KeyDescription: Sendable, Equatable, CustomStringConvertible {
    /// The key's algorithm.
    public var type: KeyAlgorithm
    /// Modulus size for RSA, field size for EC, key size for EdDSA.
    public var bits: Int
    /// The named curve of an EC key (`P-256`).
    public var curve: String?
    /// Why OpenSSL could not decode the key, when it could not (an unknown
    /// algorithm or curve, an EC point off its curve): nothing can use such a key.
    public var undecodableReason: String?

    /// False when OpenSSL cannot decode the key: nothing can use it.
    public var isDecodable: Bool { undecodableReason == nil }

    /// `RSA 2048`, `EC P-256`, `Ed25519`: how every output names a key.
    public var description: String {
        if let undecodableReason { return "an undecodable public key (\(undecodableReason))" }
        return switch type {
        case .rsa: "RSA \(bits)"
        case .ec: "EC \(curve ?? "\(bits)-bit")"
        default: type.description
        }
    }

    /// A description by its parts.
    public init(type: KeyAlgorithm, bits: Int, curve: String? = nil) {
        self.type = type
        self.bits = bits
        self.curve = curve
    }

    /// Describes the key in a certificate's or CSR's SubjectPublicKeyInfo:
    /// decoded when OpenSSL can, else by its algorithm and parameters, so a
    /// hostile or broken certificate is reported, never a crash.
    init(decoded key: OpaquePointer?, info: OpaquePointer?) {
        if let key {
            self.init(key)
            return
        }
        var algorithm: OpaquePointer?
        var parameters: UnsafeMutablePointer<X509_ALGOR>?
        var parameterType: Int32 = 0
        var parametersValue: UnsafeRawPointer?
        if let info, X509_PUBKEY_get0_param(&algorithm, nil, nil, &parameters, info) == 1, let parameters {
            X509_ALGOR_get0(nil, &parameterType, &parametersValue, parameters)
        }
        let name = algorithm.map { ASN1Object.name($0) } ?? "unknown"
        var reason = "algorithm \(name)"
        if parameterType == V_ASN1_OBJECT, let parametersValue {
            reason += ", parameters \(ASN1Object.name(OpaquePointer(parametersValue)))"
        }
        OpenSSLErrorQueue.clear()
        self.init(type: .other(name), bits: 0)
        undecodableReason = reason + ": OpenSSL cannot decode it (an unknown algorithm or curve, or a point that is not on its curve)"
    }

    /// Describes any EVP_PKEY, public or private.
    init(_ key: OpaquePointer) {
        bits = Int(EVP_PKEY_get_bits(key))
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS:
            type = .rsa
        case EVP_PKEY_EC:
            type = .ec
            var name = [CChar](repeating: 0, count: 80)
            var length = 0
            if EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 {
                curve = Self.nistName(String(nulTerminated: name))
            }
        case EVP_PKEY_ED25519:
            type = .ed25519
            bits = 256
        case EVP_PKEY_ED448:
            type = .ed448
            bits = 456
        default:
            type = .other(EVP_PKEY_get0_type_name(key).map { String(cString: $0) } ?? "unknown")
        }
    }

    private static func nistName(_ group: String) -> String {
        switch group {
        case "prime256v1", "P-256": "P-256"
        case "secp384r1", "P-384": "P-384"
        case "secp521r1", "P-521": "P-521"
        default: group
        }
    }
}

/// Operations shared by private and public EVP_PKEYs.
enum EVPKey {
    /// The DER SubjectPublicKeyInfo: what DANE `3 1 x` and key matching compare.
    static func subjectPublicKeyInfo(_ key: OpaquePointer) throws -> [UInt8] {
        try DER.encode("the public key") { i2d_PUBKEY(key, &$0) }
    }
}

/// A private key, owning its OpenSSL EVP_PKEY. Its PEM form only ever lives
/// in `SecureBytes`.
public final class PrivateKey: @unchecked Sendable {
    private let pointer: OpaquePointer

    /// The EVP_PKEY, for the duration of `body`: the rest of MailSec borrows it
    /// for an OpenSSL call and never keeps it, so it cannot outlive this owner.
    func withUnsafePointer<Result>(_ body: (OpaquePointer) throws -> Result) rethrows -> Result {
        try body(pointer)
    }

    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        EVP_PKEY_free(pointer)
    }

    /// Generates a key. `progress` is called from OpenSSL's key generation
    /// callback (for RSA: once per candidate prime), so a terminal can show it.
    public static func generate(_ spec: KeySpec, progress: ((Int) -> Void)? = nil) throws -> PrivateKey {
        OpenSSLErrorQueue.clear()
        let algorithm: String
        switch spec {
        case .rsa(let bits):
            guard KeySpec.rsaSizes.contains(bits) else {
                throw MailSecError(.invalidInput, "RSA keys of \(bits) bits are not offered",
                                   remedy: "use \(Vocabulary.name(.keySize)) 2048, 3072 or 4096 (less than 2048 is rejected by current clients)")
            }
            algorithm = "RSA"
        case .ec: algorithm = "EC"
        case .ed25519: algorithm = "ED25519"
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw MailSecError.openSSL("cannot set up \(spec) key generation")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else {
            throw MailSecError.openSSL("cannot set up \(spec) key generation")
        }
        switch spec {
        case .rsa(let bits):
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1 else {
                throw MailSecError.openSSL("cannot set the RSA key size to \(bits)")
            }
        case .ec(let curve):
            guard EVP_PKEY_CTX_set_group_name(context, curve.rawValue) == 1 else {
                throw MailSecError.openSSL("cannot select the curve \(curve.rawValue)")
            }
        case .ed25519:
            break
        }

        let box = progress.map { ProgressBox($0) }
        let unmanaged = box.map { Unmanaged.passRetained($0) }
        defer { unmanaged?.release() }
        if let unmanaged {
            EVP_PKEY_CTX_set_app_data(context, unmanaged.toOpaque())
            EVP_PKEY_CTX_set_cb(context) { context in
                guard let context, let data = EVP_PKEY_CTX_get_app_data(context) else { return 1 }
                let box = Unmanaged<ProgressBox>.fromOpaque(data).takeUnretainedValue()
                box.report(Int(EVP_PKEY_CTX_get_keygen_info(context, 0)))
                return 1
            }
        }

        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw MailSecError.openSSL("\(spec) key generation failed")
        }
        return PrivateKey(taking: key)
    }

    /// The key in a key file: DER, or the first private-key PEM block (so a
    /// combined key-and-chain file, as smtpd_tls_chain_files takes, is fine).
    public static func first(in bytes: UnsafeRawBufferPointer, source: String) throws -> PrivateKey {
        let blocks = try PEMDocument.blocks(in: bytes, source: source)
        if blocks.isEmpty { return try PrivateKey(der: bytes, source: source) }
        guard let block = blocks.first(where: \.isPrivateKey) else {
            throw MailSecError(.invalidInput, "\(source) holds no private key (found \(blocks.map(\.label).joined(separator: ", ")))")
        }
        return try PrivateKey(pem: UnsafeRawBufferPointer(rebasing: bytes[block.range]), source: source)
    }

    /// Reads a PEM private key (PKCS#8, traditional RSA/EC, encrypted or not).
    /// An encrypted key without `passphrase` throws `.passphrase`.
    public convenience init(pem: UnsafeRawBufferPointer, passphrase: SecureBytes? = nil, source: String = "key") throws {
        OpenSSLErrorQueue.clear()
        let bio = try MemoryBIO(readingFrom: pem)
        let key: OpaquePointer?
        if let passphrase {
            key = passphrase.withCString { secret in
                bio.withUnsafePointer { PEM_read_bio_PrivateKey($0, nil, nil, UnsafeMutableRawPointer(mutating: secret)) }
            }
        } else {
            // An explicit callback that supplies no passphrase: OpenSSL must
            // never fall back to prompting on the terminal itself.
            key = bio.withUnsafePointer { PEM_read_bio_PrivateKey($0, nil, { _, _, _, _ in 0 }, nil) }
        }
        guard let key else {
            let reasons = OpenSSLErrorQueue.drain()
            let encrypted = PEMDocument.looksEncrypted(pem)
            if encrypted {
                if passphrase == nil {
                    throw MailSecError(.passphrase, "\(source) is encrypted and no passphrase was given",
                                       remedy: "give the passphrase with \(Vocabulary.name(.passphraseFile))")
                }
                throw MailSecError(.passphrase, "\(source): wrong passphrase, or the encrypted key is damaged (\(reasons.joined(separator: "; ")))")
            }
            throw MailSecError(.invalidInput, "\(source) is not a readable private key" + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))"))
        }
        self.init(taking: key)
    }

    /// Reads a DER private key (PKCS#8 or traditional).
    public convenience init(der: UnsafeRawBufferPointer, source: String = "key") throws {
        OpenSSLErrorQueue.clear()
        var cursor = der.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let key = d2i_AutoPrivateKey(nil, &cursor, der.count) else {
            throw MailSecError.openSSL("\(source) is not a readable DER private key")
        }
        self.init(taking: key)
    }

    /// The key's algorithm and size.
    public var keyDescription: KeyDescription { KeyDescription(pointer) }

    /// DER SubjectPublicKeyInfo of the public half.
    public func subjectPublicKeyInfo() throws -> [UInt8] {
        try EVPKey.subjectPublicKeyInfo(pointer)
    }

    /// SHA-256 of the SubjectPublicKeyInfo: the TLSA `3 1 1` association data.
    public func spkiSHA256() throws -> [UInt8] {
        Digest.sha256(try subjectPublicKeyInfo())
    }

    /// True when `certificate` carries this key's public half.
    public func matches(_ certificate: Certificate) -> Bool {
        let equal = certificate.withUnsafePointer { certificate in
            guard let theirs = X509_get0_pubkey(certificate) else { return false }
            return EVP_PKEY_eq(pointer, theirs) == 1
        }
        OpenSSLErrorQueue.clear()
        return equal
    }

    /// PKCS#8 PEM, unencrypted (what Postfix and Dovecot load) or, with a
    /// passphrase, encrypted with AES-256-CBC under PBKDF2.
    public func pkcs8PEM(passphrase: SecureBytes? = nil) throws -> SecureBytes {
        OpenSSLErrorQueue.clear()
        let bio = try MemoryBIO(secure: true)
        let ok: Int32
        if let passphrase {
            ok = passphrase.withUnsafeBytes { secret in
                bio.withUnsafePointer {
                    PEM_write_bio_PKCS8PrivateKey($0, pointer, EVP_aes_256_cbc(), secret.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                  Int32(secret.count), nil, nil)
                }
            }
        } else {
            ok = bio.withUnsafePointer { PEM_write_bio_PrivateKey($0, pointer, nil, nil, 0, nil, nil) }
        }
        guard ok == 1 else { throw MailSecError.openSSL("cannot encode the private key") }
        return bio.secureBytes()
    }
}

/// Carries the Swift progress closure through OpenSSL's C callback.
private final class ProgressBox {
    let report: (Int) -> Void
    init(_ report: @escaping (Int) -> Void) { self.report = report }
}
