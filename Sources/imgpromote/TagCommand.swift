import ArgumentParser
import FoundationEssentials
import HTTPTransport
import OCIRegistry
import OpenShiftCredentials

struct TagCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Promote within one cluster through the image stream API (like oc tag): no bytes move.",
        discussion: """
        SOURCE is PROJECT/NAME:TAG or PROJECT/NAME@sha256:HEX, DESTINATION is PROJECT/NAME:TAG, both on the cluster \
        given by --cluster or --context. The destination image stream tag is created or updated to point at the \
        source's image (by digest, resolved once); the destination stream is created if needed.

        Needs role registry-editor (or edit) in the destination project, and pull rights in the source project. \
        On success stdout holds one line, the digest-pinned destination on the cluster's registry (with --json one \
        JSON object: source, destination, pinned, referencePolicy, seconds). Exit codes as copy.

        --report-file FILE writes the --json object to FILE (mode 0600) on success, and \
        {"error":{"exitCode":N,"message":"..."}} when tagging fails after the options were accepted.

        Examples:
          imgpromote tag --context prod shop-stage/app:1.4 shop/app:1.4
          imgpromote tag --cluster https://api.prod:6443 --reference-policy local shop/app@sha256:... shop/app:stable
        """)

    @Argument(help: "PROJECT/NAME:TAG or PROJECT/NAME@sha256:HEX") var source: String
    @Argument(help: "PROJECT/NAME:TAG") var destination: String
    @OptionGroup var side: SideOptions<PlainSide>
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("reference-policy"), help: ArgumentHelp(
        "How the destination is pulled: source (from the source's location) or local (through the integrated registry).",
        valueName: "source|local"))
    var referencePolicy: String = "source"
    @Flag(help: "Print one JSON object instead of the pinned reference.") var json = false
    @Option(name: .customLong("report-file"), help: ArgumentHelp(
        "Also write the outcome as JSON to this file (see above).", valueName: "file"))
    var reportFile: String?

    /// `--json` and `--report-file`: the fields of `copy`'s object that a tag has.
    struct Report: Encodable {
        struct Side: Encodable {
            var reference: String
            var digest: String
        }
        var source: Side
        var destination: Side
        var pinned: String
        var referencePolicy: String
        var seconds: Double
    }

    struct StreamReference {
        var namespace: String
        var name: String
        var tag: String?
        var digest: String?
    }

    /// `PROJECT/NAME:TAG` or `PROJECT/NAME@sha256:HEX`.
    static func parse(_ text: String, what: String, digestAllowed: Bool) throws -> StreamReference {
        var rest = Substring(text)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            digest = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        let form = digestAllowed ? "PROJECT/NAME:TAG or PROJECT/NAME@sha256:HEX" : "PROJECT/NAME:TAG"
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw CLIError.usage("\(what) '\(text)' must be \(form) (tag works within one cluster: no registry host)")
        }
        if let digest {
            guard digestAllowed, tag == nil, digest.hasPrefix("sha256:"), digest.count == 71,
                  digest.dropFirst(7).allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw CLIError.usage("\(what) '\(text)' must be \(form)")
            }
        } else {
            guard let tag, Self.validTag(tag) else { throw CLIError.usage("\(what) '\(text)' must be \(form)") }
        }
        return StreamReference(namespace: String(parts[0]), name: String(parts[1]), tag: tag, digest: digest)
    }

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    static func validTag(_ tag: String) -> Bool {
        guard let first = tag.first, tag.count <= 128, first.isASCII, first.isLetter || first.isNumber || first == "_" else { return false }
        return tag.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-") }
    }

    func validate() throws {
        // CLIError, not ValidationError: main prints it as one `imgpromote: ...` line, exit 2.
        guard side.namesCluster else { throw CLIError.usage("tag needs --cluster URL or --context NAME") }
        guard ["source", "local"].contains(referencePolicy) else {
            throw CLIError.usage("--reference-policy must be source or local, not '\(referencePolicy)'")
        }
        if reportFile?.isEmpty == true { throw CLIError.usage("--report-file needs a file name") }
        for (text, what, digest) in [(source, "SOURCE", true), (destination, "DESTINATION", false)] {
            _ = try Self.parse(text, what: what, digestAllowed: digest)
        }
    }

    func run() async throws {
        do {
            try await tag()
        } catch {
            if let reportFile { ReportFile.writeFailure(error, to: reportFile) }
            throw error
        }
    }

    private func tag() async throws {
        let started = ContinuousClock.now
        let src = try Self.parse(source, what: "SOURCE", digestAllowed: true)
        let dst = try Self.parse(destination, what: "DESTINATION", digestAllowed: false)
        let resolver = SideResolver(options: side, global: global, environment: Environment.all(), log: global.log)
        guard let session = try await resolver.openSession(tokens: RunTokens.shared.ledger(keepingTokens: false)) else { return }
        do {
            let digest: String
            if let d = src.digest {
                digest = d
            } else {
                digest = try await session.resolveImageStreamTag(namespace: src.namespace, name: src.name, tag: src.tag!)
            }
            let policy: ClusterSession.TagReferencePolicy = referencePolicy == "local" ? .local : .source
            let image = try await session.tagImage(source: (src.namespace, src.name), digest: digest,
                                                   destination: (dst.namespace, dst.name, dst.tag!), referencePolicy: policy)
            guard image == digest else {
                throw CLIError(message: "\(session.apiURL) tagged \(dst.namespace)/\(dst.name):\(dst.tag!) as \(image), expected \(digest)",
                               exitCode: 7)
            }
            let host = try await session.registryHost(project: dst.namespace, imageStream: dst.name)
            if !global.quiet && !json {
                printErr("imgpromote: tagged \(dst.namespace)/\(dst.name):\(dst.tag!) -> \(src.namespace)/\(src.name)@\(digest) (reference policy \(referencePolicy); no bytes moved)")
            }
            let pinned = "\(host)/\(dst.namespace)/\(dst.name)@\(digest)"
            let elapsed = started.duration(to: .now).components
            let report = Report(
                source: .init(reference: "\(host)/\(src.namespace)/\(src.name)" + (src.tag.map { ":" + $0 } ?? "@" + digest), digest: digest),
                destination: .init(reference: "\(host)/\(dst.namespace)/\(dst.name):\(dst.tag!)", digest: digest),
                pinned: pinned, referencePolicy: referencePolicy,
                seconds: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let encoded = try encoder.encode(report)
            if let reportFile { try ReportFile.write(Array(encoded) + [0x0A], to: reportFile) }
            print(json ? String(decoding: encoded, as: UTF8.self) : pinned)
        } catch {
            await session.revokeIfCreated()
            throw error
        }
        await session.revokeIfCreated()
    }
}
