import YAML

/// A merged kubeconfig, read like kubectl reads it (client-go `clientcmd`):
/// - files in order; missing files of a list are skipped (an explicit `--kubeconfig` must exist);
/// - `clusters`, `users`, `contexts`: the first file that defines a name wins entirely;
/// - `current-context`: the first file that sets a non-empty value wins;
/// - relative `certificate-authority`, `client-certificate`, `client-key`, `tokenFile` and exec
///   `command` paths (with a '/') resolve against the directory of the file that defines them.
public struct Kubeconfig: Sendable {
    public struct Cluster: Sendable {
        public var name: String
        public var server: String
        public var certificateAuthority: String?
        public var certificateAuthorityData: [UInt8]?
        public var insecureSkipTLSVerify: Bool
        public var tlsServerName: String?
        public var proxyURL: String?
        /// The file that defined this cluster.
        public var file: String
    }

    public struct ExecEnvVar: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    /// `users[].user.exec` (client.authentication.k8s.io).
    public struct ExecConfig: Sendable {
        public var apiVersion: String
        public var command: String
        public var args: [String]
        public var env: [ExecEnvVar]
        public var interactiveMode: String?
        public var installHint: String?
        public var provideClusterInfo: Bool
    }

    public struct AuthInfo: Sendable {
        public var name: String
        public var token: String?
        public var tokenFile: String?
        public var clientCertificate: String?
        public var clientCertificateData: [UInt8]?
        public var clientKey: String?
        public var clientKeyData: [UInt8]?
        public var username: String?
        public var password: String?
        public var exec: ExecConfig?
        public var authProviderName: String?
        public var file: String
    }

    public struct Context: Sendable {
        public var name: String
        public var cluster: String
        public var user: String
        public var namespace: String?
        public var file: String
    }

    public var clusters: [String: Cluster] = [:]
    public var users: [String: AuthInfo] = [:]
    public var contexts: [String: Context] = [:]
    public var currentContext: String?
    /// Files read, in order (missing list entries are not here).
    public var files: [String] = []
    /// List entries that did not exist (skipped like kubectl).
    public var missingFiles: [String] = []

    public init() {}

    public var isEmpty: Bool { clusters.isEmpty && users.isEmpty && contexts.isEmpty && currentContext == nil }

    /// Loads and merges `paths` (duplicates ignored). Missing files are skipped; a file that exists
    /// but cannot be read or parsed is an error.
    public static func load(paths: [String]) throws(OpenShiftError) -> Kubeconfig {
        try load(paths: paths, mustExist: false)
    }

    /// `mustExist`: the paths came from `--kubeconfig` and a missing file is an error.
    public static func load(paths: [String], mustExist: Bool) throws(OpenShiftError) -> Kubeconfig {
        var merged = Kubeconfig()
        var seen = Set<String>()
        for raw in paths where !raw.isEmpty {
            let path = FileSystem.absolute(raw)
            guard seen.insert(path).inserted else { continue }
            guard FileSystem.exists(path) else {
                // kubectl's words (client-go stats an explicit file and returns the error).
                if mustExist { throw OpenShiftError(.invalidInput, "the kubeconfig file does not exist: stat \(raw): no such file or directory") }
                merged.missingFiles.append(raw)
                continue
            }
            guard let bytes = FileSystem.read(path) else {
                throw OpenShiftError(.invalidInput, "cannot read kubeconfig \(raw) (check its permissions)")
            }
            let one = try parse(String(decoding: bytes, as: UTF8.self), file: path, displayName: raw)
            merged.merge(one)
        }
        return merged
    }

    /// Parses one file's text; relative paths resolve against the directory of `file`.
    public static func parse(_ text: String, file: String, displayName: String? = nil) throws(OpenShiftError) -> Kubeconfig {
        let shown = displayName ?? file
        let documents: [YAMLNode]
        do {
            // Merge keys are applied below, the way go-yaml v2 (kubectl's parser) applies them.
            documents = try YAMLDocuments.parse(text, applyingMergeKeys: false)
        } catch {
            throw OpenShiftError(.invalidInput, "kubeconfig \(shown) is not valid YAML (\(error.description))")
        }
        var reader = Reader(file: file, shown: shown)
        // kubectl decodes the first document only; the others are ignored.
        return try reader.read(documents.first ?? YAMLNode(content: .scalar(""), line: 1, column: 1, isPlainScalar: true))
    }

