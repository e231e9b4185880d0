import HTTPTransport
import LoopbackHTTP
import TestSupport

/// The integrated registry's authorization, in front of a plain `docker-registry` (its storage), as
/// openshift/image-registry `pkg/dockerregistry/server/auth.go` does it: the API token itself is the
/// credential (`Bearer <token>` or Basic with the token as password), every repository access is a
/// SubjectAccessReview on `imagestreams/layers` (pull = get, push = update), the first push by tag of a
/// new image stream creates it as the user (`create imagestreams`, else 403 DENIED), and every refusal,
/// of a bad token and of a missing role alike, is `401` with `Basic realm=openshift,error="access denied"`.
final class RegistryFront: Sendable {
    let state: ClusterState
    let storage: RegistryStorage
    /// `host:port` clients use (the token realm's host when a request has no `Host`).
    let host: String
    /// Called for every request before it is decided (tests expire tokens mid-copy with it).
    let observer = Locked<(@Sendable (_ method: String, _ path: String) -> Void)?>(nil)

    static let apiVersionHeader = ("Docker-Distribution-API-Version", "registry/2.0")

    init(state: ClusterState, storage: RegistryStorage, host: String) {
        self.state = state
        self.storage = storage
        self.host = host
    }

    enum Decision {
        /// Forward to the storage registry without the client's credentials.
        case forward
        case respond(status: Int, headers: [(String, String)], body: String)
    }

    func fault(for request: FaultProxy.ProxyRequest) -> FaultProxy.Fault {
        observer.withLock { $0 }?(request.method, request.pathWithoutQuery)
        let req = EmuRequest(method: request.method, target: request.path,
                             headers: request.headers.fields.map { (name: $0.name, value: $0.value) }, body: [])
        switch decide(req) {
        case .forward:
            return .setRequestHeader("Authorization", nil)
        case .respond(let status, let headers, let body):
            return .respond(status, headers: headers, body: Array(body.utf8))
        }
    }

    private struct Access {
        var namespace: String
        var name: String
        var action: String
        var fullName: String { "\(namespace)/\(name)" }
    }

    private static func errors(_ code: String, _ message: String, detail: String) -> String {
        #"{"errors":[{"code":"\#(code)","message":"\#(message)","detail":\#(detail)}]}"# + "\n"
    }

    private static func detail(_ records: [Access]) -> String {
        records.isEmpty ? "null" : "[" + records.map {
            #"{"Type":"repository","Class":"","Name":"\#($0.fullName)","Action":"\#($0.action)"}"#
        }.joined(separator: ",") + "]"
    }

    private func challenge(_ header: String, _ records: [Access]) -> Decision {
        .respond(status: 401, headers: [("Content-Type", "application/json; charset=utf-8"), RegistryFront.apiVersionHeader,
                                        ("WWW-Authenticate", header)],
                 body: RegistryFront.errors("UNAUTHORIZED", "authentication required", detail: RegistryFront.detail(records)))
    }

