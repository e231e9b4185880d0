import LoopbackHTTP
import FoundationEssentials

/// The kube-apiserver side: discovery, whoami, access reviews, token deletion, projects, image streams
/// and image stream tags, registry discovery.
final class APIServer: Sendable {
    let state: ClusterState
    let issuer: String
    let registryHost: String
    let storage: RegistryStorage?

    static let internalRegistryHostname = "image-registry.openshift-image-registry.svc:5000"
    static let kubeHeaders: [(name: String, value: String)] = [
        ("Cache-Control", "no-cache, private"),
        ("X-Content-Type-Options", "nosniff"),
    ]

    init(state: ClusterState, issuer: String, registryHost: String, storage: RegistryStorage?) {
        self.state = state
        self.issuer = issuer
        self.registryHost = registryHost
        self.storage = storage
    }

    static func oauthMetadata(issuer: String, pkceMethods: [String]) -> JSON {
        var fields: [(String, JSON)] = [
            ("issuer", .string(issuer)),
            ("authorization_endpoint", .string(issuer + "/oauth/authorize")),
            ("token_endpoint", .string(issuer + "/oauth/token")),
            ("scopes_supported", .strings(["user:check-access", "user:full", "user:info", "user:list-projects",
                                           "user:list-scoped-projects"])),
            ("response_types_supported", .strings(["code", "token"])),
            ("grant_types_supported", .strings(["authorization_code", "implicit"])),
        ]
        if !pkceMethods.isEmpty { fields.append(("code_challenge_methods_supported", .strings(pkceMethods))) }
        return .object(fields)
    }

    // MARK: Status bodies (k8s metav1.Status)

    static func status(_ code: Int, reason: String, message: String, details: JSON? = nil) -> EmuResponse {
        var fields: [(String, JSON)] = [
            ("kind", .string("Status")), ("apiVersion", .string("v1")), ("metadata", .object([])),
            ("status", .string("Failure")), ("message", .string(message)), ("reason", .string(reason)),
        ]
        if let details { fields.append(("details", details)) }
        fields.append(("code", .int(code)))
        return EmuResponse.json(code, .object(fields), extraHeaders: kubeHeaders)
    }

    static let unauthorized = status(401, reason: "Unauthorized", message: "Unauthorized")

    static func details(name: String?, group: String, kind: String) -> JSON {
        var f: [(String, JSON)] = []
        if let name { f.append(("name", .string(name))) }
        if !group.isEmpty { f.append(("group", .string(group))) }
        f.append(("kind", .string(kind)))
        return .object(f)
    }

    /// `<resource>.<group> "<name>" is forbidden: User "<u>" cannot <verb> resource "<resource>" in API group "<g>" ...`
    static func forbidden(user: String, verb: String, resource: String, group: String, name: String?,
                          namespace: String?, suffix: String = "") -> EmuResponse {
        let qualified = group.isEmpty ? resource : resource + "." + group
        let subject = name.map { "\(qualified) \"\($0)\" is forbidden" } ?? "\(qualified) is forbidden"
        let scope = namespace.map { "in the namespace \"\($0)\"" } ?? "at the cluster scope"
        let message = "\(subject): User \"\(user)\" cannot \(verb) resource \"\(resource.split(separator: "/").first!)\""
            + " in API group \"\(group)\" \(scope)" + suffix
        let kind = String(resource.split(separator: "/").first!)
        return status(403, reason: "Forbidden", message: message, details: details(name: name, group: group, kind: kind))
    }

    static func notFound(resource: String, group: String, name: String) -> EmuResponse {
        let qualified = group.isEmpty ? resource : resource + "." + group
        return status(404, reason: "NotFound", message: "\(qualified) \"\(name)\" not found",
                      details: details(name: name, group: group, kind: resource))
    }

    // MARK: Routing

    func handle(_ req: EmuRequest) -> EmuResponse {
        // Authentication filter: a presented but invalid bearer token is 401 everywhere.
        var identity: Identity?
        if let token = req.bearerToken {
            switch state.authenticate(token: token) {
            case .success(let id): identity = id
            case .failure: return APIServer.unauthorized
            }
        }
        // Other schemes (Basic: kube-apiserver has no basic-auth authenticator) leave the request anonymous.
        let user = identity?.username ?? "system:anonymous"
        let segments = req.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)

