import FoundationEssentials

/// Names sigstore/cosign uses for what it attaches to an image.
public enum Cosign {
    /// Layer media type of a simple-signing payload (one per signature in a `.sig` manifest).
    public static let simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
    /// Layer annotation holding the base64 signature over the layer's bytes.
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"
    /// Layer media type of an attestation (a DSSE envelope) in a `.att` manifest.
    public static let dsseMediaType = "application/vnd.dsse.envelope.v1+json"
    /// Layer annotation naming an attestation's predicate type.
    public static let predicateTypeAnnotation = "predicateType"
    /// `artifactType`s of OCI referrers that are signatures (cosign, sigstore bundles, Notation).
    public static let signatureArtifactTypes: Set<String> = [
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.cncf.notary.signature",
    ]

    public enum Suffix: String, Sendable, CaseIterable {
        case signature = "sig", attestation = "att", sbom = "sbom"
    }

    /// `sha256-HEX.sig` for `sha256:HEX` (the tag cosign and containers/image use).
    public static func tag(for digest: String, _ suffix: Suffix) -> String {
        fallbackTag(for: digest) + "." + suffix.rawValue
    }

    /// `sha256-HEX`: the OCI referrers fallback tag (distribution spec "referrers tag schema").
    public static func fallbackTag(for digest: String) -> String {
        String(decoding: digest.utf8.map { $0 == UInt8(ascii: ":") ? UInt8(ascii: "-") : $0 }, as: UTF8.self)
    }

    /// The digest a cosign-style tag hangs off, and its suffix (nil for the referrers fallback tag).
    public static func parseTag(_ tag: String) -> (digest: String, suffix: Suffix?)? {
        guard tag.hasPrefix("sha256-") else { return nil }
        var hex = Substring(tag.dropFirst(7))
        var suffix: Suffix?
        if let dot = hex.firstIndex(of: ".") {
            guard let s = Suffix(rawValue: String(hex[hex.index(after: dot)...])) else { return nil }
            suffix = s
            hex = hex[..<dot]
        }
        guard hex.count == 64, hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { return nil }
        return ("sha256:" + hex, suffix)
    }
}

/// The simple-signing payload cosign signs: which manifest digest, which repository.
public struct SimpleSigningPayload: Sendable, Codable, Equatable {
    public struct Critical: Sendable, Codable, Equatable {
        public struct Identity: Sendable, Codable, Equatable {
            public var dockerReference: String
            enum CodingKeys: String, CodingKey { case dockerReference = "docker-reference" }
        }
        public struct Image: Sendable, Codable, Equatable {
            public var dockerManifestDigest: String
            enum CodingKeys: String, CodingKey { case dockerManifestDigest = "docker-manifest-digest" }
        }
        public var identity: Identity
        public var image: Image
        public var type: String
    }
    public var critical: Critical

    public static let signatureType = "cosign container image signature"

    public init(dockerReference: String, manifestDigest: String) {
        critical = Critical(identity: .init(dockerReference: dockerReference),
                            image: .init(dockerManifestDigest: manifestDigest), type: Self.signatureType)
    }

    /// Parses a payload; nil when it is not a cosign simple-signing document.
    public static func parse(_ bytes: [UInt8]) -> SimpleSigningPayload? {
        guard let p = try? JSONDecoder().decode(SimpleSigningPayload.self, from: Data(bytes)),
              p.critical.type.lowercased() == signatureType else { return nil }
        return p
    }
}

/// One layer of a `.sig` manifest as fetched: the payload bytes, their media type and annotations.
public struct SignatureLayer: Sendable {
    public var mediaType: String
    public var payload: [UInt8]
    public var annotations: [String: String]

    public init(mediaType: String, payload: [UInt8], annotations: [String: String]) {
        self.mediaType = mediaType
        self.payload = payload
        self.annotations = annotations
    }

    /// containers/image's signature file (`dir:` transport): `\0sigstore-json\n` then JSON with
    /// `mimeType`, base64 `payload` and `annotations`.
    public init(containersImageFile bytes: [UInt8]) throws(KeyError) {
        let prefix = Array("\u{0}sigstore-json\n".utf8)
        guard bytes.starts(with: prefix) else { throw KeyError("not a containers/image sigstore signature file") }
        struct File: Decodable { var mimeType: String; var payload: String; var annotations: [String: String]? }
        guard let f = try? JSONDecoder().decode(File.self, from: Data(bytes.dropFirst(prefix.count))),
              let payload = Data(base64Encoded: f.payload) else {
            throw KeyError("malformed containers/image sigstore signature file")
        }
        self.init(mediaType: f.mimeType, payload: Array(payload), annotations: f.annotations ?? [:])
    }
}
