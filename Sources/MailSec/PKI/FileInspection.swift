internal import COpenSSL

/// One object found in a file by `mailsec inspect`.
public enum InspectedObject {
    /// A certificate, and the line its PEM block starts on (nil for DER).
    case certificate(CertificateFacts, line: Int?)
    /// A signing request.
    case signingRequest(SigningRequestFacts, line: Int?)
    /// A private key, described but never shown.
    case privateKey(PrivateKeyFacts, line: Int?)
    /// A bare public key (`PUBLIC KEY`), with the SHA-256 of its SubjectPublicKeyInfo.
    case publicKey(KeyDescription, spkiSHA256: String, line: Int?)
}

/// Reads certificates, chains, CSRs and keys in PEM or DER.
public enum FileInspection {
    /// Everything in the file at `path`, in order. Throws with a message that
    /// names the file for anything unreadable, empty, truncated or unknown.
    public static func inspect(_ path: String) throws -> [InspectedObject] {
        let contents = try SecureFileSystem.read(path)
        return try contents.withUnsafeBytes { try inspect($0, source: path) }
    }

    /// Everything in `bytes` (PEM or DER), in order; `source` names them in errors.
    public static func inspect(_ bytes: UnsafeRawBufferPointer, source: String) throws -> [InspectedObject] {
        guard bytes.contains(where: { $0 != 0x20 && $0 != 0x0a && $0 != 0x0d && $0 != 0x09 }) else {
            throw MailSecError(.invalidInput, "\(source) is empty")
        }
        let blocks = try PEMDocument.blocks(in: bytes, source: source)
        if blocks.isEmpty { return [try inspectDER(bytes, source: source)] }
        var objects: [InspectedObject] = []
        for block in blocks {
            let label = "\(source), line \(block.line)"
            switch block.label {
            case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
                let certificate = try Certificate(der: PEMDocument.decodeBody(of: block, in: bytes, source: source), source: label)
                objects.append(.certificate(try CertificateFacts(certificate), line: block.line))
            case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
                let request = try CertificateSigningRequest(der: PEMDocument.decodeBody(of: block, in: bytes, source: source), source: label)
                objects.append(.signingRequest(try SigningRequestFacts(request), line: block.line))
            case _ where block.isPrivateKey:
                let region = UnsafeRawBufferPointer(rebasing: bytes[block.range])
                var key: PrivateKey?
                if !block.isEncrypted {
                    key = try PrivateKey(pem: region, source: label)
                }
                objects.append(.privateKey(try PrivateKeyFacts(format: block.label, encrypted: block.isEncrypted, key: key), line: block.line))
            case "PUBLIC KEY":
                let der = try PEMDocument.decodeBody(of: block, in: bytes, source: source)
                let key = try PublicKeyInfo(der: der, source: label)
                objects.append(.publicKey(key.description, spkiSHA256: Hex.encode(Digest.sha256(der)), line: block.line))
            default:
                throw MailSecError(.invalidInput, "\(label): a '\(block.label)' block is not something MailSec reads (certificates, CSRs and keys)")
            }
        }
        return objects
    }

    private static func inspectDER(_ bytes: UnsafeRawBufferPointer, source: String) throws -> InspectedObject {
        let der = Array(bytes)
        // A decoder that does not recognise the bytes throws .openSSL; one that
        // decoded them but found bytes after the object throws .invalidInput: report that.
        do {
            return .certificate(try CertificateFacts(try Certificate(der: der, source: source)), line: nil)
        } catch let error as MailSecError where error.code == .invalidInput {
            throw error
        } catch {}
        do {
            return .signingRequest(try SigningRequestFacts(try CertificateSigningRequest(der: der, source: source)), line: nil)
        } catch let error as MailSecError where error.code == .invalidInput {
            throw error
        } catch {}
        if let key = try? PrivateKey(der: bytes, source: source) {
            return .privateKey(try PrivateKeyFacts(format: "DER", encrypted: false, key: key), line: nil)
        }
        OpenSSLErrorQueue.clear()
        let printable = bytes.prefix(512).allSatisfy { $0 == 0x0a || $0 == 0x0d || $0 == 0x09 || ($0 >= 0x20 && $0 < 0x7f) }
        throw MailSecError(.invalidInput, printable
            ? "\(source) is neither PEM (no -----BEGIN line) nor DER: it does not hold a certificate, CSR or key"
            : "\(source) is not a certificate, CSR or key in DER form (and has no PEM -----BEGIN line)")
    }
}

/// A bare SubjectPublicKeyInfo, as in `-----BEGIN PUBLIC KEY-----`.
struct PublicKeyInfo {
    let description: KeyDescription

    init(der: [UInt8], source: String) throws {
        let decoded: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let decoded else { throw MailSecError.openSSL("\(source) is not a readable public key") }
        defer { EVP_PKEY_free(decoded) }
        description = KeyDescription(decoded)
    }
}
