/// The storage registry's filesystem layout (distribution's `filesystem` driver): tags of a repository,
/// and the links that make an image of one repository visible in another (what the emulator does where
/// OpenShift resolves an image stream tag through the stream instead).
struct RegistryStorage: Sendable {
    let root: String

    private var repositories: String { root + "/docker/registry/v2/repositories" }

    func tags(namespace: String, name: String) -> [(tag: String, digest: String)] {
        let dir = repositories + "/\(namespace)/\(name)/_manifests/tags"
        return FileIO.list(dir).sorted().compactMap { tag in
            guard let link = try? FileIO.readText(dir + "/\(tag)/current/link") else { return nil }
            return (tag, link.trimmingSpaces)
        }
    }

    func hasManifest(namespace: String, name: String, digest: String) -> Bool {
        guard let hex = Self.hex(digest) else { return false }
        return FileIO.exists(repositories + "/\(namespace)/\(name)/_manifests/revisions/sha256/\(hex)/link")
    }

    /// Makes `digest` (and every layer and manifest the source repository links) available in the
    /// destination repository and points `tag` at it: link files only, no blob bytes.
    func tag(from source: (namespace: String, name: String), digest: String,
             to destination: (namespace: String, name: String), tag: String) throws {
        guard let hex = Self.hex(digest) else { return }
        let src = repositories + "/\(source.namespace)/\(source.name)"
        let dst = repositories + "/\(destination.namespace)/\(destination.name)"
        for sub in ["_layers/sha256", "_manifests/revisions/sha256"] {
            for entry in FileIO.list(src + "/" + sub) {
                let link = "/\(sub)/\(entry)/link"
                if FileIO.exists(dst + link) { continue }
                try FileIO.makeDirectories(dst + "/\(sub)/\(entry)")
                try FileIO.write(dst + link, try FileIO.read(src + link))
            }
        }
        let tagDir = dst + "/_manifests/tags/\(tag)"
        try FileIO.makeDirectories(tagDir + "/current")
        try FileIO.makeDirectories(tagDir + "/index/sha256/\(hex)")
        try FileIO.write(tagDir + "/current/link", digest)
        try FileIO.write(tagDir + "/index/sha256/\(hex)/link", digest)
    }

    static func hex(_ digest: String) -> String? {
        guard digest.hasPrefix("sha256:") else { return nil }
        let hex = String(digest.dropFirst(7))
        guard hex.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return hex
    }
}
