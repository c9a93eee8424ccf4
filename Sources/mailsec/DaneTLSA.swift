import ArgumentParser
import MailSec

struct DaneTLSA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tlsa",
        abstract: "Print the TLSA records to publish, in zone-file form: the current key's first, the next keys' after.",
        discussion: """
        3 1 1 (DANE-EE, the public key, SHA-256) is what RFC 7672 recommends: it survives every renewal that \
        keeps the key. Before a renewal with a new key, publish the new key's record beside the current one \
        (--next-key) and wait twice the RRset's TTL; then deploy.

        Examples:
          mailsec dane tlsa --cert /etc/pki/tls/certs/mail.example.com.crt --host mail.example.com
          mailsec dane tlsa --key private/mail.example.com.key --next-key private/mail.example.com.next.key --host mail.example.com
          mailsec dane tlsa --cert fullchain.pem --usage 2 --host mail.example.com --submission
        """
    )

    @Option(help: ArgumentHelp("The certificate (for usage 2, with its chain), PEM or DER.", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The current private key (alone: selector 1 records).", valueName: "file"))
    var key: String?

    @Option(name: .customLong("next-key"), help: ArgumentHelp("A key that will replace the current one (repeatable).", valueName: "file"))
    var nextKey: [String] = []

    @Option(help: ArgumentHelp("The MX host name the records are for.", valueName: "name"))
    var host: String

    @Option(help: ArgumentHelp("A TCP port (repeatable; default 25).", valueName: "port"))
    var port: [UInt16] = []

    @Flag(help: "Also the submission ports, 465 and 587.")
    var submission = false

    @Option(help: "Certificate usage: 3 (DANE-EE, the server's key) or 2 (DANE-TA, the issuing CA).")
    var usage: UInt8 = 3

    @Option(help: "Selector: 1 (the public key, survives renewals) or 0 (the whole certificate).")
    var selector: UInt8 = 1

    @Option(help: "Matching type: 1 (SHA-256) or 2 (SHA-512).")
    var mtype: UInt8 = 1

    @Flag(help: "Print a JSON array of records.")
    var json = false

    func validate() throws {
        guard usage == 2 || usage == 3 else { throw ValidationError("--usage must be 3 (DANE-EE) or 2 (DANE-TA); SMTP senders ignore 0 and 1 (RFC 7672)") }
        guard selector <= 1 else { throw ValidationError("--selector must be 1 or 0") }
        guard mtype == 1 || mtype == 2 else { throw ValidationError("--mtype must be 1 (SHA-256) or 2 (SHA-512)") }
        guard cert != nil || key != nil else { throw ValidationError("give --cert, --key or both") }
        do { _ = try Hostname.normalize(host.hasSuffix(".") ? String(host.dropLast()) : host, field: "--host") }
        catch let error as MailSecError { throw ValidationError(error.message) }
        if port.contains(0) { throw ValidationError("--port must be between 1 and 65535") }
    }

    var ports: [UInt16] {
        var chosen = port.isEmpty ? [25] : port
        if submission { chosen += [465, 587] }
        var seen = Set<UInt16>()
        return chosen.filter { seen.insert($0).inserted }
    }

    func run() throws {
        var plan: TLSAPlan?
        try runReportingErrors {
            plan = try TLSAPlan(certificate: cert, key: key, nextKeys: nextKey, usage: TLSARecord.Usage(rawValue: usage)!,
                                selector: TLSARecord.Selector(rawValue: selector)!, matchingType: TLSARecord.MatchingType(rawValue: mtype)!)
        }
        guard let plan else { return }
        let name = host.lowercased()
        if json {
            try JSONOutput.print(ports.flatMap { port in
                plan.entries.map { TLSAJSON(name: TLSARecord.ownerName(host: name, port: port), role: $0.role.rawValue, source: $0.source,
                                            usage: $0.record.usage.rawValue, selector: $0.record.selector.rawValue,
                                            mtype: $0.record.matchingType.rawValue, data: Hex.encode($0.record.data)) }
            })
            return
        }
        for entry in plan.entries {
            print("; \(entry.role.rawValue), from \(TextSanitizer.escaped(entry.source))")
            for port in ports { print(entry.record.zoneLine(host: name, port: port)) }
        }
    }
}

struct TLSAJSON: Encodable {
    let name: String
    let role: String
    let source: String
    let usage: UInt8
    let selector: UInt8
    let mtype: UInt8
    let data: String
}
