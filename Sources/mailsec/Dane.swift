import ArgumentParser

struct Dane: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dane",
        abstract: "DANE for mail servers (RFC 7672): the TLSA records to publish for a key and its successor.",
        subcommands: [DaneTLSA.self]
    )
}
