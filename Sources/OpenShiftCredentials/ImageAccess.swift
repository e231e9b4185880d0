import FoundationEssentials
import HTTPTransport
import OCIRegistry

/// A user whose token the cluster accepts may not do something with an image stream. Structured so the
/// caller can render it (with the command that grants `roles`); `description` is a plain sentence.
public struct ImageAccessDenied: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Verb: String, Sendable {
        /// `get imagestreams/layers`.
        case pull
        /// `update imagestreams/layers`.
        case push
        /// `create imagestreams` (a push by tag to a stream that does not exist yet).
        case createImageStream
        /// `update`/`create imagestreamtags` (the image stream tag API, `oc tag`).
        case tag
        /// The registry refuses a token the API accepts, outside any repository.
        case useRegistry
    }

    /// Who said no.
    public enum Origin: String, Sendable {
        /// The registry refused a request (after the cluster had just accepted the token).
        case registry
        /// A SelfSubjectAccessReview before anything moved.
        case accessReview
        /// The image stream API.
        case api
    }

    public var apiURL: String
    public var user: String?
    public var namespace: String
    public var imageStream: String?
    public var verb: Verb
    public var origin: Origin
    /// Cluster roles that grant the missing permission, the narrowest first.
    public var roles: [String]

    public init(apiURL: String, user: String?, namespace: String, imageStream: String?, verb: Verb, origin: Origin) {
        self.apiURL = apiURL
        self.user = user
        self.namespace = namespace
        self.imageStream = imageStream
        self.verb = verb
        self.origin = origin
        roles = ImageAccessDenied.roles(for: verb)
    }

    /// The roles that grant `verb` in a project (cluster-openshift-apiserver-operator's bootstrap roles).
    public static func roles(for verb: Verb) -> [String] {
        switch verb {
        case .pull: return ["system:image-puller", "registry-viewer"]
        case .push: return ["system:image-pusher", "registry-editor"]
        case .createImageStream, .tag: return ["registry-editor", "edit"]
        case .useRegistry: return []
        }
    }

    /// The SubjectAccessReview attributes of `verb` (group `image.openshift.io`).
    public var reviewAttributes: (verb: String, resource: String) {
        switch verb {
        case .pull: return ("get", "imagestreams/layers")
        case .push: return ("update", "imagestreams/layers")
        case .createImageStream: return ("create", "imagestreams")
        case .tag: return ("update", "imagestreamtags")
        case .useRegistry: return ("get", "imagestreams/layers")
        }
    }

    public var description: String {
        let who = user.map { "user \"\($0)\"" } ?? "the user"
        let target = imageStream.map { "\(namespace)/\($0)" } ?? namespace
        let action: String
        switch verb {
        case .pull: action = "may not pull from \(target)"
        case .push: action = "may not push to \(target)"
        case .createImageStream: action = "may not create image streams in project \(namespace) (needed to push \(target), which does not exist yet)"
        case .tag: action = "may not tag images in project \(namespace)"
        case .useRegistry: action = "is refused by the registry although \(apiURL) accepts the token"
        }
        let by: String
        switch origin {
        case .registry: by = "the registry refused it; \(apiURL) accepts the token"
        case .accessReview: by = "access review on \(apiURL)"
        case .api: by = "\(apiURL) refused it"
        }
        let grant = roles.isEmpty ? "" : "; role \(roles.joined(separator: " or ")) in project \(namespace) grants it"
        return "\(who) \(action) (\(by))\(grant)"
    }
}

/// Registry credentials of a cluster side: the session's current token, and an explanation of the
/// registry's refusals, which cannot tell a bad token from a missing role (protocol notes §5.4, §7.10).
public struct ClusterRegistryCredentials: RefusalInterpreting {
    public let session: ClusterSession

    public init(session: ClusterSession) { self.session = session }

    public func credential(host: String, repository: String?) async throws -> RegistryCredential? {
        let c = try await session.registryCredential()
        return RegistryCredential(username: c.username, password: c.password)
    }

    public func registryRefused(_ error: RegistryError) async -> RefusalVerdict {
        await session.interpretRegistryRefusal(error)
    }
}

extension ClusterSession {
    /// Registry credentials that explain refusals and renew an expired token.
    public func registryCredentials() -> ClusterRegistryCredentials { ClusterRegistryCredentials(session: self) }

