import FoundationEssentials

/// Access reviews and the image stream tag API (what `oc tag` and `oc auth can-i` use).
extension APIServer {
    // MARK: SelfSubjectAccessReview (authorization.k8s.io/v1)

    struct AccessReviewRequest: Decodable {
        struct Spec: Decodable {
            struct Attributes: Decodable {
                var namespace: String?
                var verb: String?
                var group: String?
                var resource: String?
                var subresource: String?
                var name: String?
            }
            var resourceAttributes: Attributes?
        }
        var spec: Spec?
    }

    func selfSubjectAccessReview(_ identity: Identity, body: [UInt8]) -> EmuResponse {
        guard let review = try? JSONDecoder().decode(AccessReviewRequest.self, from: Data(body)) else {
            return APIServer.status(400, reason: "BadRequest", message: "the body of the request was in an unknown format")
        }
        guard let a = review.spec?.resourceAttributes else {
            return APIServer.status(422, reason: "Invalid",
                                    message: "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified")
        }
        // RBAC matches `resource/subresource` against its rules (imagestreams/layers either way).
        var resource = a.resource ?? ""
        if let sub = a.subresource, !sub.isEmpty { resource += "/" + sub }
        let namespace = a.namespace ?? ""
        let verb = a.verb ?? ""
        let allowed = !namespace.isEmpty
            && state.allowed(identity, namespace: namespace, verb: verb, group: a.group ?? "", resource: resource)
        var attributes: [(String, JSON)] = []
        if !namespace.isEmpty { attributes.append(("namespace", .string(namespace))) }
        if !verb.isEmpty { attributes.append(("verb", .string(verb))) }
        if let g = a.group, !g.isEmpty { attributes.append(("group", .string(g))) }
        if let r = a.resource, !r.isEmpty { attributes.append(("resource", .string(r))) }
        if let s = a.subresource, !s.isEmpty { attributes.append(("subresource", .string(s))) }
        if let n = a.name, !n.isEmpty { attributes.append(("name", .string(n))) }
        var status: [(String, JSON)] = [("allowed", .bool(allowed))]
        if allowed, let role = state.grantingRole(identity, namespace: namespace, verb: verb, resource: resource) {
            status.append(("reason", .string("RBAC: allowed by RoleBinding \"\(role)/\(namespace)\" of ClusterRole \"\(role)\" to User \"\(identity.username)\"")))
        }
        return .json(201, .object([
            ("kind", .string("SelfSubjectAccessReview")), ("apiVersion", .string("authorization.k8s.io/v1")),
            ("metadata", .object([("creationTimestamp", .null)])),
            ("spec", .object([("resourceAttributes", .object(attributes))])),
            ("status", .object(status)),
        ]), extraHeaders: APIServer.kubeHeaders)
    }

    // MARK: ImageStreamTag (image.openshift.io/v1)

    struct TagBody: Decodable {
        struct Tag: Decodable {
            struct From: Decodable {
                var kind: String?
                var namespace: String?
                var name: String?
            }
            struct Policy: Decodable { var type: String? }
            var from: From?
            var referencePolicy: Policy?
        }
        var tag: Tag?
    }

