import LoopbackHTTP
import FoundationEssentials

/// One emulated cluster. Every field except `name` may be omitted from a JSON config file.
///
/// Subjects (in `Project.pullers`/`pushers` and `clusterReaders`) are user names,
/// `system:serviceaccount:<ns>:<name>`, or group names (`system:authenticated`,
/// `system:authenticated:oauth`, `system:serviceaccounts`, `system:serviceaccounts:<ns>`, a user's own groups).
/// `system:anonymous` never matches anything.
public struct EmulatorConfig: Codable, Sendable, Equatable {
    public struct User: Codable, Sendable, Equatable {
        public var name: String
        public var password: String
        public var groups: [String]?
        public init(name: String, password: String, groups: [String]? = nil) {
            self.name = name
            self.password = password
            self.groups = groups
        }
    }

    public struct ServiceAccount: Codable, Sendable, Equatable {
        public var namespace: String
        public var name: String
        /// Static bearer token (what a `kubernetes.io/service-account-token` secret holds). Any string;
        /// a JWT-looking value is most realistic. Never `sha256~`-prefixed.
        public var token: String
        public init(namespace: String, name: String, token: String) {
            self.namespace = namespace
            self.name = name
            self.token = token
        }
        public var username: String { "system:serviceaccount:\(namespace):\(name)" }
    }

    /// A project (namespace). Pullers hold `registry-viewer` (read image streams + `get imagestreams/layers`),
    /// pushers hold `registry-editor` (the same plus writing image streams and tags, `update imagestreams/layers`).
    /// `roles` binds any other cluster role the emulator knows (`system:image-puller`, `system:image-pusher`,
    /// `registry-viewer`, `registry-editor`, `view`, `edit`, `admin`) to subjects: role name → subjects.
    public struct Project: Codable, Sendable, Equatable {
        public var name: String
        public var pullers: [String]
        public var pushers: [String]
        public var roles: [String: [String]]
        public init(name: String, pullers: [String] = [], pushers: [String] = [], roles: [String: [String]] = [:]) {
            self.name = name
            self.pullers = pullers
            self.pushers = pushers
            self.roles = roles
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            pullers = try c.decodeIfPresent([String].self, forKey: .pullers) ?? []
            pushers = try c.decodeIfPresent([String].self, forKey: .pushers) ?? []
            roles = try c.decodeIfPresent([String: [String]].self, forKey: .roles) ?? [:]
        }

        /// Every role binding of the project, `pullers`/`pushers` included.
        public var bindings: [(role: String, subjects: [String])] {
            var out: [(role: String, subjects: [String])] = []
            if !pullers.isEmpty { out.append(("registry-viewer", pullers)) }
            if !pushers.isEmpty { out.append(("registry-editor", pushers)) }
            for role in roles.keys.sorted() { out.append((role, roles[role]!)) }
            return out
        }
    }

    /// An image stream that exists before anything is pushed. Repositories pushed to the registry
    /// appear as image streams too (as OpenShift creates them on push).
    public struct ImageStream: Codable, Sendable, Equatable {
        public var namespace: String
        public var name: String
        public init(namespace: String, name: String) {
            self.namespace = namespace
            self.name = name
        }
    }

    public enum IdentityProvider: String, Codable, Sendable {
        /// A password IdP with `challenge: true` (HTPasswd-like): Basic challenges on `/oauth/authorize`.
        case challenge
        /// Only browser IdPs (GitHub/Google-like) and no `kube:admin`: the placeholder challenger answers.
        case browser
    }

    /// Where the registry's public host name is published (each value publishes it in that place only,
    /// so every discovery step can be tested on its own).
    public enum RegistryExposure: String, Codable, Sendable {
        /// `status.publicDockerImageRepository` of image streams.
        case imagestream
        /// `status.externalRegistryHostnames` of `images.config.openshift.io/cluster`.
        case imagesconfig
        /// `spec.host` of route `default-route` in `openshift-image-registry`.
        case route
        /// Nowhere (only the internal `image-registry.openshift-image-registry.svc:5000`).
        case none
    }

    public var name: String
    public var users: [User]
    public var identityProvider: IdentityProvider
    /// Users whose password is right but whose identity cannot be mapped: `/oauth/authorize` answers 500.
    public var mappingFailureUsers: [String]?
    public var serviceAccounts: [ServiceAccount]
    public var projects: [Project]
    /// `expires_in` of issued access tokens (OAuth `accessTokenMaxAgeSeconds`, default 86400).
    public var tokenLifetimeSeconds: Int
    /// The OAuth host's certificate comes from a CA other than the API server's (as an ingress CA does).
    public var oauthSeparateCA: Bool
    public var imageStreams: [ImageStream]
    public var exposeRegistry: RegistryExposure
    /// Subjects that may read `images.config.openshift.io/cluster` and the registry route
    /// (cluster-reader-like). Empty by default: regular users get 403 there, as on a real cluster.
    public var clusterReaders: [String]
    /// `code_challenge_methods_supported` in OAuth discovery; omit `S256` to test the no-PKCE path.
    public var pkceMethods: [String]
    /// Bind `system:oauth-token-deleter` to unauthenticated users too (clusters upgraded from before 4.17).
    public var anonymousTokenDelete: Bool
    /// Name of the password identity provider (used in identities and mapping errors).
    public var identityProviderName: String
    /// Serve `selfsubjectaccessreviews` (false: the API answers 404 there, as a server without that API).
    public var accessReviewAPI: Bool

