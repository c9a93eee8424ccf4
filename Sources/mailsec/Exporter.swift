import ArgumentParser
import MailSecCLI
import Glibc
import MailSec

/// `mailsec exporter`: parses the exporter's options here, so that help, man
/// page and completions are whole, then becomes `mailsec-exporter` (beside
/// this program) with the same arguments. The server's libraries stay out of
/// `mailsec`; see `ExporterOptions` for why.
struct ExporterCommand: ParsableCommand {
    static let configuration = ExporterOptions.configuration

    @OptionGroup var options: ExporterOptions

    func run() throws {
        let program = Self.exporterProgram
        guard access(program, X_OK) == 0 else {
            printErrorWithRemedy(MailSecError(.io, "the exporter program \(program) is missing (\(Errno(errno)))",
                                              remedy: "install mailsec-exporter beside mailsec: Scripts/install does, and so does the Debian package"))
            throw ExitStatus.couldNotRun
        }
        // What follows `exporter` on our command line, as given: already valid, since it parsed.
        let all = CommandLine.arguments
        let arguments = all.firstIndex(of: "exporter").map { Array(all[($0 + 1)...]) } ?? []
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        execv(program, argv)
        printErrorWithRemedy(MailSecError(.io, "cannot run \(program): \(Errno(errno))"))
        throw ExitStatus.couldNotRun
    }

    /// `mailsec-exporter` in the directory this program was run from.
    static var exporterProgram: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let me = length > 0 ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        let directory = me.lastIndex(of: "/").map { String(me[..<$0]) } ?? "."
        return directory + "/mailsec-exporter"
    }
}
