import HTTPTransport

/// RFC 7636 proof key, generated as `osincli` does for `oc login`: verifier = base64url-no-pad of
/// 96 random bytes (128 characters); challenge = base64url-no-pad(SHA-256(verifier)) with `S256`.
struct PKCE: Sendable, Equatable {
    var verifier: String
    var challenge: String
    var method: String

    /// `S256` when the server lists it in `code_challenge_methods_supported`, else `plain`
    /// (every PKCE server accepts `plain`; the server ignores the parameters without PKCE support).
    static func generate(methodsSupported: [String]) -> PKCE {
        var rng = SystemRandomNumberGenerator()   // getrandom(2): cryptographically secure
        let bytes = (0..<96).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        return make(verifier: Base64.urlNoPad(bytes), methodsSupported: methodsSupported)
    }

    static func make(verifier: String, methodsSupported: [String]) -> PKCE {
        if methodsSupported.contains("S256") {
            return PKCE(verifier: verifier, challenge: s256(verifier), method: "S256")
        }
        return PKCE(verifier: verifier, challenge: verifier, method: "plain")
    }

    static func s256(_ verifier: String) -> String {
        let h = SHA256()
        h.update(Array(verifier.utf8))
        return Base64.urlNoPad(h.finalize())
    }
}

/// Names of OpenShift OAuth tokens.
public enum OpenShiftToken {
    /// The `OAuthAccessToken` object name for a token, as `oc logout` derives it: `sha256~` +
    /// base64url-no-pad(SHA-256(token without the prefix)); a token without the prefix is its own name.
    public static func objectName(_ token: String) -> String {
        let prefix = "sha256~"
        guard token.hasPrefix(prefix) else { return token }
        let h = SHA256()
        h.update(Array(token.dropFirst(prefix.count).utf8))
        return prefix + Base64.urlNoPad(h.finalize())
    }
}