    /// A token the cluster accepts (it was just checked) refused by the registry is a missing role; a
    /// token the cluster rejects too is renewed once if possible, else an authentication failure.
    func interpretRegistryRefusal(_ error: RegistryError) async -> RefusalVerdict {
        guard let refusal = error.refusal, hasToken else { return .unchanged }
        let used = token()
        switch await checkToken(used) {
        case .rejected:
            if await renewToken(after: used) { return .renewed }
            return .replace(OpenShiftError(.authentication,
                "\(error.message); \(apiURL) rejects the token too (expired or revoked): \(rejectedHint.problem)",
                remedies: rejectedHint.remedies, host: apiURL, side: side, underlying: error))
        case .unknown:
            return .unchanged
        case .accepted(let user):
            // Sent just before a renewal, the request may have carried the old token: repeat it once.
            if recentlyRenewed && !refusal.afterRenewal { return .renewed }
            let (namespace, stream) = Self.split(refusal.repository)
            guard let namespace else {
                return .replace(ImageAccessDenied(apiURL: apiURL, user: user, namespace: "", imageStream: nil,
                                                  verb: .useRegistry, origin: .registry))
            }
            if error.status == 403 {
                // DENIED: on a push, usually the stream cannot be created as this user (or a quota).
                guard refusal.action == .push else { return .unchanged }
                if let stream, await imageStreamExists(namespace: namespace, name: stream) { return .unchanged }
                let mayCreate = try? await accessReview(namespace: namespace, verb: "create", resource: "imagestreams", name: nil)
                guard mayCreate == false else { return .unchanged }
                return .replace(ImageAccessDenied(apiURL: apiURL, user: user, namespace: namespace, imageStream: stream,
                                                  verb: .createImageStream, origin: .registry))
            }
            return .replace(ImageAccessDenied(apiURL: apiURL, user: user, namespace: namespace, imageStream: stream,
                                              verb: refusal.action == .push ? .push : .pull, origin: .registry))
        }
    }

    static func split(_ repository: String?) -> (String?, String?) {
        guard let repository, !repository.isEmpty else { return (nil, nil) }
        let parts = repository.split(separator: "/", maxSplits: 1)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : nil)
    }

    // MARK: - SelfSubjectAccessReview

    /// Whether the session's user may `verb` `resource` (with subresource after a '/') in `namespace`
    /// (group `image.openshift.io`): true/false, nil when the cluster does not serve the review API.
    public func accessReview(namespace: String, verb: String, resource: String, name: String?) async throws -> Bool? {
        var attributes: [String: String] = ["namespace": namespace, "verb": verb, "group": "image.openshift.io"]
        let parts = resource.split(separator: "/", maxSplits: 1)
        attributes["resource"] = String(parts[0])
        if parts.count > 1 { attributes["subresource"] = String(parts[1]) }
        if let name, !name.isEmpty { attributes["name"] = name }
        struct Body: Encodable {
            var kind = "SelfSubjectAccessReview"
            var apiVersion = "authorization.k8s.io/v1"
            var spec: [String: [String: String]]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = String(decoding: try encoder.encode(Body(spec: ["resourceAttributes": attributes])), as: UTF8.self)
        let r = try await api("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body: body)
        switch r.status {
        case 200, 201:
            struct Review: Decodable { struct Status: Decodable { var allowed: Bool? }; var status: Status? }
            guard let review = try? JSONDecoder().decode(Review.self, from: Data(r.body)) else {
                throw self.error(.protocolError, "\(apiURL) answered the access review with an unreadable body")
            }
            return review.status?.allowed ?? false
        case 401:
            throw rejected()
        case 404, 405, 501:
            return nil
        default:
            // 403 (a user not allowed to ask) and the like: no answer either.
            log("access review answered HTTP \(r.status)")
            return nil
        }
    }

    /// True when `GET imagestreams/NAME` finds it; false when 404 or unreadable (403).
    func imageStreamExists(namespace: String, name: String) async -> Bool {
        let path = "/apis/image.openshift.io/v1/namespaces/\(URLTools.pathEscape(namespace))/imagestreams/\(URLTools.pathEscape(name))"
        guard let r = try? await api("GET", path) else { return false }
        return r.status == 200
    }
}
