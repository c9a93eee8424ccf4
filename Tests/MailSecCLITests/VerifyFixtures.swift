import Foundation
import Testing

/// Certificates and keys for `mailsec verify`, made at test time with the
/// openssl CLI (an independent tool): a root, an intermediate, and leaves
/// with every defect the checks look for.
final class VerifyFixtures: Sendable {
    /// Started once, on first use. A server that cannot start fails every test
    /// that needs it, with the reason (its log included), instead of ending the run.
    private static let made: Result<VerifyFixtures, any Error> = {
        let made = Result { try VerifyFixtures() }
        return made.mapError { FixtureError(what: "the verify fixtures", underlying: $0) }
    }()

    static var shared: VerifyFixtures { get throws { try made.get() } }

    let directory: String
    private let temp: TemporaryDirectory

    func path(_ name: String) -> String { directory + "/" + name }

    private init() throws {
        temp = try TemporaryDirectory()
        directory = temp.path
        let script = #"""
        set -eu
        cd "$1"
        ext() { printf '%s\n' "$@" > "$EXTFILE"; }
        EXTFILE=ext.cnf
        SERVER="basicConstraints=critical,CA:FALSE
        keyUsage=critical,digitalSignature,keyEncipherment
        extendedKeyUsage=serverAuth"
        NAMES="subjectAltName=DNS:mail.example.com,DNS:*.wild.example.com,DNS:*.xn--bcher-kva.example,DNS:f*.partial.example.com,DNS:xn--mller-kva.example.org,DNS:UPPER.Example.NET,IP:192.0.2.10,IP:2001:db8::10"

        # Root and intermediate CAs.
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -out root.crt -days 3650 \
            -subj '/O=MailSec Test/CN=Test Root' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key -out inter.csr -subj '/O=MailSec Test/CN=Test Intermediate' 2>/dev/null
        printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > inter.cnf
        openssl x509 -req -in inter.csr -CA root.crt -CAkey root.key -CAcreateserial -days 3650 -extfile inter.cnf -out inter.crt 2>/dev/null

        # sign NAME KEYSPEC DAYS EXTENSIONS [DIGEST]: a leaf signed by the intermediate.
        sign() {
            name=$1 keyspec=$2 days=$3 extensions=$4 digest=${5:-sha256}
            openssl genpkey $keyspec -out "$name.key" 2>/dev/null
            openssl req -new -key "$name.key" -subj "/CN=mail.example.com" -out "$name.csr"
            printf '%s\n' "$extensions" > "$name.cnf"
            openssl x509 -req -in "$name.csr" -CA inter.crt -CAkey inter.key -CAcreateserial -days "$days" -"$digest" \
                -extfile "$name.cnf" -out "$name.crt" 2>/dev/null
            chmod 600 "$name.key"
        }
        sign rsa "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" 365 "$SERVER
        $NAMES"
        sign ec "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" 365 "$SERVER
        $NAMES"
        sign ed25519 "-algorithm ED25519" 365 "basicConstraints=critical,CA:FALSE
        keyUsage=critical,digitalSignature
        extendedKeyUsage=serverAuth
        $NAMES"
        sign soon "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" 10 "$SERVER
        $NAMES"
        sign cnonly "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" 365 "$SERVER"
        sign sha1 "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" 365 "$SERVER
        $NAMES" sha1
        sign weak "-algorithm RSA -pkeyopt rsa_keygen_bits:1024" 365 "$SERVER
        $NAMES"
        sign clientonly "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" 365 "basicConstraints=critical,CA:FALSE
        keyUsage=critical,digitalSignature
        extendedKeyUsage=clientAuth
        $NAMES"
        sign caleaf "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" 365 "basicConstraints=critical,CA:TRUE
        $NAMES"

        # Expired and not-yet-valid leaves need explicit dates: openssl ca.
        mkdir -p ca/new && : > ca/index.txt && echo 1000 > ca/serial
        cat > ca.cnf <<CONF
        [ca]
        default_ca = test
        [test]
        dir = ca
        database = ca/index.txt
        new_certs_dir = ca/new
        serial = ca/serial
        certificate = inter.crt
        private_key = inter.key
        default_md = sha256
        policy = anything
        unique_subject = no
        copy_extensions = none
        [anything]
        commonName = supplied
        [server]
        basicConstraints = critical,CA:FALSE
        keyUsage = critical,digitalSignature,keyEncipherment
        extendedKeyUsage = serverAuth
        subjectAltName = DNS:mail.example.com
        CONF
        for pair in "expired 20200101000000Z 20210101000000Z" "future 20400101000000Z 20410101000000Z"; do
            set -- $pair
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
            chmod 600 "$1.key"
            openssl req -new -key "$1.key" -subj /CN=mail.example.com -out "$1.csr"
            openssl ca -batch -config ca.cnf -extensions server -startdate "$2" -enddate "$3" -in "$1.csr" -out "$1.crt" 2>/dev/null
        done

        # Keys with problems.
        openssl pkey -in ec.key -aes256 -passout pass:secret -out encrypted.key
        cp ec.key open.key && chmod 644 open.key
        cp ec.key groupwrite.key && chmod 660 groupwrite.key
        printf 'not a key\n' > garbage.key && chmod 600 garbage.key

        # Chain files in right and wrong orders.
        cat rsa.crt inter.crt > chain-good.pem
        cat rsa.crt inter.crt root.crt > chain-full.pem
        cat inter.crt rsa.crt > chain-leaf-last.pem
        cat rsa.crt root.crt inter.crt > chain-scrambled.pem
        """#
        let result = try run("/bin/bash", ["-c", script, "fixtures", directory])
        guard result.status == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "fixture script failed: \(result.stderr)"])
        }
    }
}

/// Runs `mailsec verify --json` and returns the exit code and each check's status by id.
struct VerifyOutcome {
    let status: Int32
    let statuses: [String: String]
    let json: [String: Any]
    let stderr: String

    init(_ arguments: [String]) throws {
        let result = try mailsec(arguments: ["verify", "--json"] + arguments)
        status = result.status
        stderr = result.stderr
        json = result.stdout.isEmpty ? [:] : try parseJSON(result.stdout)
        var statuses: [String: String] = [:]
        for check in (json["checks"] as? [[String: Any]]) ?? [] {
            guard let id = check["id"] as? String, let status = check["status"] as? String else { continue }
            // Several hostname checks: keep the worst.
            let rank = ["skip": 0, "pass": 1, "warn": 2, "fail": 3]
            if let existing = statuses[id], rank[existing]! >= rank[status]! { continue }
            statuses[id] = status
        }
        self.statuses = statuses
    }

    func check(_ id: String) -> [String: Any]? {
        ((json["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == id }
    }
}