    /// Later files only add names not yet defined; scalars only fill what is still unset.
    mutating func merge(_ other: Kubeconfig) {
        for (k, v) in other.clusters where clusters[k] == nil { clusters[k] = v }
        for (k, v) in other.users where users[k] == nil { users[k] = v }
        for (k, v) in other.contexts where contexts[k] == nil { contexts[k] = v }
        if currentContext == nil { currentContext = other.currentContext }
        files += other.files
    }

    private var filesForMessages: String {
        if files.isEmpty {
            return missingFiles.isEmpty ? "no kubeconfig file given" : "no kubeconfig file exists among: " + missingFiles.joined(separator: ", ")
        }
        return "files: " + (files + missingFiles).joined(separator: ", ")
    }

    /// The settings of `context` (or `current-context`), validated as client-go validates them. As in
    /// client-go, an unset name is "": a context, cluster or user named "" is used when one exists.
    public func resolve(context: String?) throws(OpenShiftError) -> ResolvedContext {
        let name = context.flatMap { $0.isEmpty ? nil : $0 } ?? currentContext ?? ""
        if name.isEmpty && contexts[name] == nil {
            throw OpenShiftError(.invalidInput, "no context given and the kubeconfig sets no current-context (\(filesForMessages)); name a context")
        }
        guard let ctx = contexts[name] else {
            let known = contexts.keys.sorted()
            if files.isEmpty { throw OpenShiftError(.invalidInput, "context \"\(name)\" does not exist: \(filesForMessages)") }
            let hint = known.isEmpty ? "it defines no contexts" : "known contexts: " + known.prefix(8).joined(separator: ", ") + (known.count > 8 ? ", ..." : "")
            throw OpenShiftError(.invalidInput, "context \"\(name)\" does not exist in the kubeconfig (\(filesForMessages)); \(hint)")
        }
        guard !ctx.cluster.isEmpty || clusters[ctx.cluster] != nil else {
            throw OpenShiftError(.invalidInput, "context \"\(name)\" names no cluster (\(ctx.file))")
        }
        guard let cluster = clusters[ctx.cluster] else {
            throw OpenShiftError(.invalidInput, "context \"\(name)\" refers to cluster \"\(ctx.cluster)\", which is not defined in the kubeconfig (\(filesForMessages))")
        }
        guard !cluster.server.isEmpty else {
            throw OpenShiftError(.invalidInput, "cluster \"\(cluster.name)\" in \(cluster.file) has no server")
        }
        if cluster.insecureSkipTLSVerify && (cluster.certificateAuthority != nil || cluster.certificateAuthorityData != nil) {
            throw OpenShiftError(.invalidInput, "cluster \"\(cluster.name)\" in \(cluster.file): specifying a root certificates file with the insecure flag is not allowed")
        }
        let user = users[ctx.user]
        if !ctx.user.isEmpty && user == nil {
            throw OpenShiftError(.invalidInput, "context \"\(name)\" refers to user \"\(ctx.user)\", which is not defined in the kubeconfig (\(filesForMessages))")
        }
        if let u = user {
            var methods: [String] = []
            if u.token != nil || u.tokenFile != nil { methods.append("token") }
            if u.username != nil || u.password != nil { methods.append("basicAuth") }
            if methods.count > 1 {
                throw OpenShiftError(.invalidInput, "more than one authentication method found for user \"\(u.name)\"; found [\(methods.joined(separator: " "))], only one is allowed")
            }
            let hasCert = u.clientCertificate != nil || u.clientCertificateData != nil
            let hasKey = u.clientKey != nil || u.clientKeyData != nil
            if hasCert && !hasKey {
                throw OpenShiftError(.invalidInput, "user \"\(u.name)\": client-key-data or client-key must be specified to use the client certificate")
            }
            if hasKey && !hasCert {
                throw OpenShiftError(.invalidInput, "user \"\(u.name)\": client-certificate-data or client-certificate must be specified to use the client key")
            }
            if u.exec != nil && u.authProviderName != nil {
                throw OpenShiftError(.invalidInput, "user \"\(u.name)\": authProvider cannot be provided in combination with an exec plugin")
            }
        }
        return ResolvedContext(contextName: name, cluster: cluster, user: user, namespace: ctx.namespace)
    }

