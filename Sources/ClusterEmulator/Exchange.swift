import LoopbackHTTP
/// A request as the emulator's route logic sees it (independent of the socket server).
struct EmuRequest: Sendable {
    var method: String
    /// Path without the query, percent-decoded.
    var path: String
    /// Raw query string (without `?`).
    var rawQuery: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    init(method: String, target: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method.uppercased()
        if let q = target.firstIndex(of: "?") {
            path = EmuForm.unescape(target[..<q], plusIsSpace: false)
            rawQuery = String(target[target.index(after: q)...])
        } else {
            path = EmuForm.unescape(target[...], plusIsSpace: false)
            rawQuery = ""
        }
        self.headers = headers
        self.body = body
    }

    func header(_ name: String) -> String? {
        let key = name.lowercased()
        return headers.first { $0.name.lowercased() == key }?.value
    }

    var query: [(String, String)] { EmuForm.decode(rawQuery) }

    func queryValue(_ key: String) -> String? { query.first { $0.0 == key }?.1 }

    func queryValues(_ key: String) -> [String] { query.filter { $0.0 == key }.map(\.1) }

    var form: [(String, String)] { EmuForm.decode(String(decoding: body, as: UTF8.self)) }

    /// `Authorization: Basic` credentials split at the first colon (as Go's `BasicAuth`).
    var basicCredentials: (user: String, password: String)? {
        guard let auth = header("Authorization") else { return nil }
        let parts = auth.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let raw = Base64.decode(String(parts[1]).trimmingSpaces) else { return nil }
        let text = String(decoding: raw, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The bearer token, if the request carries `Authorization: Bearer <token>`.
    var bearerToken: String? {
        guard let auth = header("Authorization") else { return nil }
        let parts = auth.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingSpaces
    }
}

struct EmuResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static func json(_ status: Int, _ value: JSON, extraHeaders: [(name: String, value: String)] = []) -> EmuResponse {
        EmuResponse(status: status, headers: [("Content-Type", "application/json")] + extraHeaders,
                    body: Array((value.serialized() + "\n").utf8))
    }

    static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8",
                     extraHeaders: [(name: String, value: String)] = []) -> EmuResponse {
        EmuResponse(status: status, headers: [("Content-Type", contentType)] + extraHeaders, body: Array(text.utf8))
    }

    func header(_ name: String) -> String? {
        let key = name.lowercased()
        return headers.first { $0.name.lowercased() == key }?.value
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
