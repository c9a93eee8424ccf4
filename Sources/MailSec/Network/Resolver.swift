import Dispatch
import Glibc
import Synchronization

/// One address a host name resolved to, as the bytes of a sockaddr.
struct ResolvedAddress: Sendable {
    let family: Int32
    let storage: [UInt8]

    init(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        family = Int32(address.pointee.sa_family)
        storage = Array(UnsafeRawBufferPointer(start: address, count: Int(length)))
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
    }

    /// `127.0.0.1`, `::1`.
    var numericHost: String {
        withSockaddr { address, length in
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { return "?" }
            return String(nulTerminated: host)
        }
    }
}

/// getaddrinfo with a deadline. A literal address never touches DNS; a name
/// is resolved on a helper thread that is abandoned (and cleans up after
/// itself) when the deadline passes, because getaddrinfo itself cannot be
/// interrupted and a dead resolver would otherwise hang the probe.
enum Resolver {
    static func resolve(_ host: String, port: UInt16, deadline: Deadline, passive: Bool = false) throws -> [ResolvedAddress] {
        let numeric = IPAddress.normalize(host) != nil
        if numeric || passive { return try lookup(host, port: port, numeric: numeric, passive: passive) }
        let outcome = Mutex<Result<[ResolvedAddress], MailSecError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let result = Result { () throws(MailSecError) in try lookup(host, port: port, numeric: false, passive: false) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        let wait = deadline.remaining
        let (seconds, attoseconds) = wait.components
        let nanoseconds = Int(min(seconds, 86_400)) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        guard done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else {
            throw MailSecError(.timeout, "cannot resolve \(host): no answer from the DNS resolver \(deadline.withinDescription)",
                               remedy: "check /etc/resolv.conf and that the resolver answers (dig \(host))")
        }
        return try outcome.withLock { $0! }.get()
    }

    private static func lookup(_ host: String, port: UInt16, numeric: Bool, passive: Bool) throws(MailSecError) -> [ResolvedAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        if numeric { hints.ai_flags |= AI_NUMERICHOST }
        if passive { hints.ai_flags |= AI_PASSIVE }
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == EAI_SYSTEM ? Errno.current.description : String(cString: gai_strerror(status))
            throw MailSecError(.hostNotFound, "cannot resolve \(host): \(reason)",
                               remedy: "check the host name, or give an address")
        }
        defer { freeaddrinfo(list) }
        var addresses: [ResolvedAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = current.pointee.ai_addr { addresses.append(ResolvedAddress(address, length: current.pointee.ai_addrlen)) }
            entry = current.pointee.ai_next
        }
        return addresses
    }
}