    /// Contexts whose cluster's server is `normalizedServer` (current-context first), for a cluster
    /// given by URL: `oc` takes CA and TLS mode from the first matching cluster.
    func contexts(forServer normalizedServer: String) -> [String] {
        var names: [String] = []
        if let current = currentContext, let c = contexts[current], let cl = clusters[c.cluster],
           (try? URLTools.normalizeServer(cl.server)) == normalizedServer {
            names.append(current)
        }
        for name in contexts.keys.sorted() where name != currentContext {
            if let c = contexts[name], let cl = clusters[c.cluster], (try? URLTools.normalizeServer(cl.server)) == normalizedServer {
                names.append(name)
            }
        }
        return names
    }

    func cluster(forServer normalizedServer: String) -> Cluster? {
        if let name = contexts(forServer: normalizedServer).first, let c = contexts[name] { return clusters[c.cluster] }
        return clusters.keys.sorted().lazy.compactMap { self.clusters[$0] }
            .first { (try? URLTools.normalizeServer($0.server)) == normalizedServer }
    }
}

/// One context's effective settings.
public struct ResolvedContext: Sendable, CustomStringConvertible {
    public var contextName: String
    public var cluster: Kubeconfig.Cluster
    /// nil when the context names no user (anonymous).
    public var user: Kubeconfig.AuthInfo?
    public var namespace: String?

    public var server: String { cluster.server }

    public var description: String {
        var auth: [String] = []
        if let u = user {
            if u.token != nil { auth.append("token") }
            if u.tokenFile != nil { auth.append("tokenFile") }
            if u.clientCertificate != nil || u.clientCertificateData != nil { auth.append("client certificate") }
            if u.exec != nil { auth.append("exec plugin") }
            if u.username != nil { auth.append("basic auth") }
        }
        return "context \(contextName) (cluster \(cluster.name) at \(cluster.server), user \(user?.name ?? "-"): \(auth.isEmpty ? "no credentials" : auth.joined(separator: ", ")))"
    }
}

// MARK: - reading one file

private struct Reader {
    let file: String
    let shown: String
    var directory: String { FileSystem.directory(of: file) }

    func bad(_ what: String) -> OpenShiftError {
        OpenShiftError(.invalidInput, "kubeconfig \(shown): \(what)")
    }

    func string(_ node: YAMLNode?, _ field: String) throws(OpenShiftError) -> String? {
        guard let node else { return nil }
        switch GoYAML.scalar(node) {
        case .null: return nil
        case .string(let s): return s
        case .bool: throw bad("\(field) must be a string, not a boolean (quote it)")
        case .number: throw bad("\(field) must be a string, not a number (quote it)")
        case .invalid(let why): throw bad("\(field): line \(node.line): \(why)")
        case nil: throw bad("\(field) must be a string, not \(node.kindName)")
        }
    }

    func nonEmpty(_ node: YAMLNode?, _ field: String) throws(OpenShiftError) -> String? {
        let s = try string(node, field)
        return s?.isEmpty == true ? nil : s
    }

    func bool(_ node: YAMLNode?, _ field: String) throws(OpenShiftError) -> Bool {
        guard let node else { return false }
        switch GoYAML.scalar(node) {
        case .null: return false
        case .bool(let b): return b
        case .invalid(let why): throw bad("\(field): line \(node.line): \(why)")
        default: throw bad("\(field) must be true or false (unquoted)")
        }
    }

