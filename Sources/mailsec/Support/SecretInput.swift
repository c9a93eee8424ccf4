import ArgumentParser
import Glibc
import MailSec

/// Where a password or token comes from: the argument (with a warning that
/// `ps` shows it), `--password-file`, stdin when it is not a terminal, or a
/// no-echo prompt.
struct SecretInput: ParsableArguments {
    @Option(name: .customLong("password-file"), help: ArgumentHelp("Read the password (or token) from the first line of FILE.", valueName: "file"))
    var passwordFile: String?

    func read(argument: String?, what: String = "password", for user: String) throws -> SecureBytes {
        if let argument {
            Terminal.printError("mailsec: warning: a \(what) given as an argument is visible to other users in `ps` and lands in shell history; prefer stdin, --password-file or the prompt")
            return SecureBytes(Array(argument.utf8))
        }
        if let passwordFile { return try Terminal.readSecretFile(passwordFile) }
        if !Terminal.stdinIsTerminal {
            let secret = try Terminal.readSecretLine(from: 0)
            guard !secret.isEmpty else {
                throw MailSecError(.invalidInput, "no \(what) on standard input", remedy: "pipe it in, or give --password-file FILE")
            }
            return secret
        }
        guard let secret = try Terminal.readSecret(prompt: "\(what.prefix(1).uppercased() + what.dropFirst()) for \(user): ") else {
            throw MailSecError(.invalidInput, "no \(what) given and no terminal to ask on", remedy: "pipe it on stdin or give --password-file FILE")
        }
        return secret
    }
}

/// `USER [PASSWORD]` and `--password-file`, for the commands that make AUTH strings.
struct UserAndPassword: ParsableArguments {
    @Argument(help: "User name.")
    var user: String

    @Argument(help: "Password (better: stdin, --password-file or the prompt).")
    var password: String?

    @OptionGroup var secret: SecretInput

    func readPassword() throws -> SecureBytes {
        try secret.read(argument: password, for: user)
    }
}

extension SecureBytes {
    /// For output the user asked for (an AUTH string): the bytes as text.
    var text: String { withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
}
