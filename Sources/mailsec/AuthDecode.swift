import ArgumentParser
import MailSec

struct AuthDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode AUTH strings, or every AUTH exchange in an SMTP transcript or a Postfix/Dovecot debug log.",
        discussion: """
        Passwords and tokens are shown as <N bytes> unless --show-password.

        Examples:
          mailsec auth decode AHRlc3QAdGVzdDEyMzQ=
          mailsec auth decode --log /var/log/mail.log
          swaks ... 2>&1 | mailsec auth decode --log -
        """
    )

    @Argument(help: "Base64 AUTH strings.")
    var strings: [String] = []

    @Option(help: ArgumentHelp("Read a transcript or log ('-' for stdin) and decode every AUTH exchange in it.", valueName: "file"))
    var log: String?

    @Flag(name: .customLong("show-password"), help: "Show passwords and tokens instead of their length.")
    var showPassword = false

    @Flag(help: "Print JSON Lines, one object per decoded string.")
    var json = false

    func validate() throws {
        if strings.isEmpty && log == nil { throw ValidationError("give a base64 string or --log FILE") }
    }

    func run() throws {
        try runReportingErrors {
            var failed = false
            var results: [Result<DecodedAuthString, MailSecError>] = strings.map { text in
                Result { try AuthStringDecoder.decode(text) }.mapError { $0 as? MailSecError ?? MailSecError(.invalidInput, "\($0)") }
            }
            if let log {
                let lines = try Self.lines(of: log)
                let found = AuthStringDecoder.decodeLog(lines)
                if found.isEmpty { Terminal.printError("mailsec: no AUTH exchange found in \(log)") }
                results += found
            }
            for result in results {
                switch result {
                case .success(let decoded): emit(decoded)
                case .failure(let error):
                    failed = true
                    Terminal.printError("mailsec: error: \(error.message)")
                }
            }
            if failed { throw ExitStatus.couldNotRun }
        }
    }

    private func emit(_ decoded: DecodedAuthString) {
        if json {
            var object: [String: String] = ["kind": decoded.kind]
            if let line = decoded.line { object["line"] = String(line) }
            for field in decoded.fields { object[field.name] = field.display(reveal: showPassword) }
            print((try? JSONOutput.encode(object, pretty: false)) ?? "{}")
            return
        }
        let renderer = HumanRenderer()
        print(renderer.heading((decoded.line.map { "line \($0): " } ?? "") + decoded.kind))
        if !decoded.fields.isEmpty {
            print(renderer.facts(decoded.fields.map { ($0.name, $0.display(reveal: showPassword)) }))
        }
    }

    private static func lines(of path: String) throws -> [String] {
        let bytes = try SecureFileSystem.read(path == "-" ? "/dev/stdin" : path, limit: 256 << 20)
        return bytes.withUnsafeBytes { raw in raw.split(separator: 0x0a, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) } }
    }
}
