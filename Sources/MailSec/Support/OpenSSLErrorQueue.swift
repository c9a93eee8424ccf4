import COpenSSL

/// OpenSSL reports failures on a thread-local queue. Every failing call site
/// drains the whole queue into the thrown error, so the message says what
/// OpenSSL said and no stale entry leaks into the next, unrelated failure.
enum OpenSSLErrorQueue {
    /// Removes every entry from this thread's queue and returns their reasons, oldest first.
    static func drain() -> [String] {
        var reasons: [String] = []
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
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        return reasons
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
