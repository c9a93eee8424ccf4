import Foundation
import Testing

/// The result of running a program.
struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `executable` with `arguments`, optionally feeding `input` on stdin.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try inPipe.fileHandleForWriting.close()
    // Read both pipes before waiting, so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return RunResult(status: process.terminationStatus,
                     stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
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
func mailsec(_ arguments: String..., input: String? = nil) throws -> RunResult {
    try run(mailsecPath, arguments, input: input)
}

func mailsec(arguments: [String], input: String? = nil) throws -> RunResult {
    try run(mailsecPath, arguments, input: input)
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
/// foreground process to exit; returns its exit status. posix_spawn and
/// waitpid directly: the daemon must not inherit our pipes, and Foundation's
/// Process does not notice the exit of a parent whose child daemonized.
func spawnDaemon(_ path: String, _ arguments: [String]) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for descriptor: Int32 in [0, 1, 2] {
        posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
    }
    // Test threads block signals; a daemon started from one would inherit that
    // mask and ignore SIGTERM from `doveadm stop`. Start it with none blocked.
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
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, path, &actions, &attributes, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xff
}
