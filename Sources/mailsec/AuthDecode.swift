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
            let results: [Result<DecodedAuthString, MailSecError>] = strings.map { text in
                Result { try AuthStringDecoder.decode(text) }.mapError { $0 as? MailSecError ?? MailSecError(.invalidInput, "\($0)") }
            }
            let report = { (result: Result<DecodedAuthString, MailSecError>) in
                switch result {
                case .success(let decoded): emit(decoded)
                case .failure(let error):
                    failed = true
                    Terminal.printError("mailsec: error: \(TextSanitizer.escaped(error.message))")
                }
            }
            results.forEach(report)
            if let log {
                // Streamed: each exchange is printed as it is found, whatever the log's size.
                let lines = try StreamedLines(path: log)
                var decoder = AuthTranscriptDecoder()
                var found = 0
                for line in lines {
                    for result in decoder.feed(line) {
                        found += 1
                        report(result)
                    }
                }
                if lines.skippedLongLines > 0 {
                    Terminal.printError("mailsec: \(log): \(lines.skippedLongLines) lines longer than \(lines.maximumLineLength) bytes skipped")
                }
                if found == 0 { Terminal.printError("mailsec: no AUTH exchange found in \(log)") }
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
}
