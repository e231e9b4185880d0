import HTTPTransport

/// The credential resolution behind `ClusterSession.open`.
struct Opener {
    let options: ClusterSideOptions
    let http: HTTPClient
    let environment: [String: String]
    let inClusterDirectory: String
    let interactive: Bool
    let tokens: TokenLedger?
    let warn: @Sendable (String) -> Void
    let log: @Sendable (String) -> Void

    private var side: ClusterSide? { options.side }
    private var secrets: [String] { [options.password, options.token].compactMap { $0 } }
    private func say(_ line: String) { log(Redact.text(line, secrets: secrets)) }
    private func caution(_ line: String) { warn(Redact.text(line, secrets: secrets)) }

    private var inClusterTokenPath: String { inClusterDirectory + "/token" }
    private var hasInClusterToken: Bool { FileSystem.isReadable(inClusterTokenPath) }

    private func loadKubeconfig() throws(OpenShiftError) -> Kubeconfig {
        let kc = try Kubeconfig.load(paths: options.kubeconfigPaths, mustExist: options.kubeconfigExplicit)
        if kc.files.isEmpty && !kc.missingFiles.isEmpty {
            say("no kubeconfig file exists among: \(kc.missingFiles.joined(separator: ", "))")
        }
        return kc
    }

    /// Loads the kubeconfig when it is only a fallback: problems are logged, not fatal — unless the
    /// user named the file explicitly (`kubeconfigExplicit`).
    private func optionalKubeconfig() throws(OpenShiftError) -> Kubeconfig? {
        do {
            return try loadKubeconfig()
        } catch {
            if options.kubeconfigExplicit { throw error }
            say("ignoring the kubeconfig: \(error.message)")
            return nil
        }
    }

    /// Errors of every step (kubeconfig, URL, exec plugin, login) say which side they belong to.
    func open() async throws(OpenShiftError) -> ClusterSession {
        do {
            return try await resolve()
        } catch {
            var e = error
            if e.side == nil { e.side = side }
            throw e
        }
    }

