import Glibc

/// Runs a program to its end with a deadline: stdin from /dev/null, stdout
/// and stderr collected (bounded), killed when the deadline passes. For the
/// tools MailSec asks (doveconf, postmap, reload commands), never a shell.
package enum Subprocess {
    package struct Outcome: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        package var status: Int32
        package var output: String
        package var errors: String
        /// True when it was killed for running past its deadline.
        package var timedOut: Bool
    }

    /// More output than any configuration dump or reload message: the rest is dropped.
    static let maximumOutput = 8 << 20

    package static func run(_ executable: String, _ arguments: [String], timeout: Duration,
                           environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"]) throws -> Outcome {
        var pipes: [[Int32]] = []
        for _ in 0..<2 {
            // A socket pair, close-on-exec from birth (pipe2 is not in Swift's Glibc).
            var ends: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
                throw MailSecError(.io, "cannot make a pipe: \(Errno.current)", systemError: .current)
            }
            pipes.append(ends)
        }
        defer { for ends in pipes { close(ends[0]) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipes[0][1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipes[1][1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(pipes[0][1])
        close(pipes[1][1])
        guard spawned == 0 else {
            throw MailSecError(spawned == ENOENT ? .fileNotFound : .io, "cannot run \(executable): \(Errno(spawned))", systemError: Errno(spawned))
        }
        let deadline = Deadline.after(timeout)
        var collected: [[UInt8]] = [[], []]
        var open = [0, 1]
        var timedOut = false
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !open.isEmpty {
            var entries = open.map { pollfd(fd: pipes[$0][0], events: Int16(POLLIN), revents: 0) }
            let ready = Glibc.poll(&entries, nfds_t(entries.count), deadline.pollMilliseconds)
            if ready < 0 { if errno == EINTR { continue }; break }
            if ready == 0, deadline.hasPassed {
                kill(pid, SIGKILL)
                timedOut = true
                break
            }
            for (index, entry) in zip(open, entries) where entry.revents != 0 {
                let count = read(pipes[index][0], &chunk, chunk.count)
                if count > 0 {
                    if collected[index].count < maximumOutput { collected[index] += chunk[0..<min(count, maximumOutput - collected[index].count)] }
                } else if count == 0 || errno != EINTR {
                    open.removeAll { $0 == index }
                }
            }
        }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        return Outcome(status: status, output: String(decoding: collected[0], as: UTF8.self),
                       errors: String(decoding: collected[1], as: UTF8.self), timedOut: timedOut)
    }
}
