import Foundation
import Testing

/// The Debian package Scripts/package builds (Scripts/test builds it into
/// .build/package before the tests run): what it holds, lintian's verdict,
/// and an install and purge on this machine, the binary run without Swift.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct PackageTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func package() throws -> String {
        let directory = Self.repository + "/.build/package"
        let debs = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("mailsec_") && $0.hasSuffix(".deb") }
        guard let deb = debs.sorted().last else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no mailsec_*.deb in \(directory): run Scripts/package --output .build/package (Scripts/test does, before swift test)"])
        }
        return directory + "/" + deb
    }

    @Test func thePackageHoldsEverythingAndLintianFindsNothing() throws {
        let deb = try package()
        let depends = try run("/usr/bin/dpkg-deb", ["-f", deb, "Depends"]).stdout
        for library in ["libc6", "libssl3", "libsasl2-2", "libunbound8"] { #expect(depends.contains(library), "\(depends)") }
        #expect(!depends.lowercased().contains("swift"), "the Swift runtime is linked in: \(depends)")
        let listing = try run("/usr/bin/dpkg-deb", ["-c", deb]).stdout
        let files = Set(listing.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        var expected = ["./usr/bin/mailsec", "./usr/bin/mailsec-exporter", "./etc/mailsec/exporter.yml", "./usr/share/doc/mailsec/copyright", "./usr/share/doc/mailsec/changelog.gz",
                        "./usr/share/bash-completion/completions/mailsec", "./usr/share/zsh/vendor-completions/_mailsec",
                        "./usr/share/fish/vendor_completions.d/mailsec.fish", "./lib/systemd/system/mailsec-exporter.service",
                        "./lib/systemd/system/mailsec-audit.service", "./lib/systemd/system/mailsec-audit.timer"]
        // A page for the tool and for every command, leaves and groups alike.
        for page in ["mailsec", "mailsec-genkey", "mailsec-ca-create", "mailsec-inspect", "mailsec-verify", "mailsec-auth", "mailsec-auth-test",
                     "mailsec-probe", "mailsec-preflight", "mailsec-audit", "mailsec-deploy", "mailsec-exporter", "mailsec-dane", "mailsec-dane-tlsa"] {
            expected.append("./usr/share/man/man1/\(page).1.gz")
        }
        for file in expected { #expect(files.contains(file), "\(file) is missing") }
        #expect(try run("/usr/bin/dpkg-deb", ["-f", deb, "Version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                == (try mailsec("--version")).stdout.trimmingCharacters(in: .whitespacesAndNewlines))

        // Errors and warnings both fail; the one override (the libyaml inside Yams) says why in the package.
        let lintian = try run("/usr/bin/lintian", ["--fail-on", "error,warning", deb], timeout: 300)
        #expect(lintian.status == 0, "\(lintian.stdout)\(lintian.stderr)")
        #expect(!lintian.stdout.contains("E: ") && !lintian.stdout.contains("W: "), "\(lintian.stdout)")
    }

    @Test func itInstallsRunsWithoutSwiftAndPurgesCleanly() throws {
        let deb = try package()
        let environment = ["DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let installed = try run("/usr/bin/apt-get", ["install", "-y", "-q", "--no-install-recommends", deb], environment: environment, timeout: 300)
        #expect(installed.status == 0, "\(installed.stdout)\(installed.stderr)")
        defer { _ = try? run("/usr/bin/apt-get", ["purge", "-y", "-q", "mailsec"], environment: environment, timeout: 300) }

        // No Swift on this machine as far as the binary can tell: /opt/swift hidden under an empty tmpfs.
        let alone = try run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", "mount -t tmpfs none /opt/swift && /usr/bin/mailsec --version && /usr/bin/mailsec dane tlsa --help"])
        #expect(alone.status == 0 && alone.stdout.contains("TLSA"), "\(alone.stdout)\(alone.stderr)")
        for program in ["/usr/bin/mailsec", "/usr/bin/mailsec-exporter"] {
            let libraries = try run("/usr/bin/ldd", [program]).stdout
            #expect(!libraries.contains("libswift") && !libraries.contains("not found"), "\(program): \(libraries)")
        }
        // The exporter is its own program; `mailsec exporter` runs it with the same arguments.
        let exporter = try run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", "mount -t tmpfs none /opt/swift && /usr/bin/mailsec-exporter --help && /usr/bin/mailsec exporter --listen 127.0.0.1:1 --config /nonexistent"])
        #expect(exporter.stdout.contains("USAGE: mailsec-exporter") && exporter.stderr.contains("/nonexistent"), "\(exporter.stdout)\(exporter.stderr)")

        #expect(try run("/usr/bin/man", ["-w", "mailsec-probe"]).stdout.contains("/usr/share/man/man1/mailsec-probe.1.gz"))
        let whatis = try run("/usr/bin/lexgrog", ["/usr/share/man/man1/mailsec-dane-tlsa.1.gz"]).stdout
        #expect(whatis.contains("mailsec-dane-tlsa - "), "\(whatis)")
        let completion = try run("/bin/bash", ["-c", "source /usr/share/bash-completion/completions/mailsec && complete -p mailsec"])
        #expect(completion.status == 0 && completion.stdout.contains("mailsec"), "\(completion.stdout)\(completion.stderr)")
        let units = ["mailsec-exporter.service", "mailsec-audit.service", "mailsec-audit.timer"].map { "/lib/systemd/system/" + $0 }
        let verified = try run("/usr/bin/systemd-analyze", ["verify"] + units)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let hardened = try String(contentsOfFile: units[0], encoding: .utf8)
        for setting in ["DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict"] { #expect(hardened.contains(setting)) }
        let config = try run("/usr/bin/mailsec", ["exporter", "--check-config", "--config", "/etc/mailsec/exporter.yml"])
        #expect(config.status == 0, "the shipped module file is valid: \(config.stderr)")

        let purged = try run("/usr/bin/apt-get", ["purge", "-y", "-q", "mailsec"], environment: environment, timeout: 300)
        #expect(purged.status == 0, "\(purged.stdout)\(purged.stderr)")
        for path in ["/usr/bin/mailsec", "/usr/bin/mailsec-exporter", "/etc/mailsec", "/usr/share/doc/mailsec", "/lib/systemd/system/mailsec-exporter.service", "/usr/share/man/man1/mailsec.1.gz"] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path) is left behind")
        }
        #expect(try run("/usr/bin/dpkg-query", ["-W", "-f=${Status}", "mailsec"]).stdout.contains("not-installed")
                || (try run("/usr/bin/dpkg-query", ["-W", "mailsec"])).status != 0)
    }
}