    private func resolve() async throws(OpenShiftError) -> ClusterSession {
        // 1. Option sanity.
        let token = options.token?.trimmingCharacters(in: " \t\r\n")
        if token?.isEmpty == true {
            throw OpenShiftError(.invalidInput, "the token given in \(input: .token) is empty")
        }
        if token == nil, let user = options.username {
            if user.isEmpty { throw OpenShiftError(.invalidInput, "\(input: .username) is empty") }
            if options.password == nil || options.password == "" {
                throw OpenShiftError(.invalidInput, "\(input: .username) \(user) was given without a password",
                                     remedies: [.givePassword, .giveToken])
            }
        }
        if token == nil && options.username == nil && options.password != nil {
            throw OpenShiftError(.invalidInput, "a password was given without \(input: .username)")
        }
        if token != nil && options.username != nil {
            say("a token was given: using it and ignoring the user name")
        }
        if let ca = options.caFile, !FileSystem.isReadable(ca) {
            throw OpenShiftError(.invalidInput, "cannot read \(input: .caFile) \(ca)")
        }

        // 2. Which cluster, and which kubeconfig context (if any) describes it.
        var resolved: ResolvedContext?
        var matchedCluster: Kubeconfig.Cluster?
        var contextChosenByURL = false
        var server: String
        var inClusterServer = false
        if let name = options.context, !name.isEmpty {
            resolved = try loadKubeconfig().resolve(context: name)
        }
        if let url = options.clusterURL, !url.isEmpty {
            server = try URLTools.normalizeServer(url)
            if resolved == nil, let kc = try optionalKubeconfig() {
                // Like oc: the first kubeconfig cluster with this server supplies CA and TLS mode; a
                // context using it supplies credentials when none were given.
                if let name = kc.contexts(forServer: server).first {
                    do {
                        resolved = try kc.resolve(context: name)
                        contextChosenByURL = true
                    } catch {
                        say("ignoring kubeconfig context \(name): \(error.message)")
                    }
                }
                if resolved == nil { matchedCluster = kc.cluster(forServer: server) }
            }
        } else if let r = resolved {
            server = try URLTools.normalizeServer(r.server)
        } else if let kc = try optionalKubeconfig(), kc.currentContext != nil {
            resolved = try kc.resolve(context: nil)
            server = try URLTools.normalizeServer(resolved!.server)
        } else if hasInClusterToken, let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty {
            let port = environment["KUBERNETES_SERVICE_PORT"].flatMap { $0.isEmpty ? nil : $0 } ?? "443"
            server = try URLTools.normalizeServer("https://" + (host.contains(":") ? "[\(host)]" : host) + ":" + port)
            inClusterServer = true
        } else {
            throw OpenShiftError(.invalidInput, "no cluster given", remedies: [.nameCluster, .nameContext])
        }
        if let r = resolved { say("using \(r)") }

        // 3. TLS: the user's CA file, plus the kubeconfig cluster's CA; verification off only when asked.
        let cluster = resolved?.cluster ?? matchedCluster
        var tls = TLSOptions(caFile: options.caFile, verify: options.tlsVerify)
        if let c = cluster {
            if let file = c.certificateAuthority, c.certificateAuthorityData == nil, !FileSystem.isReadable(file) {
                throw OpenShiftError(.invalidInput, "cannot read certificate-authority \(file) of kubeconfig cluster \"\(c.name)\"")
            }
            if options.caFile == nil {
                tls.caFile = c.certificateAuthorityData == nil ? c.certificateAuthority : nil
                tls.caPEM = c.certificateAuthorityData
                if c.insecureSkipTLSVerify && options.tlsVerify {
                    tls.verify = false
                    caution("kubeconfig cluster \"\(c.name)\" sets insecure-skip-tls-verify: TLS certificates of \(server) are not verified")
                }
            } else {
                // Additive: both bundles are trusted (the OAuth host may use the other CA).
                tls.caPEM = c.certificateAuthorityData ?? c.certificateAuthority.flatMap { FileSystem.read($0) }
            }
            if c.tlsServerName != nil { caution("kubeconfig cluster \"\(c.name)\": tls-server-name is not supported and is ignored") }
            if c.proxyURL != nil { caution("kubeconfig cluster \"\(c.name)\": proxy-url is not supported; use HTTPS_PROXY/NO_PROXY") }
        }

        // 4. Credentials.
        var namespace = resolved?.namespace
        var createdToken = false
        var relogin: ClusterSession.Relogin?
        var source: TokenSourceChoice

        if let token, let path = options.tokenFile {
            source = .file(path, token, "token from \(path)",
                           .init("the token in \(path) is invalid or expired", [.replaceTokenFile(path), .giveToken]))
        } else if let token {
            source = .fixed(token, "the given token",
                            .init("the token is invalid or expired", [.renewToken]))
        } else if let user = options.username, let password = options.password {
            let login = OAuthLogin(http: http, apiURL: server, tls: tls, username: user, password: password, side: side, log: log)
            say("logging in to \(server) as \(user)")
            let t = try await login.run()
            createdToken = true
            relogin = { try await login.run() }
            source = .fixed(t, "password login as \(user)",
                            .init("the token obtained by the login was rejected; try again", []))
        } else if let r = resolved, let user = r.user, Self.hasCredentials(user) {
            let what = "kubeconfig context \(r.contextName)" + (contextChosenByURL ? " (same server)" : "")
            if contextChosenByURL { say("using the credentials of \(what)") }
            let hint = RejectionHint("the credentials of \(what) are invalid or expired", [.logInAgain, .giveToken])
            if user.username != nil {
                throw OpenShiftError(.invalidInput, "kubeconfig user \"\(user.name)\" uses a user name and password, which the OpenShift API does not accept",
                                     remedies: [.logInWithPassword])
            }
            if let cert = user.clientCertificateData {
                tls.clientCertPEM = cert
            } else if let file = user.clientCertificate {
                guard FileSystem.isReadable(file) else { throw OpenShiftError(.invalidInput, "cannot read client-certificate \(file) of kubeconfig user \"\(user.name)\"") }
                tls.clientCertFile = file
            }
            if let key = user.clientKeyData {
                tls.clientKeyPEM = key
            } else if let file = user.clientKey {
                guard FileSystem.isReadable(file) else { throw OpenShiftError(.invalidInput, "cannot read client-key \(file) of kubeconfig user \"\(user.name)\"") }
                tls.clientKeyFile = file
            }
            if let t = user.token {
                source = .fixed(t, what, hint)
            } else if let file = user.tokenFile {
                guard let bytes = FileSystem.read(file),
                      case let t = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n"), !t.isEmpty else {
                    throw OpenShiftError(.invalidInput, "cannot read a token from tokenFile \(file) of kubeconfig user \"\(user.name)\"")
                }
                source = .file(file, t, what, hint)
            } else if let exec = user.exec {
                let info = ExecPlugin.Cluster(server: r.cluster.server,
                                              caData: r.cluster.certificateAuthorityData ?? r.cluster.certificateAuthority.flatMap { FileSystem.read($0) },
                                              insecure: r.cluster.insecureSkipTLSVerify)
                let result = try await ExecPlugin.run(exec, user: user.name, cluster: info, environment: environment,
                                                       interactive: interactive, log: log)
                if let cert = result.clientCertificatePEM, let key = result.clientKeyPEM {
                    tls.clientCertPEM = cert
                    tls.clientKeyPEM = key
                    tls.clientCertFile = nil
                    tls.clientKeyFile = nil
                }
                if let t = result.token {
                    source = .fixed(t, what + " (exec plugin)", hint)
                } else {
                    source = .none("kubeconfig user \"\(user.name)\" authenticates with a client certificate from an exec plugin", what + " (exec plugin)", hint)
                }
            } else if let provider = user.authProviderName {
                throw OpenShiftError(.invalidInput, "kubeconfig user \"\(user.name)\" uses the \(provider) auth-provider, which is not supported (use an exec plugin instead)",
                                     remedies: [.giveToken])
            } else {
                source = .none("kubeconfig user \"\(user.name)\" authenticates with a client certificate", what, hint)
            }
        } else if hasInClusterToken && (inClusterServer || options.context == nil) {
            guard let bytes = FileSystem.read(inClusterTokenPath),
                  case let t = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n"), !t.isEmpty else {
                throw OpenShiftError(.invalidInput, "the service-account token \(inClusterTokenPath) is empty or unreadable")
            }
            let ca = inClusterDirectory + "/ca.crt"
            if FileSystem.isReadable(ca) {
                if tls.caFile == nil { tls.caFile = ca } else { tls.caPEM = (tls.caPEM ?? []) + [10] + (FileSystem.read(ca) ?? []) }
            }
            namespace = namespace ?? environment["POD_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
                ?? FileSystem.read(inClusterDirectory + "/namespace").map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: " \t\r\n") }
                    .flatMap { $0.isEmpty ? nil : $0 }
            say("using the service-account token of this pod")
            source = .file(inClusterTokenPath, t, "service-account token of this pod",
                           .init("the pod's service-account token was rejected (it only works on its own cluster)", [.giveToken]))
        } else if let r = resolved {
            throw OpenShiftError(.invalidInput, "kubeconfig context \(r.contextName) has no credentials for \(server)",
                                 remedies: [.giveToken, .logInWithPassword])
        } else {
            throw OpenShiftError(.invalidInput, "no credentials for \(server)", remedies: [.giveToken, .logInWithPassword, .nameContext])
        }

        if !tls.verify && !options.tlsVerify { say("TLS verification is off for \(server) (as asked)") }

        let session: ClusterSession
        switch source {
        case .fixed(let t, let what, let hint):
            session = make(server, tls, createdToken, namespace, what, .fixed(t), hint, nil, relogin: relogin)
        case .file(let path, let first, let what, let hint):
            session = make(server, tls, createdToken, namespace, what, .file(path), hint, first)
        case .none(let reason, let what, let hint):
            session = make(server, tls, createdToken, namespace, what, .none(reason: reason), hint, nil)
        }
        if createdToken { tokens?.register(session) }
        return session
    }

    private enum TokenSourceChoice {
        case fixed(String, String, RejectionHint)
        case file(String, String, String, RejectionHint)
        case none(String, String, RejectionHint)
    }

    private func make(_ server: String, _ tls: TLSOptions, _ created: Bool, _ namespace: String?, _ what: String,
                      _ source: ClusterSession.TokenSource, _ hint: RejectionHint, _ first: String?,
                      relogin: ClusterSession.Relogin? = nil) -> ClusterSession {
        ClusterSession(apiURL: server, tls: tls, createdToken: created, namespace: namespace, credentialSource: what,
                       http: http, side: side, registryOverride: options.registryOverride, tokenSource: source,
                       rejectedHint: hint, initialFileToken: first, relogin: relogin, tokens: tokens, log: log, warn: warn)
    }

    static func hasCredentials(_ u: Kubeconfig.AuthInfo) -> Bool {
        u.token != nil || u.tokenFile != nil || u.exec != nil || u.clientCertificate != nil || u.clientCertificateData != nil
            || u.username != nil || u.authProviderName != nil
    }
}
