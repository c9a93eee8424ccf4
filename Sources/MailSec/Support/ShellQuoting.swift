/// Quoting for values pasted into the commands a remedy suggests. A host
/// name from a certificate, a user name or a path from a configuration file is
/// untrusted text: unquoted, `$(...)` or `;` in it would run when an admin
/// copies the fix into a shell.
package enum ShellQuoting {
    /// The value as one shell word: unchanged when it holds only characters
    /// that are never special, else in single quotes (with `'` as `'\''`).
    package static func quote(_ value: String) -> String {
        guard !value.isEmpty else { return "''" }
        let safe = value.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "@%+=:,./_-".unicodeScalars.contains(scalar))
        }
        if safe { return value }
        return "'" + value.replacingOccurrences("'", with: "'\\''") + "'"
    }

    /// A host name as the argument of a suggested `mailsec genkey`: the name
    /// when it is one genkey accepts, else the placeholder HOSTNAME (an empty
    /// or hostile name would make a command that fails or does harm).
    package static func hostArgument(_ host: String) -> String {
        (try? Hostname.normalize(host)) ?? "HOSTNAME"
    }
}
