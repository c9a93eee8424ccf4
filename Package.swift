// swift-tools-version:6.0
import PackageDescription

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
