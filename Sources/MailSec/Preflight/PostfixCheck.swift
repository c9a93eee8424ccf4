import Glibc

/// Runs `postfix -c DIR check`, Postfix's own consistency check.
package enum PostfixCheck {
    package struct Outcome: Sendable {
        package var status: Int32
        /// What it printed: warnings and fatal errors.
        package var output: String
    }

    package static let executable = "/usr/sbin/postfix"

    package static var isInstalled: Bool { access(executable, X_OK) == 0 }

    /// Postfix prints its warnings to stderr only when stderr is a terminal
    /// (otherwise they go to syslog, which may not exist), so the command runs
    /// on a pseudo-terminal and we read what it wrote there.
    package static func run(configDirectory: String) throws -> Outcome {
        // posix_openpt/ptsname are hidden behind _XOPEN_SOURCE in Swift's Glibc,
        // so this is what they do on Linux: open /dev/ptmx, unlock, ask the number.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw MailSecError(.io, "cannot open a pseudo-terminal for postfix check: \(String(cString: strerror(errno)))") }
        defer { close(master) }
        var unlock: Int32 = 0, number: UInt32 = 0
        let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430  // _IOW('T', 0x31, int), _IOR('T', 0x30, unsigned int)
        guard ioctl(master, TIOCSPTLCK, &unlock) == 0, ioctl(master, TIOCGPTN, &number) == 0 else {
            throw MailSecError(.io, "cannot set up a pseudo-terminal for postfix check: \(String(cString: strerror(errno)))")
        }
        let name = "/dev/pts/\(number)"
        let slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard slave >= 0 else { throw MailSecError(.io, "cannot open \(name): \(String(cString: strerror(errno)))") }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, slave, 1)
        posix_spawn_file_actions_adddup2(&actions, slave, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))

        let arguments = [executable, "-c", configDirectory, "check"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var environment: [UnsafeMutablePointer<CChar>?] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"].map { (text: String) in strdup(text) } + [nil]
        defer { environment.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &argv, &environment)
        close(slave)
        guard spawned == 0 else { throw MailSecError(.io, "cannot run \(executable): \(String(cString: strerror(spawned)))") }

        // Read until every holder of the terminal has closed it (EIO on Linux).
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(master, &buffer, buffer.count)
            if count > 0 { if output.count < 1 << 16 { output += buffer[0..<count] }; continue }
            if count < 0 && errno == EINTR { continue }
            break
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let text = String(decoding: output, as: UTF8.self).replacingOccurrences("\r", with: "")
        return Outcome(status: exitStatus, output: text.trimmingWhitespace())
    }
}
