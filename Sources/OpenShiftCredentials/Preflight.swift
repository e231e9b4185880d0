import HTTPTransport

/// What a promotion will do with an image stream, for the permission preflight.
public enum ImageStreamUse: String, Sendable {
    /// Read it (`get imagestreams/layers`).
    case pull
    /// Write it: `get` + `update imagestreams/layers`, and `create imagestreams` when a push by tag
    /// creates the stream (the registry creates it with the user's own client).
    case push
}

/// The answers of one project's access reviews (per session, asked once).
struct NamespaceAccess: Sendable {
    /// False when the cluster does not answer SelfSubjectAccessReviews.
    var answered: Bool
    var pull = true
    var push = true
    var createStreams = true
}

extension ClusterSession {
    /// Checks with SelfSubjectAccessReviews (authorization.k8s.io/v1), before anything moves, that the
    /// session's user may `use` image stream `imageStream` in `namespace`. The reviews are asked once per
    /// project and use (concurrent and later calls share them), so a release with many images in one
    /// project costs one round of reviews. Whether the stream exists is looked up per stream, and only
    /// when the user may not create streams.
    ///
    /// A cluster that does not answer the review API is no error (said in the -v log). Throws
    /// `ImageAccessDenied` (origin `.accessReview`) for a "no", `OpenShiftError` when the API rejects the
    /// token.
    /// - Parameters:
    ///   - byTag: the push writes a tag (a push by digest never creates a stream).
    ///   - streamExists: asked when the API will not say whether the stream exists (users who may push
    ///     but not read streams); the registry can (its tag list of a missing stream is NAME_UNKNOWN).
    public func preflight(namespace: String, imageStream: String?, use: ImageStreamUse, byTag: Bool = true,
                          streamExists: (@Sendable () async throws -> Bool)? = nil) async throws {
        let access = try await namespaceAccess(namespace, use)
        guard access.answered else {
            log("\(apiURL) does not answer SelfSubjectAccessReviews; no permission preflight for \(namespace)")
            return
        }
        let user = try? await whoami()
        func denied(_ verb: ImageAccessDenied.Verb) -> ImageAccessDenied {
            ImageAccessDenied(apiURL: apiURL, user: user, namespace: namespace, imageStream: imageStream, verb: verb,
                              origin: .accessReview)
        }
        switch use {
        case .pull:
            guard access.pull else { throw denied(.pull) }
        case .push:
            guard access.pull, access.push else { throw denied(.push) }
            guard byTag, !access.createStreams, let imageStream else { break }
            let path = "/apis/image.openshift.io/v1/namespaces/\(URLTools.pathEscape(namespace))/imagestreams/\(URLTools.pathEscape(imageStream))"
            let r = try await api("GET", path)
            switch r.status {
            case 200: break
            case 404: throw denied(.createImageStream)
            case 401: throw rejected()
            default:
                if let streamExists, let exists = try? await streamExists() {
                    if !exists { throw denied(.createImageStream) }
                } else {
                    log("cannot tell whether image stream \(namespace)/\(imageStream) exists (HTTP \(r.status)); if it does not, the push needs role registry-editor or edit to create it")
                }
            }
        }
        log("permission preflight for \(use.rawValue) in \(namespace): allowed")
    }

    private func namespaceAccess(_ namespace: String, _ use: ImageStreamUse) async throws -> NamespaceAccess {
        let key = "\(use.rawValue)|\(namespace)"
        let task = preflightTasks.withLock { tasks -> Task<NamespaceAccess, any Error> in
            if let t = tasks[key] { return t }
            let t = Task { try await self.reviewNamespace(namespace, use) }
            tasks[key] = t
            return t
        }
        return try await task.value
    }

    private func reviewNamespace(_ namespace: String, _ use: ImageStreamUse) async throws -> NamespaceAccess {
        async let pull = accessReview(namespace: namespace, verb: "get", resource: "imagestreams/layers", name: nil)
        guard use == .push else {
            let p = try await pull
            return NamespaceAccess(answered: p != nil, pull: p ?? true)
        }
        async let push = accessReview(namespace: namespace, verb: "update", resource: "imagestreams/layers", name: nil)
        async let create = accessReview(namespace: namespace, verb: "create", resource: "imagestreams", name: nil)
        let (p, u, c) = try await (pull, push, create)
        return NamespaceAccess(answered: p != nil && u != nil, pull: p ?? true, push: u ?? true, createStreams: c ?? true)
    }
}