        let m = req.method
        func route(_ methods: [String], _ pattern: String) -> [String]? {
            guard methods.contains(m) else { return nil }
            return APIServer.match(pattern, segments)
        }
        if route(["GET", "HEAD"], "") != nil {
            guard identity != nil else {
                return APIServer.status(403, reason: "Forbidden",
                                        message: "forbidden: User \"system:anonymous\" cannot \(req.method.lowercased()) path \"/\"",
                                        details: .object([]))
            }
            return .json(200, .object([("paths", .strings(["/.well-known/oauth-authorization-server", "/api", "/api/v1",
                                                            "/apis", "/healthz", "/version"]))]),
                         extraHeaders: APIServer.kubeHeaders)
        } else if route(["GET", "HEAD"], "version") != nil {
            return .json(200, .object([
                ("major", .string("1")), ("minor", .string("31")), ("gitVersion", .string("v1.31.6")),
                ("gitCommit", .string("0000000000000000000000000000000000000000")), ("gitTreeState", .string("clean")),
                ("buildDate", .string("2025-01-01T00:00:00Z")), ("goVersion", .string("go1.22.9")),
                ("compiler", .string("gc")), ("platform", .string("linux/amd64")),
            ]), extraHeaders: APIServer.kubeHeaders)
        } else if route(["GET"], "healthz") != nil || route(["GET"], "readyz") != nil || route(["GET"], "livez") != nil {
            return .text(200, "ok")
        } else if route(["GET", "HEAD"], ".well-known/oauth-authorization-server") != nil {
            return .json(200, APIServer.oauthMetadata(issuer: issuer, pkceMethods: state.config.pkceMethods))
        } else if route(["POST"], "apis/authentication.k8s.io/v1/selfsubjectreviews") != nil {
            guard let identity else {
                return APIServer.forbidden(user: user, verb: "create", resource: "selfsubjectreviews",
                                           group: "authentication.k8s.io", name: nil, namespace: nil)
            }
            return selfSubjectReview(identity)
        } else if state.config.accessReviewAPI, route(["POST"], "apis/authorization.k8s.io/v1/selfsubjectaccessreviews") != nil {
            guard let identity else {
                return APIServer.forbidden(user: user, verb: "create", resource: "selfsubjectaccessreviews",
                                           group: "authorization.k8s.io", name: nil, namespace: nil)
            }
            return selfSubjectAccessReview(identity, body: req.body)
        } else if let captured = route(["GET", "PUT"], "apis/image.openshift.io/v1/namespaces/*/imagestreamtags/*") {
            return imageStreamTag(req.method, namespace: captured[0], id: captured[1], identity: identity, body: req.body)
        } else if let captured = route(["POST"], "apis/image.openshift.io/v1/namespaces/*/imagestreamtags") {
            struct Meta: Decodable { struct M: Decodable { var name: String? }; var metadata: M? }
            let name = (try? JSONDecoder().decode(Meta.self, from: Data(req.body)))?.metadata?.name ?? ""
            return imageStreamTag("POST", namespace: captured[0], id: name, identity: identity, body: req.body)
        } else if route(["GET"], "apis/user.openshift.io/v1/users/~") != nil {
            guard let identity else {
                return APIServer.forbidden(user: user, verb: "get", resource: "users", group: "user.openshift.io",
                                           name: "~", namespace: nil, suffix: ": requests to ~ must be authenticated")
            }
            return userObject(identity)
        } else if let captured = route(["DELETE"], "apis/oauth.openshift.io/v1/oauthaccesstokens/*") {
            let name = captured[0]
            return deleteToken(name: name, identity: identity)
        } else if route(["GET"], "apis/project.openshift.io/v1/projects") != nil {
            guard let identity else {
                return APIServer.forbidden(user: user, verb: "list", resource: "projects", group: "project.openshift.io",
                                           name: nil, namespace: nil)
            }
            let items = state.config.projects.filter { state.canSeeProject(identity, project: $0.name) }.map(projectJSON)
            return .json(200, .object([("kind", .string("ProjectList")), ("apiVersion", .string("project.openshift.io/v1")),
                                       ("metadata", .object([])), ("items", .array(items))]),
                         extraHeaders: APIServer.kubeHeaders)
        } else if let captured = route(["GET"], "apis/project.openshift.io/v1/projects/*") {
            let name = captured[0]
            guard let p = state.project(name), state.canSeeProject(identity, project: name) else {
                return APIServer.forbidden(user: user, verb: "get", resource: "projects", group: "project.openshift.io",
                                           name: name, namespace: name)
            }
            return .json(200, projectJSON(p), extraHeaders: APIServer.kubeHeaders)
        } else if let captured = route(["GET"], "api/v1/namespaces/*/configmaps/*") {
            let ns = captured[0]
            let name = captured[1]
            guard identity != nil || ns == "openshift" else {
                return APIServer.forbidden(user: user, verb: "get", resource: "configmaps", group: "", name: name,
                                           namespace: ns)
            }
            return APIServer.notFound(resource: "configmaps", group: "", name: name)
        } else if let captured = route(["GET"], "apis/image.openshift.io/v1/namespaces/*/imagestreams") {
            let ns = captured[0]
            guard state.allowed(identity, namespace: ns, verb: "list", group: "image.openshift.io", resource: "imagestreams") else {
                return APIServer.forbidden(user: user, verb: "list", resource: "imagestreams", group: "image.openshift.io",
                                           name: nil, namespace: ns)
            }
            let items = imageStreams(in: ns).map { imageStreamJSON(namespace: ns, name: $0) }
            return .json(200, .object([("kind", .string("ImageStreamList")),
                                       ("apiVersion", .string("image.openshift.io/v1")),
                                       ("metadata", .object([("resourceVersion", .string("1"))])),
                                       ("items", .array(items))]), extraHeaders: APIServer.kubeHeaders)
        } else if let captured = route(["GET"], "apis/image.openshift.io/v1/namespaces/*/imagestreams/*") {
            let ns = captured[0]
            let name = captured[1]
            guard state.allowed(identity, namespace: ns, verb: "get", group: "image.openshift.io", resource: "imagestreams") else {
                return APIServer.forbidden(user: user, verb: "get", resource: "imagestreams", group: "image.openshift.io",
                                           name: name, namespace: ns)
            }
            guard imageStreams(in: ns).contains(name) else {
                return APIServer.notFound(resource: "imagestreams", group: "image.openshift.io", name: name)
            }
            return .json(200, imageStreamJSON(namespace: ns, name: name), extraHeaders: APIServer.kubeHeaders)
        } else if route(["GET"], "apis/config.openshift.io/v1/images/cluster") != nil {
            guard state.canReadClusterConfig(identity) else {
                return APIServer.forbidden(user: user, verb: "get", resource: "images", group: "config.openshift.io",
                                           name: "cluster", namespace: nil)
            }
            return .json(200, imagesConfigJSON(), extraHeaders: APIServer.kubeHeaders)
        } else if let captured = route(["GET"], "apis/route.openshift.io/v1/namespaces/openshift-image-registry/routes/*") {
            let name = captured[0]
            guard state.canReadClusterConfig(identity) else {
                return APIServer.forbidden(user: user, verb: "get", resource: "routes", group: "route.openshift.io",
                                           name: name, namespace: "openshift-image-registry")
            }
            guard name == "default-route", state.config.exposeRegistry == .route else {
                return APIServer.notFound(resource: "routes", group: "route.openshift.io", name: name)
            }
            return .json(200, routeJSON(), extraHeaders: APIServer.kubeHeaders)
        } else {
            guard identity != nil else {
                return APIServer.status(403, reason: "Forbidden",
                                        message: "forbidden: User \"system:anonymous\" cannot \(req.method.lowercased()) path \"\(req.path)\"",
                                        details: .object([]))
            }
            return APIServer.status(404, reason: "NotFound", message: "the server could not find the requested resource",
                                    details: .object([("causes", .array([.object([("reason", .string("UnexpectedServerResponse")),
                                                                                  ("message", .string("404 page not found"))])]))]))
        }
    }

    /// Matches `a/b/*` against path segments; returns the `*` captures.
    static func match(_ pattern: String, _ segments: [String]) -> [String]? {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == segments.count else { return nil }
        var captures: [String] = []
        for (p, s) in zip(parts, segments) {
            if p == "*" { captures.append(s) } else if p != s { return nil }
        }
        return captures
    }

    // MARK: Objects

    private func userInfoJSON(_ id: Identity) -> JSON {
        var fields: [(String, JSON)] = [("username", .string(id.username)), ("uid", .string(id.uid)),
                                        ("groups", .strings(id.groups))]
        if let scopes = id.scopes {
            fields.append(("extra", .object([("scopes.authorization.openshift.io", .strings(scopes))])))
        }
        return .object(fields)
    }

    private func selfSubjectReview(_ id: Identity) -> EmuResponse {
        .json(201, .object([
            ("kind", .string("SelfSubjectReview")), ("apiVersion", .string("authentication.k8s.io/v1")),
            ("metadata", .object([("creationTimestamp", .string(Clock.rfc3339(Clock.now())))])),
            ("status", .object([("userInfo", userInfoJSON(id))])),
        ]), extraHeaders: APIServer.kubeHeaders)
    }

    private func userObject(_ id: Identity) -> EmuResponse {
        switch id.kind {
        case .oauthUser:
            return .json(200, .object([
                ("kind", .string("User")), ("apiVersion", .string("user.openshift.io/v1")),
                ("metadata", .object([("name", .string(id.username)), ("uid", .string(id.uid)),
                                      ("resourceVersion", .string("1")),
                                      ("creationTimestamp", .string("2025-01-01T00:00:00Z"))])),
                ("identities", .strings(["\(state.config.identityProviderName):\(id.username)"])),
                ("groups", .strings(id.groups)),
            ]), extraHeaders: APIServer.kubeHeaders)
        case .serviceAccount:
            return .json(200, .object([
                ("kind", .string("User")), ("apiVersion", .string("user.openshift.io/v1")),
                ("metadata", .object([("name", .string(id.username)), ("uid", .string(id.uid))])),
                ("groups", .strings(id.groups.sorted())),
            ]), extraHeaders: APIServer.kubeHeaders)
        }
    }

    private func deleteToken(name: String, identity: Identity?) -> EmuResponse {
        guard identity != nil || state.config.anonymousTokenDelete else {
            return APIServer.forbidden(user: "system:anonymous", verb: "delete", resource: "oauthaccesstokens",
                                       group: "oauth.openshift.io", name: name, namespace: nil)
        }
        guard let r = state.revoke(objectName: name) else {
            return APIServer.notFound(resource: "oauthaccesstokens", group: "oauth.openshift.io", name: name)
        }
        return .json(200, .object([
            ("kind", .string("OAuthAccessToken")), ("apiVersion", .string("oauth.openshift.io/v1")),
            ("metadata", .object([("name", .string(r.name)), ("uid", .string(stableUID("token/" + r.name))),
                                  ("resourceVersion", .string("1")),
                                  ("creationTimestamp", .string(Clock.rfc3339(r.created)))])),
            ("clientName", .string(r.clientName)), ("expiresIn", .int(r.expiresIn)), ("scopes", .strings(r.scopes)),
            ("redirectURI", .string(r.redirectURI)), ("userName", .string(r.userName)), ("userUID", .string(r.userUID)),
            ("authorizeToken", .string("sha256~" + Base64.urlEncode(Crypto.sha256(r.name)))),
        ]), extraHeaders: APIServer.kubeHeaders)
    }

    private func projectJSON(_ p: EmulatorConfig.Project) -> JSON {
        .object([
            ("kind", .string("Project")), ("apiVersion", .string("project.openshift.io/v1")),
            ("metadata", .object([("name", .string(p.name)), ("uid", .string(stableUID("project/" + p.name))),
                                  ("resourceVersion", .string("1")),
                                  ("creationTimestamp", .string("2025-01-01T00:00:00Z"))])),
            ("spec", .object([("finalizers", .strings(["kubernetes"]))])),
            ("status", .object([("phase", .string("Active"))])),
        ])
    }

    /// Configured streams plus those created by a push by tag or through the image stream tag API.
    func imageStreams(in namespace: String) -> [String] {
        var names = state.config.imageStreams.filter { $0.namespace == namespace }.map(\.name)
        for name in state.createdStreams(namespace: namespace) where !names.contains(name) { names.append(name) }
        return names.sorted()
    }

    /// `status.tags` of a stream: every tag the registry holds for it (pushed, or set through the API),
    /// newest event first, one event each.
    func statusTags(namespace: String, name: String) -> [(tag: String, digest: String, reference: String, created: Double)] {
        let spec = state.specTags(namespace: namespace, name: name)
        var out: [(tag: String, digest: String, reference: String, created: Double)] = []
        for (tag, digest) in storage?.tags(namespace: namespace, name: name) ?? [] {
            if let s = spec[tag], s.image == digest {
                out.append((tag, digest, s.dockerImageReference, s.created))
            } else {
                out.append((tag, digest, "\(APIServer.internalRegistryHostname)/\(namespace)/\(name)@\(digest)", Clock.now()))
            }
        }
        return out
    }

    func imageStreamJSON(namespace: String, name: String) -> JSON {
        var status: [(String, JSON)] = [
            ("dockerImageRepository", .string("\(APIServer.internalRegistryHostname)/\(namespace)/\(name)")),
        ]
        if state.config.exposeRegistry == .imagestream {
            status.append(("publicDockerImageRepository", .string("\(registryHost)/\(namespace)/\(name)")))
        }
        let tags = statusTags(namespace: namespace, name: name)
        if !tags.isEmpty {
            status.append(("tags", .array(tags.map { tag in
                .object([("tag", .string(tag.tag)), ("items", .array([.object([
                    ("created", .string(Clock.rfc3339(tag.created))),
                    ("dockerImageReference", .string(tag.reference)),
                    ("image", .string(tag.digest)), ("generation", .int(1)),
                ])]))])
            })))
        }
        return .object([
            ("kind", .string("ImageStream")), ("apiVersion", .string("image.openshift.io/v1")),
            ("metadata", .object([("name", .string(name)), ("namespace", .string(namespace)),
                                  ("uid", .string(stableUID("is/\(namespace)/\(name)"))),
                                  ("resourceVersion", .string("1")),
                                  ("creationTimestamp", .string("2025-01-01T00:00:00Z"))])),
            ("spec", .object(specFields(namespace: namespace, name: name))),
            ("status", .object(status)),
        ])
    }

    private func imagesConfigJSON() -> JSON {
        var status: [(String, JSON)] = [("internalRegistryHostname", .string(APIServer.internalRegistryHostname))]
        if state.config.exposeRegistry == .imagesconfig {
            status.append(("externalRegistryHostnames", .strings([registryHost])))
        }
        return .object([
            ("apiVersion", .string("config.openshift.io/v1")), ("kind", .string("Image")),
            ("metadata", .object([("name", .string("cluster")), ("uid", .string(stableUID("image/cluster"))),
                                  ("resourceVersion", .string("1")), ("generation", .int(1)),
                                  ("creationTimestamp", .string("2025-01-01T00:00:00Z"))])),
            ("spec", .object([])),
            ("status", .object(status)),
        ])
    }

    private func routeJSON() -> JSON {
        .object([
            ("kind", .string("Route")), ("apiVersion", .string("route.openshift.io/v1")),
            ("metadata", .object([("name", .string("default-route")), ("namespace", .string("openshift-image-registry")),
                                  ("uid", .string(stableUID("route/default-route"))), ("resourceVersion", .string("1")),
                                  ("creationTimestamp", .string("2025-01-01T00:00:00Z"))])),
            ("spec", .object([
                ("host", .string(registryHost)),
                ("to", .object([("kind", .string("Service")), ("name", .string("image-registry")), ("weight", .int(100))])),
                ("port", .object([("targetPort", .string("5000-tcp"))])),
                ("tls", .object([("termination", .string("reencrypt")),
                                 ("insecureEdgeTerminationPolicy", .string("Redirect"))])),
                ("wildcardPolicy", .string("None")),
            ])),
            ("status", .object([("ingress", .array([.object([
                ("host", .string(registryHost)), ("routerName", .string("default")),
                ("conditions", .array([.object([("type", .string("Admitted")), ("status", .string("True"))])])),
                ("wildcardPolicy", .string("None")),
            ])]))])),
        ])
    }
}
