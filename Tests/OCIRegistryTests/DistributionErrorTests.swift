import Testing
@testable import OCIRegistry
import HTTPTransport

private func decode(_ status: Int, _ body: String) -> RegistryErrorResponse {
    RegistryErrorResponse.decode(status: status, body: Array(body.utf8))
}

@Suite struct DistributionErrorTests {
    @Test func standardBody() {
        let r = decode(404, #"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v1"}}]}"#)
        #expect(r.status == 404)
        #expect(r.errors == [DistributionError(code: "MANIFEST_UNKNOWN", message: "manifest unknown")])
        #expect(r.summary == "MANIFEST_UNKNOWN: manifest unknown")
        #expect(r.contains(code: "MANIFEST_UNKNOWN"))
        #expect(!r.contains(code: "BLOB_UNKNOWN"))
        #expect(r.codes == ["MANIFEST_UNKNOWN"])
    }

    @Test func severalErrorsAndOddDetails() {
        let r = decode(401, #"""
        {"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"a/b","Action":"pull"}]},
                   {"code":"DENIED","message":"requested access to the resource is denied","detail":null}]}
        """#)
        #expect(r.errors.count == 2)
        #expect(r.summary == "UNAUTHORIZED: authentication required (and 1 more)")
    }

    @Test func tolerantEntries() {
        // Non-string code, missing message, a non-object entry, extra keys.
        let r = decode(400, #"{"errors":[{"code":5,"message":"bad"},"junk",{"code":"NAME_INVALID"},{"message":"only message"}],"x":1}"#)
        #expect(r.errors == [DistributionError(code: "", message: "bad"), DistributionError(code: "NAME_INVALID", message: ""),
                             DistributionError(code: "", message: "only message")])
        #expect(r.summary == "HTTP 400: bad (and 2 more)")
        #expect(decode(400, #"{"errors":[{"code":"NAME_INVALID"}]}"#).summary == "NAME_INVALID")
        #expect(decode(400, #"{"errors":"nope"}"#).errors.isEmpty)
        #expect(decode(400, #"{"errors":[]}"#).summary == "HTTP 400")
        #expect(decode(400, #"{"errors":[{}]}"#).summary == "HTTP 400")
    }

    @Test func nonDistributionJSON() {
        // Docker Hub answers a bad mount with this shape (go-containerregistry#1741).
        #expect(decode(400, #"{"details":"invalid repository name"}"#).summary == "HTTP 400: invalid repository name")
        #expect(decode(500, #"{"message":"internal"}"#).summary == "HTTP 500: internal")
        #expect(decode(403, #"{"error":"forbidden"}"#).message == "forbidden")
        #expect(decode(500, "[1,2]").summary == "HTTP 500: [1,2]")
        #expect(decode(500, "null").summary == "HTTP 500: null")
    }

    @Test func htmlBodies() {
        let nginx = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        let r = decode(502, nginx)
        #expect(r.errors.isEmpty)
        #expect(r.summary == "HTTP 502: 502 Bad Gateway")
        #expect(decode(503, "<!DOCTYPE html><HTML><HEAD><TITLE>Service \n Unavailable</TITLE></HEAD></HTML>").summary
                == "HTTP 503: Service Unavailable")
        #expect(decode(502, "<html><body>no title here</body></html>").summary == "HTTP 502")
        #expect(decode(502, "<html><title>unterminated").summary == "HTTP 502")
        #expect(decode(502, "<html><title>\u{1b}[31mred\u{1b}[0m</title></html>").summary == "HTTP 502: [31mred [0m")
    }

    @Test func textAndEmptyBodies() {
        #expect(decode(500, "").summary == "HTTP 500")
        #expect(decode(500, "   \n\n").summary == "HTTP 500")
        #expect(decode(401, "\n\nunauthorized: authentication required\nsecond line\n").summary
                == "HTTP 401: unauthorized: authentication required")
        let bad = RegistryErrorResponse.decode(status: 500, body: [0xFF, 0xFE, 0x41, 0x00, 0x42])
        #expect(!bad.summary.contains("\u{0}"))
        #expect(bad.summary.hasPrefix("HTTP 500"))
    }

    @Test func controlCharactersAndLength() {
        let hostile = #"{"errors":[{"code":"DENIED\u001b[2J","message":"line1\nline2\r\u0007\u202eevil\u0085 ok"}]}"#
        let s = decode(403, hostile).summary
        #expect(!s.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) || $0.value == 0x202E })
        #expect(s.contains("DENIED"))
        #expect(s.contains("line1 line2"))

        let long = String(repeating: "x", count: 10_000)
        let s1 = decode(500, #"{"errors":[{"code":"UNKNOWN","message":"\#(long)"}]}"#).summary
        #expect(s1.count <= 220)
        #expect(s1.hasSuffix("…"))
        let s2 = decode(500, long).summary
        #expect(s2.count <= 220)
        let s3 = decode(500, #"{"errors":[{"code":"\#(long)","message":"m"}]}"#).summary
        #expect(s3.count <= 100)
    }

    @Test func hugeBodyIsNotParsed() {
        // Over the parse limit: no JSON decoding, still a short summary.
        let big = #"{"errors":[{"code":"BLOB_UNKNOWN","message":"m"}],"pad":""# + String(repeating: "a", count: 2 << 20) + "\"}"
        let r = decode(404, big)
        #expect(r.errors.isEmpty)
        #expect(r.summary.count <= 220)
        #expect(r.summary.hasPrefix("HTTP 404: {\"errors\""))
    }

    @Test func sanitizeAndQuote() {
        #expect(DiagnosticText.sanitize("  a \t\n b  ") == "a b")
        #expect(DiagnosticText.sanitize("abcdef", limit: 3) == "abc…")
        #expect(DiagnosticText.quote("a\"b\\c\n\u{7}") == #""a\"b\\c\n\u{7}""#)
        #expect(DiagnosticText.quote(String(repeating: "y", count: 500), limit: 10) == "\"yyyyyyyyyy…\"")
        #expect(DiagnosticText.trim("\r\n x \r\n") == "x")
    }

    /// Transport failures carry what to change (structured), worded by whoever configured the client.
    @Test func transportFailuresCarryTheirRemedies() {
        let cli: RegistryError.RemedyWording = { remedy in
            switch remedy {
            case .trustCA: return "--dest-ca-file FILE"
            case .disableTLSVerification: return "--dest-tls-verify=false"
            }
        }
        func failure(_ kind: TransportError.Kind, _ message: String,
                     wording: @escaping RegistryError.RemedyWording = cli, plain: Bool = false) -> RegistryError {
            RegistryError.from(transport: TransportError(kind: kind, message: message, host: "reg.example:5000"),
                               what: "HEAD manifest app:v1", wording: wording, plainAllowed: plain)
        }
        let plain = failure(.tls, "OpenSSL/3.0.22: error:0A00010B:SSL routines::wrong version number (curl 35)")
        #expect(plain.kind == .network)
        #expect(plain.remedies == [.disableTLSVerification])
        #expect(plain.message.hasPrefix("reg.example:5000: HEAD manifest app:v1: "))
        #expect(plain.message.contains("plain HTTP") && plain.message.contains("--dest-tls-verify=false"))
        #expect(failure(.tls, "error:0A0000C6:SSL routines::packet length too long (curl 35)").message.contains("plain HTTP"))
        // A side already allowed plain HTTP did not fail for that reason: no advice to allow it.
        let allowed = failure(.tls, "wrong version number", plain: true)
        #expect(!allowed.message.contains("tls-verify=false") && allowed.remedies == [.trustCA])
        let other = failure(.tls, "error:0A000410:SSL routines::sslv3 alert handshake failure (curl 35)")
        #expect(!other.message.contains("plain HTTP") && other.message.contains("--dest-ca-file"))
        #expect(other.remedies == [.trustCA])
        let untrusted = failure(.tlsUntrusted, "unable to get local issuer certificate (curl 60)")
        #expect(untrusted.remedies == [.trustCA, .disableTLSVerification])
        #expect(untrusted.message.contains("--dest-ca-file FILE") && untrusted.message.contains("--dest-tls-verify=false (unsafe)"))
        #expect(untrusted.message.contains("unable to get local issuer certificate"))
        // Outside the CLI the library speaks its own language: no flag is invented.
        let library = failure(.tlsUntrusted, "unable to get local issuer certificate", wording: RegistryError.Remedy.libraryWording)
        #expect(!library.message.contains("--") && library.message.contains("TLSOptions.caFile"))
        #expect(library.remedies == [.trustCA, .disableTLSVerification])
        let refused = failure(.couldNotConnect, "Connection refused (curl 7)")
        #expect(refused.message.contains("HTTPS_PROXY/NO_PROXY") && refused.remedies.isEmpty)
        #expect(failure(.digestMismatch, "blob content hashes to sha256:aa, expected sha256:bb").kind == .integrity)
    }
}
