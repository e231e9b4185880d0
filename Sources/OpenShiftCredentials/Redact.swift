/// Scrubs secrets out of text before it reaches a log line or an error message.
///
/// Known secrets (password, token) are replaced verbatim; unknown ones by shape: OpenShift tokens and
/// authorize codes (`sha256~…`), JWTs (service-account tokens), `Authorization` header values,
/// `Basic`/`Bearer` credentials and `code=`/`access_token=`/`code_verifier=` values. Output is one line.
enum Redact {
    static let marker = "<redacted>"

    static func text(_ input: String, secrets: [String] = []) -> String {
        var s = input
        for secret in secrets where secret.count >= 3 {
            s = s.replacingAll(secret, with: marker)
        }
        var chars = Array(s)
        chars = scrub(chars, after: "authorization:", stopAtBlank: false)
        for word in ["Bearer ", "Basic "] {
            chars = scrub(chars, after: word, stopAtBlank: true, caseSensitive: true, skipWords: ["realm"])
        }
        for word in ["code=", "access_token=", "code_verifier=", "refresh_token=", "password="] {
            chars = scrub(chars, after: word, stopAtBlank: true)
        }
        chars = scrub(chars, after: "sha256~", stopAtBlank: true)
        chars = scrubJWTs(chars)
        return oneLine(String(chars))
    }

    static func oneLine(_ s: String) -> String {
        var out = ""
        var lastWasBreak = false
        for c in s {
            if c == "\n" || c == "\r" || c == "\r\n" {
                if !lastWasBreak && !out.isEmpty { out += " " }
                lastWasBreak = true
            } else {
                out.append(c)
                lastWasBreak = false
            }
        }
        return out.trimmingCharacters(in: " ")
    }

    private static func isTokenChar(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || "-_~.+/=%".contains(c))
    }

    private static func matches(_ chars: [Character], at i: Int, _ word: [Character], caseSensitive: Bool = false) -> Bool {
        guard i + word.count <= chars.count else { return false }
        for k in 0..<word.count {
            if caseSensitive ? chars[i + k] != word[k] : chars[i + k].lowercased() != String(word[k]).lowercased() { return false }
        }
        return true
    }

    /// Replaces what follows `word` (case-insensitive): token characters, or (header form) the rest
    /// of the line. An already redacted value is left alone.
    private static func scrub(_ chars: [Character], after word: String, stopAtBlank: Bool, caseSensitive: Bool = false,
                              skipWords: [String] = []) -> [Character] {
        let w = Array(word)
        let m = Array(marker)
        var out = [Character]()
        out.reserveCapacity(chars.count)
        var i = 0
        while i < chars.count {
            guard matches(chars, at: i, w, caseSensitive: caseSensitive),
                  !skipWords.contains(where: { matches(chars, at: i + w.count, Array($0)) }) else {
                out.append(chars[i])
                i += 1
                continue
            }
            out += chars[i..<(i + w.count)]
            i += w.count
            if !stopAtBlank {
                while i < chars.count, chars[i] == " " {
                    out.append(" ")
                    i += 1
                }
            }
            if i + m.count <= chars.count, Array(chars[i..<(i + m.count)]) == m {
                out += m
                i += m.count
                continue
            }
            var j = i
            if stopAtBlank {
                while j < chars.count, isTokenChar(chars[j]) { j += 1 }
            } else {
                while j < chars.count, chars[j] != "\n", chars[j] != "\r", chars[j] != "\r\n" { j += 1 }
            }
            if j > i { out += m }
            i = j
        }
        return out
    }

    /// `eyJ….…` (a JWT such as a service-account token) → `<redacted>`.
    private static func scrubJWTs(_ chars: [Character]) -> [Character] {
        var out = [Character]()
        var i = 0
        while i < chars.count {
            if i + 3 <= chars.count, chars[i] == "e", chars[i + 1] == "y", chars[i + 2] == "J" {
                var j = i
                var dots = 0
                while j < chars.count, isTokenChar(chars[j]) {
                    if chars[j] == "." { dots += 1 }
                    j += 1
                }
                if dots >= 1 && j - i >= 20 {
                    out += Array(marker)
                    i = j
                    continue
                }
            }
            out.append(chars[i])
            i += 1
        }
        return out
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        let t = Array(target)
        let chars = Array(self)
        var out = ""
        var i = 0
        while i < chars.count {
            if i + t.count <= chars.count, Array(chars[i..<(i + t.count)]) == t {
                out += replacement
                i += t.count
            } else {
                out.append(chars[i])
                i += 1
            }
        }
        return out
    }
}
