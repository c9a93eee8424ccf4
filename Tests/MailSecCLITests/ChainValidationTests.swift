import Foundation
import Testing

/// Certificates for path-validation cases, made by a small Python helper
/// with the cryptography package from a description of each certificate
/// (issuer, key, dates, extensions), so every rule can be broken on purpose.
struct PKIFactory {
    /// One certificate to make; `issuer` names another (or itself: self-signed).
    struct Spec: Encodable {
        var name: String
        var issuer: String
        var cn: String
        var ca = false
        var key = "ec256"
        /// Seconds from now.
        var notBefore = -86_400
        var notAfter = 86_400 * 90
        var basicConstraints = true
        var basicConstraintsCritical = true
        var pathLength: Int?
        var subjectKeyIdentifier = true
        var authorityKeyIdentifier = true
        /// The AKI with issuer name and serial only, no keyIdentifier.
        var authorityKeyIdentifierWithoutKeyID = false
        var keyUsage: [String]?
        var extendedKeyUsage: [String]?
        var sans: [String] = []
        var sanCritical = false
        var emptySubject = false
        var permitted: [String] = []
        var excluded: [String] = []
        var policyConstraintsCritical: Bool?
        /// A second issuer key by this name signs instead (a bad signature).
        var signedByKeyOf: String?

        static func root(_ name: String = "root", cn: String = "Test Root") -> Spec {
            Spec(name: name, issuer: name, cn: cn, ca: true, notAfter: 86_400 * 3650, authorityKeyIdentifier: false,
                 keyUsage: ["keyCertSign", "cRLSign"])
        }

        static func intermediate(_ name: String = "inter", issuer: String = "root", cn: String = "Test Intermediate") -> Spec {
            Spec(name: name, issuer: issuer, cn: cn, ca: true, notAfter: 86_400 * 1825, keyUsage: ["keyCertSign", "cRLSign"])
        }

        static func leaf(_ name: String = "leaf", issuer: String = "inter", sans: [String] = ["mail.example.com"]) -> Spec {
            Spec(name: name, issuer: issuer, cn: "mail.example.com", keyUsage: ["digitalSignature"], extendedKeyUsage: ["serverAuth"], sans: sans)
        }
    }

    /// A CRL by `issuer` listing `revoked` certificates.
    struct CRLSpec: Encodable {
        var name: String
        var issuer: String
        var revoked: [String]
        /// Signed with the key of another certificate: a CRL that does not verify.
        var signedByKeyOf: String?
    }

    let directory: TemporaryDirectory

    init(_ specs: [Spec], crls: [CRLSpec] = []) throws {
        directory = try TemporaryDirectory()
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let input = try encoder.encode(["certificates": specs.map(AnyEncodable.init)] as [String: [AnyEncodable]])
        let crlInput = try encoder.encode(crls)
        try input.write(to: URL(fileURLWithPath: directory.file("spec.json")))
        try crlInput.write(to: URL(fileURLWithPath: directory.file("crls.json")))
        let made = try run("/usr/bin/env", ["python3", "-c", Self.script, directory.path])
        #expect(made.status == 0, "\(made.stderr)")
    }

    func path(_ name: String) -> String { directory.file(name + ".pem") }

    /// A file with these certificates, in this order.
    func bundle(_ names: [String], as file: String) throws -> String {
        let text = try names.map { try String(contentsOfFile: path($0), encoding: .utf8) }.joined()
        try text.write(toFile: directory.file(file), atomically: true, encoding: .utf8)
        return directory.file(file)
    }

