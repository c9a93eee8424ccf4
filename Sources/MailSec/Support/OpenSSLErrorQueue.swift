internal import COpenSSL

/// OpenSSL reports failures on a thread-local queue. Every failing call site
/// drains the whole queue into the thrown error, so the message says what
/// OpenSSL said and no stale entry leaks into the next, unrelated failure.
enum OpenSSLErrorQueue {
    /// One entry: OpenSSL's packed code (library and reason) and its text.
    struct Entry {
        var code: UInt
        var reason: String
        /// The reason part of the code, e.g. SSL_R_UNEXPECTED_EOF_WHILE_READING.
        var reasonCode: Int32 { mailsec_ERR_GET_REASON(code) }
    }

    /// Removes every entry from this thread's queue and returns their reasons, oldest first.
    static func drain() -> [String] {
        var reasons: [String] = []
        for entry in drainEntries() where !reasons.contains(entry.reason) { reasons.append(entry.reason) }
        return reasons
    }

    /// Removes every entry, keeping the codes for callers that decide on them.
    static func drainEntries() -> [Entry] {
        var entries: [Entry] = []
        while true {
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            var reason = ERR_reason_error_string(code).map { String(cString: $0) }
                ?? "error \(String(code, radix: 16))"
            if let data, flags & ERR_TXT_STRING != 0 {
                let detail = String(cString: data)
                if !detail.isEmpty { reason += " (\(detail))" }
            }
            entries.append(Entry(code: code, reason: reason))
        }
        return entries
    }

    /// Clears leftovers before an operation whose failure we want to report precisely.
    static func clear() {
        ERR_clear_error()
    }
}

extension MailSecError {
    /// An OpenSSL failure: `context` says what we were doing, the queue says why.
    static func openSSL(_ context: String, remedy: String? = nil) -> MailSecError {
        let reasons = OpenSSLErrorQueue.drain()
        let message = reasons.isEmpty ? context : "\(context): \(reasons.joined(separator: "; "))"
        return MailSecError(.openSSL, message, remedy: remedy)
    }
}