    func path(_ node: YAMLNode?, _ field: String) throws(OpenShiftError) -> String? {
        try nonEmpty(node, field).map { FileSystem.resolve($0, against: directory) }
    }

    func data(_ node: YAMLNode?, _ field: String) throws(OpenShiftError) -> [UInt8]? {
        guard let text = try nonEmpty(node, field) else { return nil }
        guard let bytes = Base64.decode(text) else { throw bad("\(field) is not valid base64") }
        return bytes
    }

    func list(_ node: YAMLNode?, _ field: String) throws(OpenShiftError) -> [YAMLNode] {
        guard let node, !node.isNull else { return [] }
        guard let items = node.sequence else { throw bad("\(field) must be a list, not \(node.kindName)") }
        return items
    }

    func mapping(_ node: YAMLNode?, _ field: String) throws(OpenShiftError) -> GoYAML.Fields? {
        guard let node, !node.isNull else { return nil }
        guard node.mapping != nil else { throw bad("\(field) must be a mapping, not \(node.kindName)") }
        do {
            return try GoYAML.fields(node)
        } catch {
            throw bad("\(field): line \(error.line): \(error.message)")
        }
    }

    /// Entries of a named list (`clusters`, `users`, `contexts`); an entry without a name (or `name:`
    /// null) is named "" as in client-go, and a name repeated within one file (also "") is an error
    /// (client-go's conversion rejects it).
    func named(_ root: GoYAML.Fields, _ field: String, _ body: String) throws(OpenShiftError) -> [(name: String, value: GoYAML.Fields?, index: Int)] {
        var out: [(name: String, value: GoYAML.Fields?, index: Int)] = []
        var seen = Set<String>()
        for (i, node) in try list(root[field], field).enumerated() {
            guard let item = try mapping(node, "\(field)[\(i)]") else { throw bad("\(field)[\(i)] must be a mapping, not null") }
            let name = try string(item["name"], "\(field)[\(i)].name") ?? ""
            guard seen.insert(name).inserted else { throw bad("duplicate name \"\(name)\" in \(field)") }
            out.append((name: name, value: try mapping(item[body], "\(field)[\(i)].\(body)"), index: i))
        }
        return out
    }

