import OCIRegistry

/// What `inspect` shows about one attachment.
public struct AttachmentInfo: Sendable, Codable, Equatable {
    /// The digest it hangs off.
    public var subject: String
    /// `.sig`, `.att`, `.sbom` or `referrer`.
    public var kind: String
    public var digest: String
    public var tag: String?
    public var artifactType: String?
    /// Layers of a cosign tag (signatures, attestations, SBOM documents).
    public var layers: Int?
    /// Predicate types of attestations (cosign `.att` layers).
    public var predicateTypes: [String]?
    /// Promotion records found among the attestations.
    public var records: [RecordInfo]?
}

public struct RecordInfo: Sendable, Codable, Equatable {
    public var record: PromotionRecord
    /// Key ids of the envelope's signatures (not verified: `inspect` has no key to check them with).
    public var signedBy: [String]
}

public enum AttachmentListing {
    /// Describes `attachments`, reading the DSSE layers of `.att` tags to show promotion records.
    public static func describe(_ attachments: [Attachment], client: RegistryClient, repository: String) async throws -> [AttachmentInfo] {
        var out: [AttachmentInfo] = []
        for a in attachments {
            var info = AttachmentInfo(subject: a.subject, kind: a.kind == .referrer ? "referrer" : a.label, digest: a.document.digest,
                                      tag: a.tag, artifactType: a.kind == .referrer ? a.artifactType : nil)
            if a.kind != .referrer, case .image(let m) = a.document.content {
                info.layers = m.layers.count
                if a.kind == .cosign(.attestation) {
                    info.predicateTypes = m.layers.compactMap { $0.annotations?[Cosign.predicateTypeAnnotation] }
                    var records: [RecordInfo] = []
                    for layer in m.layers.prefix(64)
                    where layer.mediaType == Cosign.dsseMediaType
                        && layer.annotations?[Cosign.predicateTypeAnnotation] == PromotionRecord.predicateType
                        && layer.size <= 1 << 20 {
                        let bytes = try await client.blob(repository: repository, descriptor: layer, limit: 1 << 20)
                        if let envelope = DSSEEnvelope.decode(bytes), let record = PromotionRecord.from(envelope) {
                            records.append(RecordInfo(record: record, signedBy: envelope.signatures.map(\.keyid)))
                        }
                    }
                    if !records.isEmpty { info.records = records }
                }
            }
            out.append(info)
        }
        return out
    }
}
