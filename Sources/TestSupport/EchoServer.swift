import HTTPTransport

/// A loopback server that echoes each request: `METHOD PATH len=N sha=DIGEST te=chunked|length` plus
/// the headers it saw (method, connection, request number, Authorization). For the transport's and
/// the test tools' own tests.
public func makeEchoServer(tls: TLSIdentity? = nil) throws -> LoopbackServer {
    try LoopbackServer(tls: tls, options: .init(name: "echo")) { request, writer in
        let te = request.headers["Transfer-Encoding"] ?? "length"
        let text = "\(request.method) \(request.path) len=\(request.body.count) sha=\(SHA256.digest(request.body)) te=\(te)"
        var headers = HeaderFields()
        headers.set("X-Echo-Method", request.method)
        headers.set("X-Connection", String(request.connectionID))
        headers.set("X-Request-Number", String(request.requestNumber))
        if let auth = request.headers["Authorization"] { headers.set("X-Saw-Authorization", auth) }
        try writer.respond(status: request.method == "POST" ? 201 : 200, headers: headers, text: text)
    }
}