    mutating func read(_ document: YAMLNode) throws(OpenShiftError) -> Kubeconfig {
        var config = Kubeconfig()
        config.files = [shown]
        if document.isNull { return config }
        guard document.mapping != nil, let root = try mapping(document, "the document") else {
            throw bad("the document must be a mapping, not \(document.kindName)")
        }
        if let kind = try string(root["kind"], "kind"), !kind.isEmpty, kind != "Config" {
            throw bad("kind is \"\(kind)\", expected Config")
        }
        config.currentContext = try nonEmpty(root["current-context"], "current-context")

        for entry in try named(root, "clusters", "cluster") {
            let c = entry.value ?? GoYAML.Fields()
            let field = "cluster \"\(entry.name)\""
            config.clusters[entry.name] = Kubeconfig.Cluster(
                name: entry.name,
                server: try string(c["server"], "\(field) server") ?? "",
                certificateAuthority: try path(c["certificate-authority"], "\(field) certificate-authority"),
                certificateAuthorityData: try data(c["certificate-authority-data"], "\(field) certificate-authority-data"),
                insecureSkipTLSVerify: try bool(c["insecure-skip-tls-verify"], "\(field) insecure-skip-tls-verify"),
                tlsServerName: try nonEmpty(c["tls-server-name"], "\(field) tls-server-name"),
                proxyURL: try nonEmpty(c["proxy-url"], "\(field) proxy-url"),
                file: shown)
        }

        for entry in try named(root, "users", "user") {
            let u = entry.value ?? GoYAML.Fields()
            let field = "user \"\(entry.name)\""
            var exec: Kubeconfig.ExecConfig?
            if let e = try mapping(u["exec"], "\(field) exec") {
                guard var command = try nonEmpty(e["command"], "\(field) exec command") else {
                    throw bad("\(field) exec: command must be specified")
                }
                if command.contains("/") { command = FileSystem.resolve(command, against: directory) }
                var args: [String] = []
                for (i, a) in try list(e["args"], "\(field) exec args").enumerated() {
                    args.append(try string(a, "\(field) exec args[\(i)]") ?? "")
                }
                var env: [Kubeconfig.ExecEnvVar] = []
                for (i, node) in try list(e["env"], "\(field) exec env").enumerated() {
                    let v = try mapping(node, "\(field) exec env[\(i)]") ?? GoYAML.Fields()
                    guard let n = try nonEmpty(v["name"], "\(field) exec env[\(i)].name") else {
                        throw bad("\(field) exec env[\(i)] has no name")
                    }
                    env.append(.init(name: n, value: try string(v["value"], "\(field) exec env[\(i)].value") ?? ""))
                }
                let apiVersion = try nonEmpty(e["apiVersion"], "\(field) exec apiVersion") ?? ""
                var interactiveMode = try nonEmpty(e["interactiveMode"], "\(field) exec interactiveMode")
                // client-go's v1beta1 defaulting (v1 requires the field).
                if interactiveMode == nil && apiVersion == "client.authentication.k8s.io/v1beta1" { interactiveMode = "IfAvailable" }
                exec = Kubeconfig.ExecConfig(
                    apiVersion: apiVersion,
                    command: command, args: args, env: env,
                    interactiveMode: interactiveMode,
                    installHint: try nonEmpty(e["installHint"], "\(field) exec installHint"),
                    provideClusterInfo: try bool(e["provideClusterInfo"], "\(field) exec provideClusterInfo"))
            }
            var provider: String?
            if let p = try mapping(u["auth-provider"], "\(field) auth-provider") {
                provider = try nonEmpty(p["name"], "\(field) auth-provider name") ?? "unnamed"
            }
            config.users[entry.name] = Kubeconfig.AuthInfo(
                name: entry.name,
                token: try nonEmpty(u["token"], "\(field) token"),
                tokenFile: try path(u["tokenFile"], "\(field) tokenFile"),
                clientCertificate: try path(u["client-certificate"], "\(field) client-certificate"),
                clientCertificateData: try data(u["client-certificate-data"], "\(field) client-certificate-data"),
                clientKey: try path(u["client-key"], "\(field) client-key"),
                clientKeyData: try data(u["client-key-data"], "\(field) client-key-data"),
                username: try nonEmpty(u["username"], "\(field) username"),
                password: try nonEmpty(u["password"], "\(field) password"),
                exec: exec,
                authProviderName: provider,
                file: shown)
        }

        for entry in try named(root, "contexts", "context") {
            let c = entry.value ?? GoYAML.Fields()
            let field = "context \"\(entry.name)\""
            config.contexts[entry.name] = Kubeconfig.Context(
                name: entry.name,
                cluster: try string(c["cluster"], "\(field) cluster") ?? "",
                user: try string(c["user"], "\(field) user") ?? "",
                namespace: try nonEmpty(c["namespace"], "\(field) namespace"),
                file: shown)
        }
        return config
    }
}

/// Printing a user (or a whole kubeconfig) never shows its token, password or key.
extension Kubeconfig.AuthInfo: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        var parts = ["name: \(name)"]
        if token != nil { parts.append("token: <redacted>") }
        if let tokenFile { parts.append("tokenFile: \(tokenFile)") }
        if let clientCertificate { parts.append("client-certificate: \(clientCertificate)") }
        if clientCertificateData != nil { parts.append("client-certificate-data: <\(clientCertificateData!.count) bytes>") }
        if let clientKey { parts.append("client-key: \(clientKey)") }
        if clientKeyData != nil { parts.append("client-key-data: <redacted>") }
        if let username { parts.append("username: \(username)") }
        if password != nil { parts.append("password: <redacted>") }
        if let exec { parts.append("exec: \(exec.command)") }
        if let authProviderName { parts.append("auth-provider: \(authProviderName)") }
        return "AuthInfo(" + parts.joined(separator: ", ") + ")"
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
