// swift-tools-version:6.0
import PackageDescription
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

let package = Package(
    name: "MailSec",
    products: [
        .library(name: "MailSec", targets: ["MailSec"]),
        .executable(name: "mailsec", targets: ["mailsec"]),
        .executable(name: "mailsec-exporter", targets: ["mailsec-exporter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The exporter only: HTTP/1 straight on SwiftNIO (no web framework to
        // build on every CI run), Yams for its modules, swift-log for its log,
        // swift-prometheus for its own counters and histograms.
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        // The library's documentation only: swift package generate-documentation --target MailSec.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSASL",
            pkgConfig: "libsasl2",
            providers: [.apt(["libsasl2-dev"])]
        ),
        // No pkgConfig: Debian's libunbound.pc requires libevent's and nettle's
        // .pc files (-dev packages MailSec needs nothing else from), and the
        // header and library are on the default paths anyway.
        .systemLibrary(
            name: "CUnbound",
            providers: [.apt(["libunbound-dev"])]
        ),
        .target(
            name: "MailSec",
            dependencies: ["COpenSSL", "CSASL", "CUnbound"]
        ),
        // The Prometheus exporter: its own target, so that the MailSec library
        // never depends on a server framework.
        .target(
            name: "MailSecExporter",
            dependencies: [
                "MailSec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // What both programs' command lines share: the exporter's options, which
        // both parse, and the vocabulary that names mailsec's options in messages.
        .target(
            name: "MailSecCLI",
            dependencies: ["MailSec", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The CLI links no server library: `mailsec exporter` runs mailsec-exporter
        // (NIO, Yams and Foundation would slow every command's start-up).
        .executableTarget(
            name: "mailsec",
            dependencies: [
                "MailSec",
                "MailSecCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "mailsec-exporter",
            dependencies: [
                "MailSec",
                "MailSecExporter",
                "MailSecCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // One program per DocC article, on the public API alone (another module
        // cannot see anything else); swift build builds them, so CI does.
        .executableTarget(name: "example-generate-certificate", dependencies: ["MailSec"], path: "Examples/GenerateCertificate"),
        .executableTarget(name: "example-verify-pair", dependencies: ["MailSec"], path: "Examples/VerifyPair"),
        .executableTarget(name: "example-check-credentials", dependencies: ["MailSec"], path: "Examples/CheckCredentials"),
        .executableTarget(name: "example-probe-server", dependencies: ["MailSec"], path: "Examples/ProbeServer"),
        .executableTarget(name: "example-audit-server", dependencies: ["MailSec"], path: "Examples/AuditServer"),
        .executableTarget(name: "example-deploy-renewal", dependencies: ["MailSec"], path: "Examples/DeployRenewal"),
        .testTarget(
            name: "MailSecTests",
            dependencies: ["MailSec", "COpenSSL"]
        ),
        .testTarget(
            name: "MailSecCLITests",
            dependencies: ["mailsec", "mailsec-exporter", "MailSec", "MailSecExporter"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer harness (Scripts/fuzz) exists only in fuzzing builds: it has
// no `main` of its own and links only against the sanitizer runtimes.
if ProcessInfo.processInfo.environment["MAILSEC_FUZZ"] != nil {
    package.targets += [
        .systemLibrary(name: "CFuzzer", path: "Tests/Fuzz/CFuzzer"),
        .executableTarget(name: "mailsec-fuzz", dependencies: ["MailSec", "MailSecExporter", "CFuzzer"], path: "Tests/Fuzz/Targets"),
    ]
    package.products.append(.executable(name: "mailsec-fuzz", targets: ["mailsec-fuzz"]))
}