    static let script = #"""
    import datetime, json, sys
    from cryptography import x509
    from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    directory = sys.argv[1]
    specs = json.load(open(directory + "/spec.json"))["certificates"]
    crls = json.load(open(directory + "/crls.json"))
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    def make_key(kind):
        if kind == "ec256": return ec.generate_private_key(ec.SECP256R1())
        if kind == "ec192": return ec.generate_private_key(ec.SECP192R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    keys, certs, serials = {}, {}, {}
    for spec in specs:
        keys[spec["name"]] = make_key(spec["key"])
    eku = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}
    for number, spec in enumerate(specs, start=2):
        key, issuer_spec = keys[spec["name"]], next(s for s in specs if s["name"] == spec["issuer"])
        subject = x509.Name([]) if spec["empty_subject"] else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec["cn"])])
        # An issuer not made yet (a loop) is named by its CN.
        issuer_name = subject if spec["issuer"] == spec["name"] else (certs[spec["issuer"]].subject if spec["issuer"] in certs
                      else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_spec["cn"])]))
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
                   .serial_number(number).not_valid_before(now + datetime.timedelta(seconds=spec["not_before"]))
                   .not_valid_after(now + datetime.timedelta(seconds=spec["not_after"])))
        if spec["basic_constraints"]:
            builder = builder.add_extension(x509.BasicConstraints(ca=spec["ca"], path_length=spec.get("path_length")), spec["basic_constraints_critical"])
        if spec["subject_key_identifier"]:
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        issuer_key = keys[spec["issuer"]]
        if spec["authority_key_identifier"] and spec["issuer"] != spec["name"]:
            if spec["authority_key_identifier_without_key_id"]:
                builder = builder.add_extension(x509.AuthorityKeyIdentifier(None, [x509.DirectoryName(certs[spec["issuer"]].issuer)], certs[spec["issuer"]].serial_number), False)
            else:
                builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False)
        if spec.get("key_usage") is not None:
            usage = {name: name in spec.get("key_usage") for name in ["digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign"]}
            builder = builder.add_extension(x509.KeyUsage(usage["digitalSignature"], usage["contentCommitment"], usage["keyEncipherment"], usage["dataEncipherment"],
                                                          usage["keyAgreement"], usage["keyCertSign"], usage["cRLSign"], False, False), True)
        if spec.get("extended_key_usage") is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([eku[name] for name in spec.get("extended_key_usage")]), False)
        if spec["sans"]:
            names = [x509.IPAddress(__import__("ipaddress").ip_address(n[3:])) if n.startswith("IP:") else x509.DNSName(n) for n in spec["sans"]]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), spec["san_critical"])
        if spec["permitted"] or spec["excluded"]:
            builder = builder.add_extension(x509.NameConstraints([x509.DNSName(n) for n in spec["permitted"]] or None,
                                                                 [x509.DNSName(n) for n in spec["excluded"]] or None), True)
        if spec.get("policy_constraints_critical") is not None:
            builder = builder.add_extension(x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None), spec.get("policy_constraints_critical"))
        signer = keys[spec.get("signed_by_key_of")] if spec.get("signed_by_key_of") else issuer_key
        certs[spec["name"]] = builder.sign(signer, hashes.SHA256())
        open(f"{directory}/{spec['name']}.pem", "wb").write(certs[spec["name"]].public_bytes(serialization.Encoding.PEM))
        open(f"{directory}/{spec['name']}.key", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for crl in crls:
        issuer = certs[crl["issuer"]]
        builder = x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(now - datetime.timedelta(hours=1)).next_update(now + datetime.timedelta(days=7))
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(keys[crl["issuer"]].public_key()), False)
        builder = builder.add_extension(x509.CRLNumber(1), False)
        for name in crl["revoked"]:
            builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(certs[name].serial_number).revocation_date(now - datetime.timedelta(minutes=30)).build())
        signer = keys[crl.get("signed_by_key_of")] if crl.get("signed_by_key_of") else keys[crl["issuer"]]
        open(f"{directory}/{crl['name']}.pem", "wb").write(builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    """#
}

/// Type erasure for the factory's JSON input.
struct AnyEncodable: Encodable {
    let encode: (Encoder) throws -> Void
    init<T: Encodable>(_ value: T) { encode = value.encode }
    func encode(to encoder: Encoder) throws { try encode(encoder) }
}

/// `verify`'s chain against the RFC 5280 / CA-Browser-Forum rules, each case cross-checked with openssl.
@Suite(.tags(.integration), .timeLimit(.minutes(10))) struct ChainValidationTests {
    /// mailsec's verdict (the statuses) and openssl's (exit 0 or not) on the same files.
    struct Verdicts {
        let statuses: [String: String]
        let checks: [[String: Any]]
        let mailsecOK: Bool
        let opensslOK: Bool
        let opensslOutput: String
        func message(_ id: String) -> String { (checks.first { $0["id"] as? String == id }?["message"] as? String) ?? "" }
    }

    func verify(_ factory: PKIFactory, leaf: String = "leaf", pool: [String] = ["inter"], anchors: [String] = ["root"],
                crls: [String] = [], atTime: Date? = nil, extra: [String] = []) throws -> Verdicts {
        let poolFile = pool.isEmpty ? nil : try factory.bundle(pool, as: "pool.pem")
        let anchorFile = try factory.bundle(anchors, as: "anchors.pem")
        var arguments = ["verify", "--json", "--cert", factory.path(leaf), "--ca-file", anchorFile, "--host", "mail.example.com"] + extra
        if let poolFile { arguments += ["--chain", poolFile] }
        for crl in crls { arguments += ["--crl", factory.path(crl)] }
        var opensslArguments = ["verify", "-x509_strict", "-partial_chain", "-purpose", "sslserver", "-auth_level", "2",
                                "-verify_hostname", "mail.example.com", "-CAfile", anchorFile]
        if let atTime {
            let seconds = Int(atTime.timeIntervalSince1970)
            arguments += ["--at-time", ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))]
            opensslArguments += ["-attime", String(seconds)]
        }
        if let poolFile { opensslArguments += ["-untrusted", poolFile] }
        if !crls.isEmpty {
            opensslArguments += ["-crl_check_all"]
            for crl in crls { opensslArguments += ["-CRLfile", factory.path(crl)] }
        }
        let result = try mailsec(arguments: arguments)
        let json = (try? parseJSON(result.stdout)) ?? [:]
        let checks = (json["checks"] as? [[String: Any]]) ?? []
        let statuses = Dictionary(checks.map { ($0["id"] as! String, $0["status"] as! String) }, uniquingKeysWith: { $1 })
        let openssl = try run("/usr/bin/openssl", opensslArguments + [factory.path(leaf)])
        return Verdicts(statuses: statuses, checks: checks, mailsecOK: result.status == 0, opensslOK: openssl.status == 0,
                        opensslOutput: openssl.stdout + openssl.stderr)
    }

    typealias Spec = PKIFactory.Spec

    /// A case: the certificates, and what must go wrong.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        /// Builds the specs from the standard root, intermediate and leaf.
        let change: @Sendable (inout Spec, inout Spec, inout Spec) -> Void
        /// The words the chain's message must contain (nil: the chain passes).
        let mentions: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a good chain", change: { _, _, _ in }, mentions: nil),
        Case(name: "an expired intermediate", change: { _, inter, _ in inter.notBefore = -86_400 * 30; inter.notAfter = -86_400 }, mentions: "the intermediate CN=Test Intermediate expired"),
        Case(name: "a not-yet-valid root", change: { root, _, _ in root.notBefore = 86_400 }, mentions: "is not valid before"),
        Case(name: "a leaf without authorityKeyIdentifier", change: { _, _, leaf in leaf.authorityKeyIdentifier = false }, mentions: "authority key identifier"),
        Case(name: "a CA without subjectKeyIdentifier", change: { _, inter, _ in inter.subjectKeyIdentifier = false }, mentions: "subject key identifier"),
        Case(name: "a CA whose basicConstraints is not critical", change: { _, inter, _ in inter.basicConstraintsCritical = false }, mentions: "basic constraints"),
        Case(name: "a CA without basicConstraints", change: { _, inter, _ in inter.basicConstraints = false }, mentions: "CN=Test Intermediate is used as a CA but is not one"),
        Case(name: "keyCertSign in a leaf", change: { _, _, leaf in leaf.keyUsage = ["digitalSignature", "keyCertSign"] }, mentions: "keyCertSign"),
        Case(name: "an empty subject with a non-critical subjectAltName", change: { _, _, leaf in leaf.emptySubject = true }, mentions: "Subject empty"),
        Case(name: "an intermediate with RSA 1024", change: { _, inter, _ in inter.key = "rsa1024" }, mentions: "key too weak"),
        Case(name: "a root with RSA 1024", change: { root, _, _ in root.key = "rsa1024" }, mentions: "key too weak"),
        Case(name: "an intermediate whose EKU excludes serverAuth", change: { _, inter, _ in inter.extendedKeyUsage = ["clientAuth"] }, mentions: "excludes serverAuth"),
        Case(name: "an issuer that is there but not a CA", change: { _, inter, _ in inter.ca = false; inter.keyUsage = ["digitalSignature"] }, mentions: "CN=Test Intermediate is used as a CA but is not one"),
        Case(name: "an issuer whose key did not sign the leaf", change: { _, _, leaf in leaf.signedByKeyOf = "root" }, mentions: "the signature on CN=mail.example.com does not verify"),
        Case(name: "a name outside the permitted subtrees", change: { _, inter, _ in inter.permitted = ["example.org"] }, mentions: "permitted"),
        Case(name: "an AKI without keyIdentifier", change: { _, _, leaf in leaf.authorityKeyIdentifierWithoutKeyID = true }, mentions: "Missing Authority Key Identifier"),
        Case(name: "policyConstraints not critical", change: { _, inter, _ in inter.policyConstraintsCritical = false }, mentions: "policyConstraints"),
        Case(name: "nameConstraints in a leaf", change: { _, _, leaf in leaf.excluded = ["example.org"] }, mentions: "only in CA certificates"),
    ]

    /// Where mailsec and openssl part ways on purpose, and the rule that says so.
    static let deliberate: [String: String] = [
        "policyConstraints not critical": "RFC 5280 4.2.1.11: policyConstraints must be critical; OpenSSL 3.0 does not check",
        "nameConstraints in a leaf": "RFC 5280 4.2.1.10: nameConstraints only in CA certificates; OpenSSL 3.0 does not check",
    ]

    @Test(arguments: cases)
    func eachRuleIsAppliedAndAgreesWithOpenSSL(_ testCase: Case) throws {
        var (root, inter, leaf) = (Spec.root(), Spec.intermediate(), Spec.leaf())
        testCase.change(&root, &inter, &leaf)
        let factory = try PKIFactory([root, inter, leaf])
        let verdicts = try verify(factory)
        if let mentions = testCase.mentions {
            #expect(verdicts.statuses["chain"] == "fail", "\(verdicts.message("chain"))")
            #expect(verdicts.message("chain").localizedCaseInsensitiveContains(mentions), "\(verdicts.message("chain"))")
            #expect(!verdicts.mailsecOK)
            let check = verdicts.checks.first { $0["id"] as? String == "chain" }
            #expect((check?["remedy"] as? String)?.isEmpty == false)
        } else {
            #expect(verdicts.statuses["chain"] == "pass", "\(verdicts.message("chain"))")
            #expect(verdicts.mailsecOK)
        }
        if Self.deliberate[testCase.name] != nil {
            #expect(verdicts.opensslOK, "openssl accepts it (the documented difference): \(verdicts.opensslOutput)")
        } else {
            #expect(verdicts.opensslOK == verdicts.mailsecOK, "openssl: \(verdicts.opensslOutput)")
        }
    }

    @Test func partialChainsAnchorAtATrustedIntermediateOrAPinnedLeaf() throws {
        let factory = try PKIFactory([Spec.root(), Spec.intermediate(), Spec.leaf()])
        let atIntermediate = try verify(factory, pool: [], anchors: ["inter"])
        #expect(atIntermediate.statuses["chain"] == "pass", "\(atIntermediate.message("chain"))")
        #expect(atIntermediate.opensslOK)
        let pinned = try verify(factory, pool: [], anchors: ["leaf"])
        #expect(pinned.statuses["chain"] == "pass", "\(pinned.message("chain"))")
        #expect(pinned.opensslOK)
    }

    @Test func intermediatesArePoolsInAnyOrderWithSurplusAndAlternatives() throws {
        // root -> inter1 -> inter2 -> leaf, plus an unrelated CA and an expired cross-signed copy of inter1.
        var inter1 = Spec.intermediate("inter1", cn: "Inter One"), inter2 = Spec.intermediate("inter2", issuer: "inter1", cn: "Inter Two")
        inter1.pathLength = nil
        var expiredCopy = Spec.intermediate("old-inter1", issuer: "other", cn: "Inter One")
        expiredCopy.notBefore = -86_400 * 400
        expiredCopy.notAfter = -86_400
        let factory = try PKIFactory([Spec.root(), Spec.root("other", cn: "Other Root"), inter1, expiredCopy, inter2, Spec.leaf(issuer: "inter2")])
        // Shuffled, with a surplus certificate and an expired alternative: the path is still found.
        let shuffled = try verify(factory, pool: ["other", "inter1", "old-inter1", "inter2"], anchors: ["root"])
        #expect(shuffled.statuses["chain"] == "pass", "\(shuffled.message("chain"))")
        #expect(shuffled.opensslOK, "\(shuffled.opensslOutput)")
        #expect(shuffled.message("chain").contains("Inter Two") && shuffled.message("chain").contains("Inter One"))
        // What the server would send is another matter: chain-order judges the file.
        let scrambled = try factory.bundle(["leaf", "inter1", "inter2"], as: "scrambled.pem")
        let order = try mailsec("verify", "--json", "--cert", scrambled, "--ca-file", factory.path("root"), "--host", "mail.example.com")
        let checks = (try parseJSON(order.stdout)["checks"] as? [[String: Any]]) ?? []
        #expect(checks.first { $0["id"] as? String == "chain" }?["status"] as? String == "pass")
        let chainOrder = checks.first { $0["id"] as? String == "chain-order" }
        #expect(chainOrder?["status"] as? String == "fail")
        #expect((chainOrder?["message"] as? String)?.contains(scrambled) == true, "names the file")
    }

    @Test func wildcardsAreJudgedByTheNameConstraints() throws {
        // A wildcard under a narrower permitted subtree, and over an excluded name.
        for (permitted, excluded, mentions) in [(["mail.example.com"], [String](), "covers names outside the permitted"), ([], ["bad.example.com"], "covers bad.example.com")] {
            var inter = Spec.intermediate()
            inter.permitted = permitted
            inter.excluded = excluded
            let factory = try PKIFactory([Spec.root(), inter, Spec.leaf(sans: ["*.example.com", "mail.example.com"])])
            let verdicts = try verify(factory)
            #expect(verdicts.statuses["chain"] == "fail", "\(verdicts.message("chain"))")
            #expect(verdicts.message("chain").contains(mentions), "\(verdicts.message("chain"))")
        }
    }

    @Test func underscoresInDNSNamesFail() throws {
        let factory = try PKIFactory([Spec.root(), Spec.intermediate(), Spec.leaf(sans: ["mail.example.com", "_dmarc.example.com"])])
        let verdicts = try verify(factory)
        #expect(verdicts.statuses["chain"] == "fail")
        #expect(verdicts.message("chain").contains("must not contain '_'"))
        // A documented difference: OpenSSL 3.0 accepts it; the baseline requirements 7.1.4.2.1 forbid it.
        #expect(verdicts.opensslOK)
    }

    @Test func crlsRevokeAndMustVerify() throws {
        let specs = [Spec.root(), Spec.intermediate(), Spec.leaf()]
        let factory = try PKIFactory(specs, crls: [
            .init(name: "inter-crl", issuer: "inter", revoked: ["leaf"]),
            .init(name: "root-crl", issuer: "root", revoked: []),
            .init(name: "clean-inter-crl", issuer: "inter", revoked: []),
            .init(name: "forged-crl", issuer: "inter", revoked: [], signedByKeyOf: "root"),
        ])
        let revoked = try verify(factory, crls: ["inter-crl", "root-crl"])
        #expect(revoked.statuses["crl"] == "fail" && revoked.message("crl").contains("revoked"), "\(revoked.message("crl"))")
        #expect(!revoked.mailsecOK && !revoked.opensslOK)
        let clean = try verify(factory, crls: ["clean-inter-crl", "root-crl"])
        #expect(clean.statuses["crl"] == "pass", "\(clean.message("crl"))")
        #expect(clean.mailsecOK && clean.opensslOK, "\(clean.opensslOutput)")
        let forged = try verify(factory, crls: ["forged-crl", "root-crl"])
        #expect(forged.statuses["crl"] == "fail", "\(forged.message("crl"))")
        #expect(!forged.opensslOK)
        // No CRL for one issuer: that certificate was not checked, which is said, and is a warning.
        let partial = try verify(factory, crls: ["clean-inter-crl"])
        #expect(partial.statuses["crl"] == "warn", "\(partial.message("crl"))")
    }

    @Test func atTimeValidatesTheWholeChainThen() throws {
        var inter = Spec.intermediate()
        inter.notAfter = 86_400 * 10
        let factory = try PKIFactory([Spec.root(), inter, Spec.leaf()])
        let now = Date()
        let inside = try verify(factory, atTime: now.addingTimeInterval(86_400 * 5))
        #expect(inside.statuses["chain"] == "pass" && inside.opensslOK)
        let after = try verify(factory, atTime: now.addingTimeInterval(86_400 * 20))
        #expect(after.statuses["chain"] == "fail" && after.message("chain").contains("expired"), "\(after.message("chain"))")
        #expect(!after.opensslOK)
        let before = try verify(factory, atTime: now.addingTimeInterval(-86_400 * 5))
        #expect(before.statuses["validity"] == "fail", "the leaf is not valid yet then")
        #expect(!before.opensslOK)
    }

    /// notAfter is inclusive and compared to the second (RFC 5280 4.1.2.5). A
    /// documented difference: OpenSSL counts the notAfter second itself as expired.
    @Test func notAfterIsInclusiveToTheSecond() throws {
        let factory = try PKIFactory([Spec.root(), Spec.intermediate(), Spec.leaf()])
        let files = try #require(try parseJSON(try mailsec("inspect", "--json", factory.path("leaf")).stdout)["files"] as? [[String: Any]])
        let notAfter = try #require((files.first?["objects"] as? [[String: Any]])?.first?["not_after"] as? String)
        let end = try #require(ISO8601DateFormatter().date(from: notAfter))
        let last = try verify(factory, atTime: end)
        #expect(last.statuses["validity"] == "pass", "valid through its last second")
        #expect(!last.opensslOK, "openssl: \(last.opensslOutput)")
        let afterwards = try verify(factory, atTime: end.addingTimeInterval(1))
        #expect(afterwards.statuses["validity"] == "fail")
        #expect(!afterwards.opensslOK)
    }

    @Test func maxDepthLimitsThePath() throws {
        let factory = try PKIFactory([Spec.root(), Spec.intermediate(), Spec.leaf()])
        let shallow = try verify(factory, extra: ["--max-depth", "0"])
        #expect(shallow.statuses["chain"] == "fail", "\(shallow.message("chain"))")
        let enough = try verify(factory, extra: ["--max-depth", "1"])
        #expect(enough.statuses["chain"] == "pass", "\(enough.message("chain"))")
    }
}

extension HardeningTests {
    // Issue 12, defect 24: in a cyclic chain, a certificate that is in the file was called "not in the file".
    @Test func aCyclicChainIsCalledALoop() throws {
        let a = PKIFactory.Spec.intermediate("a", issuer: "b", cn: "CA A"), b = PKIFactory.Spec.intermediate("b", issuer: "a", cn: "CA B")
        let factory = try PKIFactory([a, b, .root("unrelated", cn: "Unrelated Root"), .leaf(issuer: "a")])
        let pool = try factory.bundle(["a", "b"], as: "pool.pem")
        let result = try mailsec("verify", "--json", "--cert", factory.path("leaf"), "--chain", pool, "--ca-file", factory.path("unrelated"), "--host", "mail.example.com")
        let chain = ((try parseJSON(result.stdout)["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "chain" }
        let message = (chain?["message"] as? String) ?? ""
        #expect(chain?["status"] as? String == "fail")
        #expect(message.contains("loops"), "\(message)")
        #expect(!message.contains("neither in the files given"), "\(message)")
    }
}

extension ChainValidationTests {
    /// RFC 5280 4.1.2.2: a serial must be positive. cryptography will not write
    /// a zero serial, so the leaf's DER is patched (its signature breaks too,
    /// which is reported beside it).
    @Test func aZeroSerialIsRefused() throws {
        let factory = try PKIFactory([Spec.root(), Spec.intermediate(), Spec.leaf()])
        let der = factory.directory.file("leaf.der")
        try openssl("x509", "-in", factory.path("leaf"), "-outform", "DER", "-out", der)
        var bytes = Array(try readFile(der))
        // The leaf is the third certificate made: serial 4, encoded 02 01 04 right after the version.
        let version: [UInt8] = [0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x04]
        let start = try #require((0...(bytes.count - version.count)).first { Array(bytes[$0..<($0 + version.count)]) == version })
        bytes[start + version.count - 1] = 0x00
        try Data(bytes).write(to: URL(fileURLWithPath: der))
        let pool = try factory.bundle(["inter"], as: "pool.pem")
        let result = try mailsec("verify", "--json", "--cert", der, "--chain", pool, "--ca-file", factory.path("root"), "--host", "mail.example.com")
        let chain = ((try parseJSON(result.stdout)["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "chain" }
        #expect(chain?["status"] as? String == "fail")
        #expect((chain?["message"] as? String)?.contains("serial number is zero") == true, "\(chain?["message"] ?? "")")
    }
}
