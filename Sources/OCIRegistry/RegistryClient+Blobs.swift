import HTTPTransport

extension RegistryClient {
    /// Size of a blob in `repository`, or nil when it is not there.
    public func headBlob(repository: String, digest: String) async throws -> Int64? {
        let request = HTTPRequest(method: "HEAD", url: url("\(repository)/blobs/\(digest)"),
                                  followRedirects: true, timeouts: .init(totalSeconds: 120))
        let response = try await execute(request, repository: repository, actions: ["pull", "push"],
                                         what: "HEAD blob \(repository)@\(digest)")
        switch response.status {
        case 200: return response.headers["Content-Length"].flatMap { Int64($0) } ?? -1
        case 404: return nil
        default: throw RegistryError.from(response: response, host: host, what: "blob \(repository)@\(digest)")
        }
    }

    public enum MountResult: Sendable, Equatable {
        case mounted
        /// The registry could not mount and opened an upload session instead (spec: 202).
        case uploadSession(location: String)
    }

    /// Cross-repository mount within this registry (`POST ?mount=&from=`): 201 mounted, 202 a session.
    public func mount(repository: String, digest: String, from source: String) async throws -> MountResult {
        await declare(repository: source, actions: ["pull"])
        let request = HTTPRequest(method: "POST",
                                  url: url("\(repository)/blobs/uploads/?mount=\(digest)&from=\(URLText.percentEncode(source))"),
                                  timeouts: .init(totalSeconds: 120))
        let what = "mount blob \(digest) from \(source) into \(repository)"
        let response = try await execute(request, repository: repository, actions: ["pull", "push"], what: what)
        switch response.status {
        case 201: return .mounted
        case 202:
            guard let location = response.headers["Location"] else {
                throw RegistryError(.other, "\(host): \(what): 202 without Location")
            }
            return .uploadSession(location: try resolve(location: location, against: response.url))
        default:
            throw RegistryError.from(response: response, host: host, what: what)
        }
    }

    /// Opens an upload session; returns its absolute URL (query, e.g. `_state`, kept as given).
    public func startUpload(repository: String) async throws -> String {
        let request = HTTPRequest(method: "POST", url: url("\(repository)/blobs/uploads/"),
                                  timeouts: .init(totalSeconds: 120))
        let what = "start upload to \(repository)"
        let response = try await execute(request, repository: repository, actions: ["pull", "push"], what: what)
        guard response.status == 202 || response.status == 201, let location = response.headers["Location"] else {
            throw RegistryError.from(response: response, host: host, what: what)
        }
        return try resolve(location: location, against: response.url)
    }

    /// Abandons an upload session; failures are ignored, as the spec allows.
    public func cancelUpload(repository: String, location: String) async {
        let request = HTTPRequest(method: "DELETE", url: location, timeouts: .init(totalSeconds: 30))
        _ = try? await execute(request, repository: repository, actions: ["pull", "push"], what: "cancel upload",
                               retryable: false, reauthorize: false)
    }

