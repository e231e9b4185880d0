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

    /// Streams a blob from `source` (a client of the source registry) into this registry; see
    /// `copyBlob(_:from:to:session:progress:)`.
    public func copyBlob(_ blob: Descriptor, from source: RegistryClient, sourceRepository: String,
                         to repository: String, session: String? = nil,
                         progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        try await copyBlob(blob, from: source.blobSource(repository: sourceRepository, digest: blob.digest), to: repository,
                           session: session, progress: progress)
    }

    /// Streams a blob from `source` into this registry: GET → single PUT with the body, SHA-256
    /// checked on the fly, Range-resumed on a broken GET, the upload restarted from a fresh session when
    /// it fails. Memory stays bounded by the transport's pipe whatever the blob's size. The source GET
    /// authorizes and heals itself (`BlobSource`); this side only authorizes and retries its upload.
    public func copyBlob(_ blob: Descriptor, from source: BlobSource, to repository: String, session: String? = nil,
                         progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        var source = source
        var location = session
        var upload = Exchange(client: self, what: "upload blob \(blob.digest) to \(repository)", repository: repository,
                              actions: ["pull", "push"])
        let what = "copy blob \(blob.digest)"
        func put(to location: String) -> HTTPRequest {
            HTTPRequest(method: "PUT", url: Self.appending(query: "digest=\(blob.digest)", to: location),
                        headers: ["Content-Type": "application/octet-stream"])
        }
        while true {
            var transfer = BlobTransfer(source: try await source.request(), destination: nil, expectedDigest: blob.digest,
                                        expectedSize: blob.size, maxResumes: retry.maxRetries, progress: progress)
            // Without a session yet, the GET starts while the session is opened: its first bytes wait in
            // the ring instead of costing a round trip after the POST.
            if let location {
                transfer.destination = try await upload.prepare(put(to: location), mayRace: false).request
            } else {
                transfer.pendingDestination = http.pendingUpload()
            }
            let planned = transfer
            async let running = outcome { try await self.http.transfer(planned) }
            if let pending = planned.pendingDestination {
                do {
                    let opened = try await startUpload(repository: repository)
                    location = opened
                    pending.provide(try await upload.prepare(put(to: opened), mayRace: false).request)
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
                // A broken transfer starts over from a fresh session (bounded); a wrong blob never does.
                let broken = error.kind != .digestMismatch && error.kind != .sizeMismatch && error.kind != .cancelled
                if broken, try await upload.backOff("\(error.message); restarting the upload") { continue }
                throw failure(error, what)
            case .failure(let error):
                throw error
            }
            switch outcome {
            case .sourceFailed(let response):
                await cancelUpload(repository: repository, location: location!)
                location = nil
                try await source.recover(from: response)   // throws unless the source healed its GET
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
                guard let final = try await upload.settle(answer) else { continue }
                throw RegistryError.from(response: final, host: host, what: upload.what)
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
