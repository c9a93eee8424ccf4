internal import COpenSSL

/// Message digests through OpenSSL's EVP interface.
enum Digest {
    static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha256(), nil)
        precondition(ok == 1, "SHA-256 is always available in OpenSSL's default provider")
        return Array(digest.prefix(Int(length)))
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { sha256($0) }
    }

    static func sha512(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha512(), nil) }
        precondition(ok == 1, "SHA-512 is always available in OpenSSL's default provider")
        return Array(digest.prefix(Int(length)))
    }
}