    /// Streams a blob from `source` into this registry: GET → single PUT with the body, SHA-256
    /// checked on the fly, Range-resumed on a broken GET, the upload restarted from a fresh session when
    /// it fails. Memory stays bounded by the transport's pipe whatever the blob's size.
    public func copyBlob(_ blob: Descriptor, from source: RegistryClient, sourceRepository: String,
                         to repository: String, session: String? = nil,
                         progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        var location = session
        var attempt = 0
        var reauthorizedSource = false
        var renewed = (source: false, destination: false)
        var learnedChallenge = (source: false, destination: false)
        let what = "copy blob \(blob.digest)"
        while true {
            var get = HTTPRequest(method: "GET", url: try await source.absolute(source.url("\(sourceRepository)/blobs/\(blob.digest)")),
                                  followRedirects: true)
            get.tls = source.tls
            get.timeouts.lowSpeedSeconds = retry.stallSeconds
            let sourceKey = try await source.authorize(&get, repository: sourceRepository, actions: ["pull"])
            var transfer = BlobTransfer(source: get, destination: nil, expectedDigest: blob.digest,
                                        expectedSize: blob.size, maxResumes: retry.maxRetries, progress: progress)
            func upload(to location: String) async throws -> (HTTPRequest, TokenUse?) {
                var put = HTTPRequest(method: "PUT", url: Self.appending(query: "digest=\(blob.digest)", to: location),
                                      headers: ["Content-Type": "application/octet-stream"])
                put.tls = tls
                put.timeouts.lowSpeedSeconds = retry.stallSeconds
                let key = try await authorize(&put, repository: repository, actions: ["pull", "push"])
                return (put, key)
            }
            // Without a session yet, the GET starts while the session is opened: its first bytes wait in
            // the ring instead of costing a round trip after the POST.
            var put = HTTPRequest(url: "")
            var destKey: TokenUse?
            if let location {
                (put, destKey) = try await upload(to: location)
                transfer.destination = put
            } else {
                transfer.pendingDestination = http.pendingUpload()
            }
            let planned = transfer
            async let running = outcome { try await self.http.transfer(planned) }
            if let pending = planned.pendingDestination {
                do {
                    let opened = try await startUpload(repository: repository)
                    location = opened
                    (put, destKey) = try await upload(to: opened)
                    pending.provide(put)
                } catch {
                    pending.abandon(error)
                    _ = await running
                    if let location { await cancelUpload(repository: repository, location: location) }
                    throw error
                }
            }

            let outcome: BlobTransferOutcome
            switch await running {
            case .success(let value):
                outcome = value
            case .failure(let error as TransportError):
                await cancelUpload(repository: repository, location: location!)
                location = nil
                if error.kind == .digestMismatch || error.kind == .sizeMismatch || error.kind == .cancelled
                    || attempt >= retry.maxRetries {
                    throw failure(error, what)
                }
                attempt += 1
                log("\(what): \(error.message); restarting the upload (\(attempt)/\(retry.maxRetries))")
                try await retry.sleep(attempt: attempt, retryAfter: nil)
                continue
            case .failure(let error):
                throw error
            }
            switch outcome {
            case .sourceFailed(let response):
                await cancelUpload(repository: repository, location: location!)
                location = nil
                if response.status == 401, get.headers["Authorization"] == nil, !learnedChallenge.source,
                   source.learnChallenge(from: response) {
                    learnedChallenge.source = true   // the source let us read manifests without credentials
                    continue
                }
                if response.status == 401, !reauthorizedSource, let sourceKey {
                    reauthorizedSource = true   // token expired mid-copy: fetch a new one once
                    await source.tokens.invalidate(sourceKey)
                    continue
                }
                if retry.shouldRetry(status: response.status), attempt < retry.maxRetries {
                    attempt += 1
                    let after = RetryPolicy.retryAfterSeconds(response.headers["Retry-After"])
                    if response.status == 429 { retry.onThrottle?(source.host, after) }
                    try await retry.sleep(attempt: attempt, retryAfter: after)
                    continue
                }
                if response.status == 401 || response.status == 403, get.headers["Authorization"] != nil {
                    let error = RegistryError.refused(response: response, host: source.host, what: "GET blob \(sourceRepository)@\(blob.digest)",
                                                      repository: sourceRepository, actions: ["pull"])
                    if try await source.interpretRefusal(error, renewed: &renewed.source) {
                        if let sourceKey { await source.tokens.invalidate(sourceKey) }
                        continue
                    }
                }
                throw RegistryError.from(response: response, host: source.host, what: "GET blob \(sourceRepository)@\(blob.digest)")
            case .completed(_, let resumes, let answer):
                guard let answer else { return }
                if resumes > 0 { log("\(what): source resumed \(resumes) time(s)") }
                if answer.status == 201 || answer.status == 204 || answer.status == 200 {
                    if let d = answer.headers["Docker-Content-Digest"], d != blob.digest {
                        throw RegistryError(.integrity, "\(host): stored blob as \(d), expected \(blob.digest)")
                    }
                    return
                }
                location = nil
                if answer.status == 401, put.headers["Authorization"] == nil, !learnedChallenge.destination,
                   learnChallenge(from: answer) {
                    learnedChallenge.destination = true
                    continue
                }
                if answer.status == 401, let destKey, attempt < retry.maxRetries {
                    attempt += 1
                    await tokens.invalidate(destKey)
                    continue
                }
                if retry.shouldRetry(status: answer.status), attempt < retry.maxRetries {
                    attempt += 1
                    let after = RetryPolicy.retryAfterSeconds(answer.headers["Retry-After"])
                    if answer.status == 429 { retry.onThrottle?(host, after) }
                    try await retry.sleep(attempt: attempt, retryAfter: after)
                    continue
                }
                if answer.status == 401 || answer.status == 403, put.headers["Authorization"] != nil {
                    let error = RegistryError.refused(response: answer, host: host, what: "upload blob \(blob.digest) to \(repository)",
                                                      repository: repository, actions: ["pull", "push"])
                    if try await interpretRefusal(error, renewed: &renewed.destination) {
                        if let destKey { await tokens.invalidate(destKey) }
                        continue
                    }
                }
                throw RegistryError.from(response: answer, host: host, what: "upload blob \(blob.digest) to \(repository)")
            }
        }
    }

    /// Downloads a small blob (image configs for `inspect`), verified.
    public func blob(repository: String, descriptor: Descriptor, limit: Int = 4 << 20) async throws -> [UInt8] {
        let request = HTTPRequest(method: "GET", url: url("\(repository)/blobs/\(descriptor.digest)"),
                                  followRedirects: true, maxResponseBytes: limit, timeouts: .init(totalSeconds: 300))
        let response = try await execute(request, repository: repository, actions: ["pull"], what: "GET blob \(descriptor.digest)")
        guard response.status == 200 else {
            throw RegistryError.from(response: response, host: host, what: "blob \(repository)@\(descriptor.digest)")
        }
        guard SHA256.digest(response.body) == descriptor.digest else {
            throw RegistryError(.integrity, "\(host)/\(repository)@\(descriptor.digest): content does not match its digest")
        }
        return response.body
    }

    /// A Location header may be absolute or relative; its query must be kept as given.
    func resolve(location: String, against requestURL: String) throws -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        let origin: Substring
        if let r = requestURL.firstRange(of: "://") {
            let afterScheme = requestURL[r.upperBound...]
            let hostEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" } ?? afterScheme.endIndex
            origin = requestURL[..<hostEnd]
        } else {
            throw RegistryError(.other, "\(host): cannot resolve upload location")
        }
        if location.hasPrefix("/") { return origin + location }
        // Relative to the request path's directory.
        let path = requestURL[origin.endIndex...].prefix { $0 != "?" }
        let dir = path.lastIndex(of: "/").map { path[...$0] } ?? "/"
        return origin + dir + location
    }

    static func appending(query: String, to url: String) -> String {
        url + (url.contains("?") ? "&" : "?") + query
    }
}
