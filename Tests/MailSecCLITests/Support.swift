import Foundation
import Testing

/// The result of running a program.
struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `executable` with `arguments`, optionally feeding `input` on stdin.
/// posix_spawn, poll and waitpid directly: Foundation's Process can miss a
/// child's exit on Linux and hang the whole test run.
/// A child still running after `timeout` seconds is killed (its status is then
/// 137): a regression that hangs fails its test instead of stalling the run.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
         timeout: Double = 300) throws -> RunResult {
    let child = try SpawnedProcess(executable, arguments, environment: environment, capture: true)
    if let input { child.write(Array(input.utf8)) }
    child.closeInput()
    let (stdout, stderr) = child.readToEnd(timeout: timeout)
    let status = child.wait()
    return RunResult(status: status, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}

/// A child process with its stdin, stdout and stderr on pipes (or /dev/null),
/// started with no signal blocked whatever the calling thread blocks.
final class SpawnedProcess: @unchecked Sendable {
    let pid: pid_t
    private var input: Int32 = -1
    private var output: Int32 = -1
    private var errors: Int32 = -1
    private var status: Int32?

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, capture: Bool) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var pipes: [[Int32]] = []
        if capture {
            for _ in 0..<3 {
                // Close-on-exec from birth (atomically): a daemon spawned by another
                // test at the same moment must never inherit an end, or this
                // child's output would never reach end-of-file.
                var ends: [Int32] = [0, 0]
                guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else { throw CocoaError(.fileWriteUnknown) }
                pipes.append(ends)
            }
            posix_spawn_file_actions_adddup2(&actions, pipes[0][0], 0)
            posix_spawn_file_actions_adddup2(&actions, pipes[1][1], 1)
            posix_spawn_file_actions_adddup2(&actions, pipes[2][1], 2)
        } else {
            for descriptor: Int32 in [0, 1, 2] {
                posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var variables = ProcessInfo.processInfo.environment
        if let environment { variables.merge(environment) { $1 } }
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        if capture {
            close(pipes[0][0]); close(pipes[1][1]); close(pipes[2][1])
            input = pipes[0][1]; output = pipes[1][0]; errors = pipes[2][0]
        }
        guard result == 0 else {
            [input, output, errors].filter { $0 >= 0 }.forEach { close($0) }
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: executable])
        }
        self.pid = pid
    }

    deinit {
        [input, output, errors].filter { $0 >= 0 }.forEach { close($0) }
        if status == nil { kill(pid, SIGKILL); _ = wait() }
    }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(input, $0.baseAddress! + offset, $0.count - offset) }
            if written <= 0 { if errno == EINTR { continue }; return }
            offset += written
        }
    }

    func closeInput() {
        if input >= 0 { close(input); input = -1 }
    }

    /// Reads stdout and stderr together until both end, so neither pipe can fill and block the child;
    /// kills the child once `timeout` seconds have passed.
    func readToEnd(timeout: Double = 300) -> ([UInt8], [UInt8]) {
        var collected: [Int32: [UInt8]] = [output: [], errors: []]
        var open = [output, errors]
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(timeout * 1000)))
        while !open.isEmpty {
            var pollers = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else {
                kill(pid, SIGKILL)
                break
            }
            let milliseconds = Int32(min(left.components.seconds * 1000 + 1, 60_000))
            if poll(&pollers, nfds_t(pollers.count), milliseconds) < 0 { if errno == EINTR { continue }; break }
            for poller in pollers where poller.revents != 0 {
                let count = Glibc.read(poller.fd, &chunk, chunk.count)
                if count > 0 {
                    collected[poller.fd]!.append(contentsOf: chunk[0..<count])
                } else if count == 0 || errno != EINTR {
                    open.removeAll { $0 == poller.fd }
                }
            }
        }
        return (collected[output] ?? [], collected[errors] ?? [])
    }

    /// Waits for the exit and returns its status (128 + signal when killed).
    @discardableResult
    func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status = code
        return code
    }

    var wasKilledBySignal: Bool { (status ?? 0) > 128 }
}

/// Runs a shell command line (for umask, pipes, setpriv).
@discardableResult
func shell(_ command: String, input: String? = nil) throws -> RunResult {
    try run("/bin/sh", ["-c", command], input: input)
}

/// The `mailsec` binary built next to this test bundle.
let mailsecPath: String = {
    let test = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: test).deletingLastPathComponent()
    // swift test runs .build/<config>/MailSecPackageTests.xctest
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("mailsec").path), directory.path != "/" {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent("mailsec").path
}()

@discardableResult
func mailsec(_ arguments: String..., input: String? = nil, timeout: Double = 300) throws -> RunResult {
    try run(mailsecPath, arguments, input: input, timeout: timeout)
}

func mailsec(arguments: [String], input: String? = nil, timeout: Double = 300) throws -> RunResult {
    try run(mailsecPath, arguments, input: input, timeout: timeout)
}

/// A fresh directory, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/mailsec-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ relative: String) -> String { path + "/" + relative }
}

/// Mode bits and owner of a file, via stat(2).
struct StatInfo {
    let mode: mode_t
    let uid: uid_t
    let gid: gid_t

    init(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
        mode = info.st_mode & 0o7777
        uid = info.st_uid
        gid = info.st_gid
    }
}

func readFile(_ path: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: path))
}

func parseJSON(_ text: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any])
}

/// Runs openssl, requiring it to succeed; returns its stdout + stderr.
@discardableResult
func openssl(_ arguments: String...) throws -> String {
    let result = try run("/usr/bin/openssl", arguments)
    #expect(result.status == 0, "openssl \(arguments.joined(separator: " ")) failed: \(result.stderr)")
    return result.stdout + result.stderr
}

let runningAsRoot = geteuid() == 0

/// `openssl x509 -checkend SECONDS`: true when the certificate is still valid then.
func validAfter(_ certificate: String, days: Int) throws -> Bool {
    let result = try run("/usr/bin/openssl", ["x509", "-in", certificate, "-noout", "-checkend", String(days * 86_400)])
    return result.status == 0
}

/// Starts a program that daemonizes (Dovecot, Postfix) and waits for the
/// foreground process to exit; returns its exit status. The daemon gets
/// /dev/null, not our pipes, and no blocked signals (so `stop` works).
func spawnDaemon(_ path: String, _ arguments: [String]) -> Int32 {
    guard let child = try? SpawnedProcess(path, arguments, capture: false) else { return -1 }
    return child.wait()
}

/// A shared fixture that could not start: what it is and why, for the test that needed it.
struct FixtureError: Error, CustomStringConvertible {
    let what: String
    let underlying: any Error
    var description: String { "\(what) could not start: \(underlying)" }
}

/// The last lines of a server's log, for the error of a fixture that could not start it.
func logTail(_ path: String, lines: Int = 20) -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(\(path) is empty or missing)" }
    return "\(path):\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
}

extension Tag {
    /// Every suite of this target: it runs mailsec and real servers (Postfix,
    /// Dovecot, saslauthd, Knot, Prometheus), most of them as root. The fast
    /// layer, with neither, is the MailSecTests target: swift test --filter MailSecTests.
    @Tag static var integration: Self
}
