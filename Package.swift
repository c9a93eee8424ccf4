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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
        .target(
            name: "MailSec",
            dependencies: ["COpenSSL", "CSASL"]
        ),
        .executableTarget(
            name: "mailsec",
            dependencies: [
                "MailSec",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "MailSecTests",
            dependencies: ["MailSec", "COpenSSL"]
        ),
        .testTarget(
            name: "MailSecCLITests",
            dependencies: ["mailsec", "MailSec"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer harness (Scripts/fuzz) exists only in fuzzing builds: it has
// no `main` of its own and links only against the sanitizer runtimes.
if ProcessInfo.processInfo.environment["MAILSEC_FUZZ"] != nil {
    package.targets += [
        .systemLibrary(name: "CFuzzer", path: "Tests/Fuzz/CFuzzer"),
        .executableTarget(name: "mailsec-fuzz", dependencies: ["MailSec", "CFuzzer"], path: "Tests/Fuzz/Targets"),
    ]
    package.products.append(.executable(name: "mailsec-fuzz", targets: ["mailsec-fuzz"]))
}
