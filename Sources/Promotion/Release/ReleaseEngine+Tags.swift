import OCIRegistry

extension ReleaseEngine {
    /// What a destination tag pointed at before this image's tags were written.
    enum TagBefore: Equatable {
        case absent
        case manifest(String)
        /// Present, but the registry's HEAD named no digest: it cannot be put back.
        case unknown

        init(_ head: RegistryClient.ManifestHead?) {
            guard let head else { self = .absent; return }
            self = head.digest.map { .manifest($0) } ?? .unknown
        }
    }

    /// Points every reference at `document` (tags last, the image is complete by now). Tags that already
    /// have it are not written again. When a write fails, the tags written before it are put back, so a
    /// failed image leaves no tag behind: a tag that pointed elsewhere gets its previous manifest again
    /// (its bytes, fetched by digest), a new tag is deleted. What could not be undone is said in the error.
    func writeTags(_ references: [String], before heads: [RegistryClient.ManifestHead?], document: ManifestDocument,
                   repository: String) async throws {
        var written: [(tag: String, before: TagBefore)] = []
        for (i, reference) in references.enumerated() {
            let before = TagBefore(i < heads.count ? heads[i] : nil)
            if before == .manifest(document.digest) { continue }
            do {
                try await destination.putManifest(repository: repository, reference: reference, document: document)
            } catch {
                guard !written.isEmpty else { throw error }
                // Undone even when the release is being cancelled (`--fail-fast`): an unstructured task.
                let toUndo = written
                let undo = Task { await self.undoTags(toUndo, repository: repository) }
                throw Self.explaining(error, failedTag: reference, undo: await undo.value)
            }
            written.append((reference, before))
            events(.manifestPushed(digest: document.digest, reference: reference))
        }
    }

    struct TagUndo: Sendable {
        var restored: [String] = []
        var deleted: [String] = []
        /// Tags still pointing at the new image, each with why.
        var left: [(tag: String, why: String)] = []
    }

    private func undoTags(_ written: [(tag: String, before: TagBefore)], repository: String) async -> TagUndo {
        var undo = TagUndo()
        for (tag, before) in written.reversed() {
            do {
                switch before {
                case .manifest(let previous):
                    let old = try await destination.manifest(repository: repository, reference: previous)
                    try await destination.putManifest(repository: repository, reference: tag, document: old)
                    undo.restored.append(tag)
                case .absent:
                    try await destination.deleteTag(repository: repository, tag: tag)
                    undo.deleted.append(tag)
                case .unknown:
                    undo.left.append((tag, "the registry did not say what it pointed at before"))
                }
            } catch {
                undo.left.append((tag, "\(error)"))
            }
        }
        return undo
    }

    /// The tag write's error, same class (exit code), telling what happened to the tags written before it.
    static func explaining(_ error: any Error, failedTag: String, undo: TagUndo) -> any Error {
        var parts: [String] = []
        if !undo.restored.isEmpty { parts.append("put back \(list(undo.restored)) as it was before") }
        if !undo.deleted.isEmpty { parts.append("deleted the new \(list(undo.deleted)) again") }
        if !undo.left.isEmpty {
            parts.append("\(list(undo.left.map(\.tag))) still point\(undo.left.count == 1 ? "s" : "") at the new image "
                         + "(complete: all its manifests and blobs are in) because undoing failed: "
                         + undo.left.map { "\($0.tag): \($0.why)" }.joined(separator: "; "))
        }
        let suffix = " (writing tag \(failedTag) failed; " + parts.joined(separator: "; ") + ")"
        if var registryError = error as? RegistryError {
            registryError.message += suffix
            return registryError
        }
        return RegistryError(.other, "\(error)" + suffix)
    }

    private static func list(_ tags: [String]) -> String {
        (tags.count == 1 ? "tag " : "tags ") + tags.joined(separator: ", ")
    }
}