    public init(name: String, users: [User] = [], identityProvider: IdentityProvider = .challenge,
                mappingFailureUsers: [String]? = nil, serviceAccounts: [ServiceAccount] = [],
                projects: [Project] = [], tokenLifetimeSeconds: Int = 86400, oauthSeparateCA: Bool = true,
                imageStreams: [ImageStream] = [], exposeRegistry: RegistryExposure = .imagestream,
                clusterReaders: [String] = [], pkceMethods: [String] = ["plain", "S256"],
                anonymousTokenDelete: Bool = false, identityProviderName: String = "htpasswd",
                accessReviewAPI: Bool = true) {
        self.name = name
        self.users = users
        self.identityProvider = identityProvider
        self.mappingFailureUsers = mappingFailureUsers
        self.serviceAccounts = serviceAccounts
        self.projects = projects
        self.tokenLifetimeSeconds = tokenLifetimeSeconds
        self.oauthSeparateCA = oauthSeparateCA
        self.imageStreams = imageStreams
        self.exposeRegistry = exposeRegistry
        self.clusterReaders = clusterReaders
        self.pkceMethods = pkceMethods
        self.anonymousTokenDelete = anonymousTokenDelete
        self.identityProviderName = identityProviderName
        self.accessReviewAPI = accessReviewAPI
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EmulatorConfig(name: try c.decode(String.self, forKey: .name))
        name = d.name
        users = try c.decodeIfPresent([User].self, forKey: .users) ?? d.users
        identityProvider = try c.decodeIfPresent(IdentityProvider.self, forKey: .identityProvider) ?? d.identityProvider
        mappingFailureUsers = try c.decodeIfPresent([String].self, forKey: .mappingFailureUsers)
        serviceAccounts = try c.decodeIfPresent([ServiceAccount].self, forKey: .serviceAccounts) ?? d.serviceAccounts
        projects = try c.decodeIfPresent([Project].self, forKey: .projects) ?? d.projects
        tokenLifetimeSeconds = try c.decodeIfPresent(Int.self, forKey: .tokenLifetimeSeconds) ?? d.tokenLifetimeSeconds
        oauthSeparateCA = try c.decodeIfPresent(Bool.self, forKey: .oauthSeparateCA) ?? d.oauthSeparateCA
        imageStreams = try c.decodeIfPresent([ImageStream].self, forKey: .imageStreams) ?? d.imageStreams
        exposeRegistry = try c.decodeIfPresent(RegistryExposure.self, forKey: .exposeRegistry) ?? d.exposeRegistry
        clusterReaders = try c.decodeIfPresent([String].self, forKey: .clusterReaders) ?? d.clusterReaders
        pkceMethods = try c.decodeIfPresent([String].self, forKey: .pkceMethods) ?? d.pkceMethods
        anonymousTokenDelete = try c.decodeIfPresent(Bool.self, forKey: .anonymousTokenDelete) ?? d.anonymousTokenDelete
        identityProviderName = try c.decodeIfPresent(String.self, forKey: .identityProviderName)
            ?? d.identityProviderName
        accessReviewAPI = try c.decodeIfPresent(Bool.self, forKey: .accessReviewAPI) ?? d.accessReviewAPI
    }

    /// Reads a JSON config file.
    public static func load(path: String) throws -> EmulatorConfig {
        try JSONDecoder().decode(EmulatorConfig.self, from: Data(try FileIO.read(path)))
    }

    /// Pretty JSON (keys sorted) for writing a config file.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self))
    }

    /// A random 24-character password.
    public static func generatePassword() -> String { Base64.urlEncode(Crypto.randomBytes(18)) }

    /// A small complete cluster: one user, a service account, two projects (alice may push to `dev`,
    /// only pull from `prod`) and one image stream.
    public static func example(user: String, password: String) -> EmulatorConfig {
        EmulatorConfig(
            name: "dev",
            users: [User(name: user, password: password, groups: ["developers"])],
            serviceAccounts: [ServiceAccount(namespace: "dev", name: "pipeline",
                                             token: "sa-" + Base64.urlEncode(Crypto.randomBytes(24)))],
            projects: [
                Project(name: "dev", pullers: [], pushers: [user, "system:serviceaccount:dev:pipeline"]),
                Project(name: "prod", pullers: [user], pushers: []),
                Project(name: "openshift", pullers: ["system:authenticated"], pushers: []),
            ],
            imageStreams: [ImageStream(namespace: "openshift", name: "cli")])
    }
}