    private func accessDenied(_ records: [Access]) -> Decision {
        challenge(#"Basic realm=openshift,error="access denied""#, records)
    }

    static let denied = Decision.respond(
        status: 403, headers: [("Content-Type", "application/json; charset=utf-8"), apiVersionHeader],
        body: #"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"# + "\n")

    func decide(_ req: EmuRequest) -> Decision {
        let path = req.path
        if path == "/openshift/token" || path.hasPrefix("/openshift/token/") {
            guard req.method == "GET" || req.method == "HEAD" else { return .respond(status: 404, headers: [], body: "404 page not found\n") }
            let r = RegistryTokenService.handle(req, state: state)
            return .respond(status: r.status, headers: r.headers, body: String(decoding: r.body, as: UTF8.self))
        }
        guard path == "/v2" || path.hasPrefix("/v2/") else { return .forward }

        // Access records (distribution's appendAccessRecords with OpenShift's actions).
        var records: [Access] = []
        var catalog = false
        var manifestTagPush: (namespace: String, name: String)?
        var tagList: (namespace: String, name: String)?
        if path == "/v2/_catalog" {
            catalog = true
        } else if path != "/v2" && path != "/v2/" {
            let rest = String(path.dropFirst(4))
            let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard let kind = parts.lastIndex(where: { ["manifests", "blobs", "tags"].contains($0) }), kind > 0 else {
                return .respond(status: 404, headers: [RegistryFront.apiVersionHeader], body: "404 page not found\n")
            }
            let name = parts[..<kind].joined(separator: "/")
            guard let (ns, is_) = RegistryTokenService.namespaceName(name) else {
                return .respond(status: 400, headers: [RegistryFront.apiVersionHeader], body: "")
            }
            switch req.method {
            case "GET", "HEAD":
                records.append(Access(namespace: ns, name: is_, action: "pull"))
                if parts[kind] == "tags" { tagList = (ns, is_) }
            case "POST", "PUT", "PATCH":
                records.append(Access(namespace: ns, name: is_, action: "pull"))
                records.append(Access(namespace: ns, name: is_, action: "push"))
                if req.method == "PUT", parts[kind] == "manifests", kind + 1 < parts.count,
                   !parts[kind + 1].hasPrefix("sha256:") {
                    manifestTagPush = (ns, is_)
                }
            case "DELETE":
                records.append(Access(namespace: ns, name: is_, action: "delete"))
            default:
                return .respond(status: 405, headers: [RegistryFront.apiVersionHeader], body: "")
            }
        }

        // Credentials (getOpenShiftAPIToken).
        let authorization = req.header("Authorization") ?? ""
        let scheme = authorization.split(separator: " ", maxSplits: 1)
        var token = ""
        if scheme.count == 2, scheme[0].lowercased() == "bearer" {
            token = String(scheme[1]).trimmingSpaces
            if token == "anonymous" { token = "" }
        } else if scheme.count == 2, scheme[0].lowercased() == "basic" {
            guard let creds = req.basicCredentials, !creds.password.isEmpty else {
                return challenge(#"Basic realm=openshift,error="failed to decode credentials""#, records)
            }
            token = creds.password
        } else {
            return challenge("Bearer realm=\"https://\(req.header("Host") ?? host)/openshift/token\"", records)
        }
        var identity: Identity?
        if !token.isEmpty {
            switch state.authenticate(token: token) {
            case .success(let id): identity = id
            case .failure: return accessDenied(records)
            }
        }

        // SubjectAccessReviews.
        if catalog { return accessDenied(records) }
        var pushed = Set<String>()
        for r in records where r.action == "push" { pushed.insert(r.fullName) }
        for r in records {
            let allowed: Bool
            switch r.action {
            case "pull": allowed = state.canPull(identity, project: r.namespace)
            case "push": allowed = state.canPush(identity, project: r.namespace)
            // Abandoning an upload is `update imagestreams/layers`; any other delete is pruning (cluster
            // `delete images`), which no emulated user holds.
            default: allowed = path.contains("/blobs/uploads/") && state.canPush(identity, project: r.namespace)
            }
            if !allowed { return accessDenied(records) }
        }
        if let mountSource = req.queryValue("from"), req.queryValue("mount") != nil,
           let (ns, _) = RegistryTokenService.namespaceName(mountSource), !pushed.contains(mountSource),
           !state.canPull(identity, project: ns) {
            return accessDenied(records)
        }
        if let (ns, name) = tagList {
            // Tags come from the image stream (tagservice.go): a missing stream is NAME_UNKNOWN.
            let headers = [("Content-Type", "application/json; charset=utf-8"), RegistryFront.apiVersionHeader]
            guard state.streamExists(namespace: ns, name: name) else {
                return .respond(status: 404, headers: headers,
                                body: RegistryFront.errors("NAME_UNKNOWN", "repository name not known to registry",
                                                           detail: #"{"name":"\#(ns)/\#(name)"}"#))
            }
            let tags = storage.tags(namespace: ns, name: name).map { JSON.string($0.tag) }
            return .respond(status: 200, headers: headers,
                            body: JSON.object([("name", .string("\(ns)/\(name)")), ("tags", .array(tags))]).serialized() + "\n")
        }
        if let (ns, name) = manifestTagPush, !state.streamExists(namespace: ns, name: name) {
            // ImageStreamMapping creation found no stream: the registry creates it with the user's client.
            guard state.allowed(identity, namespace: ns, verb: "create", group: "image.openshift.io", resource: "imagestreams") else {
                return RegistryFront.denied
            }
            state.createStream(namespace: ns, name: name)
        }
        return .forward
    }
}
