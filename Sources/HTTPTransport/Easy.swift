import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// One curl easy handle and its buffers. Callbacks reach it through userdata (never a capturing closure).
final class Easy {
    enum Role { case plain, source, destination }

    let handle: UnsafeMutableRawPointer
    let role: Role
    let request: HTTPRequest
    let host: String
    weak var op: (any Operation)?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

    // Response state.
    private(set) var status = 0
    private(set) var headers = HTTPHeaders()
    /// True once the headers of the final (non-redirect, non-1xx) response are complete.
    private(set) var headersComplete = false
    var body: [UInt8] = []
    var tooLarge = false

    // Small request bodies.
    private var upload: [UInt8]
    private var uploadOffset = 0

    init(request: HTTPRequest, role: Role, op: any Operation, configuration: HTTPClient.Configuration,
         streamedUploadSize: Int64? = nil) throws {
        guard let h = curl_easy_init() else {
            throw TransportError(kind: .other, message: "curl_easy_init failed", host: "")
        }
        handle = h
        self.role = role
        self.request = request
        self.op = op
        host = Easy.hostOf(request.url)
        upload = request.body ?? []
        let url = request.url
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            curl_easy_cleanup(h)
            throw TransportError(kind: .invalidURL, message: "not an http(s) URL", host: host)
        }
        try configure(configuration, streamedUploadSize: streamedUploadSize)
    }

    static func hostOf(_ url: String) -> String {
        let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0].hasSuffix(":"), parts[1].isEmpty else { return url }
        return String(parts[2].prefix { $0 != "?" && $0 != "#" })
    }

    private func set(_ option: CURLoption, _ value: Int) { _ = ccurl_setopt_long(handle, option, value) }
    private func set(_ option: CURLoption, _ value: String?) { _ = ccurl_setopt_str(handle, option, value) }

    private func configure(_ configuration: HTTPClient.Configuration, streamedUploadSize: Int64?) throws {
        let me = Unmanaged.passUnretained(self).toOpaque()
        set(CURLOPT_URL, request.url)
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        set(CURLOPT_PROXY, configuration.proxy.proxy(for: request.url))
        if let noProxy = configuration.proxy.noProxy { set(CURLOPT_NOPROXY, noProxy) }
        set(CURLOPT_CONNECTTIMEOUT, request.timeouts.connectSeconds)
        set(CURLOPT_LOW_SPEED_LIMIT, request.timeouts.lowSpeedBytes)
        set(CURLOPT_LOW_SPEED_TIME, request.timeouts.lowSpeedSeconds)
        if request.timeouts.totalSeconds > 0 { set(CURLOPT_TIMEOUT, request.timeouts.totalSeconds) }
        set(CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1 : 0)
        set(CURLOPT_MAXREDIRS, 10)
        set(CURLOPT_BUFFERSIZE, role == .source ? configuration.receiveBufferBytes : 64 << 10)
        set(CURLOPT_TCP_KEEPALIVE, 1)
        _ = errorBuffer.withUnsafeMutableBufferPointer { ccurl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, $0.baseAddress) }

        // TLS: the side's own CA, if any, plus the system roots (see `SystemTrust` for why the roots
        // are not left to libcurl's defaults).
        let tls = request.tls
        set(CURLOPT_SSL_VERIFYPEER, tls.verify ? 1 : 0)
        set(CURLOPT_SSL_VERIFYHOST, tls.verify ? 2 : 0)
        var caPEM = tls.caPEM ?? []
        if let file = tls.caFile {
            guard let bytes = LocalFile.read(file) else {
                throw TransportError(kind: .tls, message: "cannot read CA file \(file)", host: host)
            }
            caPEM += [10] + bytes
        }
        if tls.verify {
            switch configuration.systemTrust {
            case .directory(let dir):
                set(CURLOPT_CAINFO, nil as String?)
                set(CURLOPT_CAPATH, dir)
            case .bundle(let file):
                set(CURLOPT_CAPATH, nil as String?)
                if caPEM.isEmpty { set(CURLOPT_CAINFO, file) } else { caPEM += [10] + SystemTrust.bundleContents(file) }
            case .libcurlDefault:
                break
            }
        }
        if !caPEM.isEmpty {
            _ = caPEM.withUnsafeMutableBytes { ccurl_setopt_blob(handle, CURLOPT_CAINFO_BLOB, $0.baseAddress!, $0.count) }
        }
        if let cert = tls.clientCertFile { set(CURLOPT_SSLCERT, cert) }
        if let key = tls.clientKeyFile { set(CURLOPT_SSLKEY, key) }
        if var cert = tls.clientCertPEM, !cert.isEmpty {
            _ = cert.withUnsafeMutableBytes { ccurl_setopt_blob(handle, CURLOPT_SSLCERT_BLOB, $0.baseAddress!, $0.count) }
            set(CURLOPT_SSLCERTTYPE, "PEM")
        }
        if var key = tls.clientKeyPEM, !key.isEmpty {
            _ = key.withUnsafeMutableBytes { ccurl_setopt_blob(handle, CURLOPT_SSLKEY_BLOB, $0.baseAddress!, $0.count) }
            set(CURLOPT_SSLKEYTYPE, "PEM")
        }

        // Headers. Registries digest raw bytes: never ask for Content-Encoding.
        var list: UnsafeMutablePointer<curl_slist>? = nil
        var hasUA = false
        for field in request.headers {
            if field.name.lowercased() == "user-agent" { hasUA = true }
            list = curl_slist_append(list, "\(field.name): \(field.value)")
        }
        if !hasUA { list = curl_slist_append(list, "User-Agent: \(configuration.userAgent)") }
        list = curl_slist_append(list, "Expect:")
        headerList = list
        _ = ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)

        _ = ccurl_setopt_datacb(handle, CURLOPT_HEADERFUNCTION, easyHeaderCallback)
        _ = ccurl_setopt_ptr(handle, CURLOPT_HEADERDATA, me)
        _ = ccurl_setopt_datacb(handle, CURLOPT_WRITEFUNCTION, easyWriteCallback)
        _ = ccurl_setopt_ptr(handle, CURLOPT_WRITEDATA, me)
        _ = ccurl_setopt_datacb(handle, CURLOPT_READFUNCTION, easyReadCallback)
        _ = ccurl_setopt_ptr(handle, CURLOPT_READDATA, me)

        let method = request.method.uppercased()
        let bodySize: Int64? = role == .destination ? streamedUploadSize : (request.body.map { Int64($0.count) })
        let hasBody = role == .destination || request.body != nil
        switch method {
        case "GET":
            set(CURLOPT_HTTPGET, 1)
        case "HEAD":
            set(CURLOPT_NOBODY, 1)
        case "POST":
            set(CURLOPT_POST, 1)
            _ = ccurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodySize ?? (hasBody ? -1 : 0)))
        default:
            if hasBody {
                set(CURLOPT_UPLOAD, 1)
                _ = ccurl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(bodySize ?? -1))
                if role == .destination { set(CURLOPT_UPLOAD_BUFFERSIZE, 512 << 10) }
            }
            if method != "PUT" || !hasBody { set(CURLOPT_CUSTOMREQUEST, method) }
        }
    }

    func close() {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        headerList = nil
    }

    // MARK: callbacks

    /// One raw header line as libcurl hands it over (CR/LF included). Parsed as bytes: every response
    /// passes here once per line, and Character-level String work was a visible share of a run's CPU.
    fileprivate func onHeader(_ raw: UnsafeRawBufferPointer) {
        var end = raw.count
        while end > 0, raw[end - 1] == 10 || raw[end - 1] == 13 { end -= 1 }
        let line = UnsafeRawBufferPointer(rebasing: raw[0..<end])
        if line.starts(with: "HTTP/".utf8) {
            // "HTTP/1.1 200 OK": the second space-separated field.
            let parts = line.split(separator: 32, maxSplits: 2)
            status = parts.count > 1 ? Int(String(decoding: parts[1], as: UTF8.self)) ?? 0 : 0
            headers = HTTPHeaders()
            headersComplete = false
            return
        }
        if line.isEmpty {
            if status >= 200 {
                let redirecting = request.followRedirects && (300..<400).contains(status) && headers["Location"] != nil
                if !redirecting {
                    headersComplete = true
                    if let op = op as? BlobOperation { op.headersComplete(self) }
                }
            }
            return
        }
        guard let colon = line.firstIndex(of: 58) else { return }   // ':'
        var start = colon + 1, stop = line.count
        while start < stop, line[start] == 32 || line[start] == 9 { start += 1 }
        while stop > start, line[stop - 1] == 32 || line[stop - 1] == 9 { stop -= 1 }
        headers.add(String(decoding: line[..<colon], as: UTF8.self), String(decoding: line[start..<stop], as: UTF8.self))
    }

    fileprivate func onWrite(_ ptr: UnsafeMutablePointer<CChar>, _ n: Int) -> Int {
        if role == .source, headersComplete, (200..<300).contains(status), let op = op as? BlobOperation {
            return op.sourceData(UnsafeRawPointer(ptr), n)
        }
        if body.count + n > request.maxResponseBytes {
            tooLarge = true
            return 0
        }
        body.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: n))
        return n
    }

    fileprivate func onRead(_ ptr: UnsafeMutablePointer<CChar>, _ max: Int) -> Int {
        if role == .destination, let op = op as? BlobOperation {
            return op.destinationRead(UnsafeMutableRawPointer(ptr), max)
        }
        let n = min(max, upload.count - uploadOffset)
        if n > 0 {
            upload.withUnsafeBytes { src in
                UnsafeMutableRawPointer(ptr).copyMemory(from: src.baseAddress! + uploadOffset, byteCount: n)
            }
            uploadOffset += n
        }
        return n
    }

    // MARK: results

    func response() -> HTTPResponse {
        var effective: UnsafeMutablePointer<CChar>? = nil
        _ = ccurl_getinfo_str(handle, CURLINFO_EFFECTIVE_URL, &effective)
        var code = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return HTTPResponse(status: code != 0 ? code : status, headers: headers, body: body,
                            url: effective.map { String(cString: $0) } ?? request.url)
    }

    func error(for code: CURLcode) -> TransportError {
        let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        let kind: TransportError.Kind
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .couldNotResolve
        case CURLE_COULDNT_CONNECT: kind = .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT: kind = .timeout
        case CURLE_PEER_FAILED_VERIFICATION: kind = .tlsUntrusted
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_ISSUER_ERROR, CURLE_SSL_CRL_BADFILE, CURLE_USE_SSL_FAILED:
            // An http server answering a TLS client lands here too.
            kind = .tls
        case CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_HTTP2,
             CURLE_HTTP2_STREAM, CURLE_READ_ERROR:
            kind = .connectionLost
        case CURLE_TOO_MANY_REDIRECTS: kind = .tooManyRedirects
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: kind = .invalidURL
        case CURLE_WRITE_ERROR where tooLarge: kind = .responseTooLarge
        default: kind = .other
        }
        let message = kind == .responseTooLarge
            ? "response larger than \(request.maxResponseBytes) bytes" : "\(text) (curl \(code.rawValue))"
        return TransportError(kind: kind, curlCode: Int(code.rawValue), message: message, host: host)
    }

    func pause(_ bitmask: Int32) { _ = curl_easy_pause(handle, bitmask) }
}

private func easyHeaderCallback(_ ptr: UnsafeMutablePointer<CChar>, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    let easy = Unmanaged<Easy>.fromOpaque(ud!).takeUnretainedValue()
    let count = size * n
    easy.onHeader(UnsafeRawBufferPointer(start: ptr, count: count))
    return count
}

private func easyWriteCallback(_ ptr: UnsafeMutablePointer<CChar>, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    Unmanaged<Easy>.fromOpaque(ud!).takeUnretainedValue().onWrite(ptr, size * n)
}

private func easyReadCallback(_ ptr: UnsafeMutablePointer<CChar>, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    Unmanaged<Easy>.fromOpaque(ud!).takeUnretainedValue().onRead(ptr, size * n)
}
