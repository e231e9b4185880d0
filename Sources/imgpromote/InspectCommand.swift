import ArgumentParser
import FoundationEssentials
import HTTPTransport
import OCIRegistry
import SupplyChain

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an image's digest, media type, platforms, layers and sizes.",
        discussion: """
        Examples:
          imgpromote inspect registry.example.com/team/app:1.4
          imgpromote inspect --context dev --json myproj/app:1.4
        """)

    @Argument(help: "Image reference.") var reference: String
    @OptionGroup var side: SideOptions<PlainSide>
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    struct Output: Codable {
        struct Layer: Codable { var digest: String; var mediaType: String; var size: Int64 }
        struct Instance: Codable {
            var platform: String?
            var digest: String
            var mediaType: String
            var config: Layer
            var layers: [Layer]
            var size: Int64
        }
        var reference: String
        var digest: String
        var mediaType: String
        var platforms: [String]
        var instances: [Instance]
        /// Signatures, attestations (promotion records among them), SBOMs and referrers.
        var attachments: [AttachmentInfo]
    }

    func run() async throws {
        let resolver = SideResolver(options: side, global: global, environment: Environment.all(), log: global.log)
        let resolved = try await resolver.resolve(reference, tokens: RunTokens.shared.ledger(keepingTokens: false))
        defer { }
        do {
            let out = try await inspect(resolved)
            await resolved.session?.revokeIfCreated()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(out), as: UTF8.self))
            } else {
                print("Name:       \(out.reference)")
                print("Digest:     \(out.digest)")
                print("MediaType:  \(out.mediaType)")
                if !out.platforms.isEmpty { print("Platforms:  \(out.platforms.joined(separator: ", "))") }
                for i in out.instances {
                    print("")
                    print("\(i.platform ?? "image") \(i.digest)  \(formatBytes(i.size))")
                    print("  config \(i.config.digest)  \(formatBytes(i.config.size))")
                    for l in i.layers { print("  layer  \(l.digest)  \(formatBytes(l.size))") }
                }
                printAttachments(out.attachments)
            }
        } catch {
            await resolved.session?.revokeIfCreated()
            throw error
        }
    }

    private func inspect(_ side: ResolvedSide) async throws -> Output {
        let repo = side.reference.repository
        let top = try await side.client.manifest(repository: repo, reference: side.reference.identifier)
        var instances: [Output.Instance] = []
        func describe(_ doc: ManifestDocument, platform: String?) -> Output.Instance? {
            guard case .image(let m) = doc.content else { return nil }
            let layers = m.layers.map { Output.Layer(digest: $0.digest, mediaType: $0.mediaType, size: $0.size) }
            return Output.Instance(platform: platform, digest: doc.digest, mediaType: doc.mediaType,
                                   config: .init(digest: m.config.digest, mediaType: m.config.mediaType, size: m.config.size),
                                   layers: layers, size: m.layers.reduce(m.config.size) { $0 + $1.size })
        }
        if top.children.isEmpty {
            if let i = describe(top, platform: nil) { instances.append(i) }
        } else {
            for child in top.children {
                let doc = try await side.client.manifest(repository: repo, reference: child.digest)
                if let i = describe(doc, platform: child.platform?.description) { instances.append(i) }
            }
        }
        let finder = AttachmentFinder(client: side.client, repository: repo, selection: .all)
        let found = try await finder.find(for: instances.map(\.digest).filter { $0 != top.digest } + [top.digest])
        return Output(reference: "\(side.client.host)/\(repo)" + (side.reference.tag.map { ":\($0)" } ?? ""),
                      digest: top.digest, mediaType: top.mediaType,
                      platforms: top.children.compactMap { $0.platform?.description }, instances: instances,
                      attachments: try await AttachmentListing.describe(found, client: side.client, repository: repo))
    }

    private func printAttachments(_ attachments: [AttachmentInfo]) {
        guard !attachments.isEmpty else { return }
        print("")
        print("Attachments:")
        for a in attachments {
            let what = a.kind == "referrer" ? "referrer \(a.artifactType ?? "")" : "\(a.kind) (\(a.layers ?? 0) layer\(a.layers == 1 ? "" : "s"))"
            print("  \(a.subject.prefix(19))  \(what)  \(a.digest)")
            for r in a.records ?? [] {
                let p = r.record.predicate
                print("    record: \(p.source.reference) -> \(p.destination.reference) at \(p.promotedAt)"
                      + (p.source.user.map { " by \($0)" } ?? "")
                      + (p.run?.buildURL.map { " in \($0)" } ?? "")
                      + (r.signedBy.isEmpty ? " (unsigned)" : " (signed, key \(r.signedBy.map { String($0.prefix(19)) }.joined(separator: ", ")))"))
            }
        }
    }
}