    static func splitTag(_ id: String) -> (String, String)? {
        let parts = id.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    func imageStreamTag(_ method: String, namespace ns: String, id: String, identity: Identity?, body: [UInt8]) -> EmuResponse {
        let user = identity?.username ?? "system:anonymous"
        let verb = method == "GET" ? "get" : method == "PUT" ? "update" : "create"
        guard state.allowed(identity, namespace: ns, verb: verb, group: "image.openshift.io", resource: "imagestreamtags") else {
            return APIServer.forbidden(user: user, verb: verb, resource: "imagestreamtags", group: "image.openshift.io",
                                       name: id.isEmpty ? nil : id, namespace: ns)
        }
        guard let (name, tag) = APIServer.splitTag(id) else {
            return APIServer.status(400, reason: "BadRequest", message: "ImageStreamTags must be retrieved with <name>:<tag>")
        }
        let notFound = APIServer.notFound(resource: "imagestreamtags", group: "image.openshift.io", name: id)
        if method == "GET" {
            guard state.streamExists(namespace: ns, name: name),
                  let event = statusTags(namespace: ns, name: name).first(where: { $0.tag == tag }) else { return notFound }
            return .json(200, tagJSON(namespace: ns, name: name, tag: tag, digest: event.digest, reference: event.reference),
                         extraHeaders: APIServer.kubeHeaders)
        }

        guard let request = try? JSONDecoder().decode(TagBody.self, from: Data(body)), let from = request.tag?.from,
              let kind = from.kind, let fromName = from.name else {
            return APIServer.status(422, reason: "Invalid",
                                    message: "ImageStreamTag.image.openshift.io \"\(id)\" is invalid: tag.from: Required value")
        }
        let exists = state.streamExists(namespace: ns, name: name)
        if method == "POST", exists, state.specTags(namespace: ns, name: name)[tag] != nil
            || statusTags(namespace: ns, name: name).contains(where: { $0.tag == tag }) {
            return APIServer.status(409, reason: "AlreadyExists", message: "imagestreamtag.image.openshift.io \"\(id)\" already exists",
                                    details: APIServer.details(name: id, group: "image.openshift.io", kind: "imagestreamtag"))
        }
        let fromNamespace = (from.namespace ?? "").isEmpty ? ns : from.namespace!
        // Tagging from another project needs pull access there (the stream strategy's TagVerifier review).
        let fromStream: String
        var digest: String?
        switch kind {
        case "ImageStreamImage":
            let parts = fromName.split(separator: "@", maxSplits: 1)
            guard parts.count == 2 else {
                return APIServer.status(422, reason: "Invalid", message: "ImageStream.image.openshift.io \"\(name)\" is invalid: spec.tags[\(tag)].from.name: Invalid value: \"\(fromName)\": must be of the form <tag>, <repo>:<tag>, <id>, or <repo>@<id>")
            }
            fromStream = String(parts[0])
            digest = String(parts[1])
        case "ImageStreamTag":
            guard let (stream, sourceTag) = APIServer.splitTag(fromName) else {
                return APIServer.status(422, reason: "Invalid", message: "ImageStream.image.openshift.io \"\(name)\" is invalid: spec.tags[\(tag)].from.name: Invalid value: \"\(fromName)\": must be of the form <tag>, <repo>:<tag>, <id>, or <repo>@<id>")
            }
            fromStream = stream
            digest = statusTags(namespace: fromNamespace, name: stream).first { $0.tag == sourceTag }?.digest
        default:
            fromStream = ""
        }
        if !fromStream.isEmpty, fromNamespace != ns,
           !state.allowed(identity, namespace: fromNamespace, verb: "get", group: "image.openshift.io", resource: "imagestreams/layers") {
            return APIServer.status(422, reason: "Invalid",
                                    message: "ImageStream.image.openshift.io \"\(name)\" is invalid: spec.tags[\(tag)].from: Forbidden: \(fromNamespace)/\(fromStream)",
                                    details: APIServer.details(name: name, group: "image.openshift.io", kind: "ImageStream"))
        }
        state.createStream(namespace: ns, name: name)
        var reference = ""
        if let d = digest, let storage, storage.hasManifest(namespace: fromNamespace, name: fromStream, digest: d) {
            reference = "\(APIServer.internalRegistryHostname)/\(fromNamespace)/\(fromStream)@\(d)"
            do {
                try storage.tag(from: (fromNamespace, fromStream), digest: d, to: (ns, name), tag: tag)
            } catch {
                return APIServer.status(500, reason: "InternalError", message: "Internal error occurred: \(error)")
            }
        } else {
            digest = nil
        }
        state.setSpecTag(namespace: ns, name: name, tag: tag, .init(
            fromKind: kind, fromNamespace: fromNamespace, fromName: fromName,
            referencePolicy: request.tag?.referencePolicy?.type ?? "Source", image: digest ?? "",
            dockerImageReference: reference, created: Clock.now()))
        let status = exists && method == "PUT" ? 200 : 201
        return .json(status, tagJSON(namespace: ns, name: name, tag: tag, digest: digest, reference: reference),
                     extraHeaders: APIServer.kubeHeaders)
    }

    func tagJSON(namespace: String, name: String, tag: String, digest: String?, reference: String) -> JSON {
        var fields: [(String, JSON)] = [
            ("kind", .string("ImageStreamTag")), ("apiVersion", .string("image.openshift.io/v1")),
            ("metadata", .object([("name", .string("\(name):\(tag)")), ("namespace", .string(namespace)),
                                  ("uid", .string(stableUID("is/\(namespace)/\(name)"))), ("resourceVersion", .string("1")),
                                  ("creationTimestamp", .string("2025-01-01T00:00:00Z"))])),
        ]
        if let spec = state.specTags(namespace: namespace, name: name)[tag] {
            fields.append(("tag", specTagJSON(tag, spec)))
        } else {
            fields.append(("tag", .null))
        }
        fields.append(("generation", .int(1)))
        fields.append(("lookupPolicy", .object([("local", .bool(false))])))
        if let digest {
            fields.append(("image", .object([
                ("metadata", .object([("name", .string(digest)), ("uid", .string(stableUID("image/" + digest)))])),
                ("dockerImageReference", .string(reference)),
            ])))
        }
        return .object(fields)
    }

    func specTagJSON(_ tag: String, _ s: ClusterState.SpecTag) -> JSON {
        var from: [(String, JSON)] = [("kind", .string(s.fromKind))]
        if s.fromKind != "DockerImage" { from.append(("namespace", .string(s.fromNamespace))) }
        from.append(("name", .string(s.fromName)))
        return .object([("name", .string(tag)), ("annotations", .null), ("from", .object(from)), ("generation", .int(1)),
                        ("importPolicy", .object([])), ("referencePolicy", .object([("type", .string(s.referencePolicy))]))])
    }

    func specFields(namespace: String, name: String) -> [(String, JSON)] {
        var fields: [(String, JSON)] = [("lookupPolicy", .object([("local", .bool(false))]))]
        let tags = state.specTags(namespace: namespace, name: name)
        if !tags.isEmpty {
            fields.append(("tags", .array(tags.keys.sorted().map { specTagJSON($0, tags[$0]!) })))
        }
        return fields
    }
}
