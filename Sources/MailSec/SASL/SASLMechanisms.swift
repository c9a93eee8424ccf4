internal import COpenSSL

/// SMTP AUTH strings for the mechanisms people type by hand (RFC 4954, 4616,
/// the LOGIN draft, RFC 2195, Google's XOAUTH2). Everything that contains a
/// secret is built in `SecureBytes`.
public enum SASLMechanism {
    /// RFC 4954: an AUTH command line is at most 12288 octets.
    public static let maximumLineLength = 12_288

    /// `authzid NUL authcid NUL password`, base64 (RFC 4616).
    public static func plain(authzid: String = "", user: String, password: SecureBytes) throws -> SecureBytes {
        let message = try PlainExchange(authzid: authzid, user: user, password: password).start()!
        return try encodeChecked(message, command: "AUTH PLAIN ")
    }

    /// The two AUTH LOGIN answers: base64 user name, base64 password.
    public static func login(user: String, password: SecureBytes) throws -> (user: String, password: SecureBytes) {
        let encodedUser = Base64.encode(Array(user.utf8))
        guard encodedUser.utf8.count + 2 <= maximumLineLength else {
            throw MailSecError(.invalidInput, "the user name makes an AUTH line longer than \(maximumLineLength) octets (RFC 4954)")
        }
        return (encodedUser, try encodeChecked(password, command: ""))
    }

    /// CRAM-MD5 (RFC 2195): base64 of `user SP hex(HMAC-MD5(password, challenge))`.
    public static func cramMD5(user: String, password: SecureBytes, challengeBase64: String) throws -> SecureBytes {
        let challenge: [UInt8]
        do {
            challenge = try Base64.decode(Array(challengeBase64.utf8))
        } catch {
            throw MailSecError(.invalidInput, "the CRAM-MD5 challenge is not base64: \(error)",
                               remedy: "copy the text after '334 ' from the server's reply")
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = password.withUnsafeBytes { key in
            HMAC(EVP_md5(), key.baseAddress, Int32(key.count), challenge, challenge.count, &digest, &length) != nil
        }
        guard ok else { throw MailSecError.openSSL("HMAC-MD5 is not available") }
        var response = SecureBytes()
        response.append(contentsOf: user.utf8)
        response.append(0x20)
        response.append(contentsOf: Hex.encode(digest.prefix(Int(length))).utf8)
        return try encodeChecked(response, command: "")
    }

    /// XOAUTH2: base64 of `user=USER ^A auth=Bearer TOKEN ^A ^A`.
    public static func xoauth2(user: String, token: SecureBytes) throws -> SecureBytes {
        guard !user.utf8.contains(1), !token.contains(1) else {
            throw MailSecError(.invalidInput, "XOAUTH2 fields cannot contain the byte 0x01, its separator")
        }
        var message = SecureBytes()
        message.append(contentsOf: "user=\(user)".utf8)
        message.append(1)
        message.append(contentsOf: "auth=Bearer ".utf8)
        token.withUnsafeBytes { message.append(contentsOf: $0) }
        message.append(1)
        message.append(1)
        return try encodeChecked(message, command: "AUTH XOAUTH2 ")
    }

    /// Base64 into zeroing storage, refusing what would not fit in one AUTH line.
    static func encodeChecked(_ message: SecureBytes, command: String) throws -> SecureBytes {
        let encodedLength = (message.count + 2) / 3 * 4
        guard command.utf8.count + encodedLength + 2 <= maximumLineLength else {
            throw MailSecError(.invalidInput, "the AUTH line would be \(command.utf8.count + encodedLength + 2) octets; SMTP allows \(maximumLineLength) (RFC 4954)")
        }
        return message.withUnsafeBytes { Base64.encodeSecure($0) }
    }
}
