import FoundationEssentials
import HTTPTransport

// MARK: Platform

/// The `platform` of an index entry.
public struct Platform: Sendable, Hashable, Codable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?
    public var osFeatures: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(architecture: String, os: String, variant: String? = nil, osVersion: String? = nil,
                osFeatures: [String]? = nil) {
        self.architecture = architecture
        self.os = os
        self.variant = variant
        self.osVersion = osVersion
        self.osFeatures = osFeatures
    }

    /// `os/arch[/variant]`, e.g. `linux/arm64/v8`. Common architecture aliases are mapped to their
    /// Go names (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7, armel → arm/v6, i386 → 386).
    public static func parse(_ text: String) throws -> Platform {
        func fail(_ reason: String) -> PlatformError { PlatformError(input: text, reason: reason) }
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3 else { throw fail("expected OS/ARCH or OS/ARCH/VARIANT") }
        for p in parts {
            if p.isEmpty { throw fail("empty component") }
            if !p.utf8.allSatisfy({ ImageReference.isLowerAlnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) {
                throw fail("invalid character in \(DiagnosticText.quote(p))")
            }
        }
        var arch = parts[1]
        var variant = parts.count == 3 ? parts[2] : nil
        switch arch {
        case "x86_64", "x86-64": arch = "amd64"
        case "aarch64": arch = "arm64"
        case "i386", "i686": arch = "386"
        case "armhf": arch = "arm"; variant = variant ?? "v7"
        case "armel": arch = "arm"; variant = variant ?? "v6"
        default: break
        }
        return Platform(architecture: arch, os: parts[0], variant: variant)
    }

    /// Variant with the implied defaults filled in, so `linux/arm64` matches `linux/arm64/v8`.
    static func normalizedVariant(architecture: String, variant: String?) -> String? {
        var v = variant?.lowercased()
        if let raw = v, !raw.isEmpty, raw.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { v = "v" + raw }  // "8" → "v8"
        if v?.isEmpty == true { v = nil }
        switch architecture.lowercased() {
        case "arm64": return v ?? "v8"
        case "arm": return v ?? "v7"
        case "amd64": return v == "v1" ? nil : v
        default: return v
        }
    }

    /// Same OS, architecture and (normalised) variant; `os.version` only counts when both name one.
    public func matches(_ other: Platform) -> Bool {
        guard os.lowercased() == other.os.lowercased(),
              architecture.lowercased() == other.architecture.lowercased(),
              Self.normalizedVariant(architecture: architecture, variant: variant)
                == Self.normalizedVariant(architecture: other.architecture, variant: other.variant)
        else { return false }
        if let a = osVersion, let b = other.osVersion, a != b { return false }
        return true
    }

    public var description: String {
        var s = "\(os)/\(architecture)"
        if let variant, !variant.isEmpty { s += "/\(variant)" }
        return s
    }
}

public struct PlatformError: Error, Sendable, CustomStringConvertible {
    public var input: String
    public var reason: String
    public var description: String { "invalid platform \(DiagnosticText.quote(input)): \(reason)" }
}

// MARK: Manifest and index

/// OCI image manifest / Docker schema 2 manifest.
public struct ImageManifest: Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: String? = MediaType.ociManifest, artifactType: String? = nil,
                config: Descriptor, layers: [Descriptor], subject: Descriptor? = nil,
                annotations: [String: String]? = nil) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.subject = subject
        self.annotations = annotations
    }
}

/// OCI image index / Docker manifest list.
public struct ImageIndex: Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: String? = MediaType.ociIndex, artifactType: String? = nil,
                manifests: [Descriptor], subject: Descriptor? = nil, annotations: [String: String]? = nil) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.manifests = manifests
        self.subject = subject
        self.annotations = annotations
    }
}

public struct ManifestError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case tooLarge, malformed, schema1, unsupportedMediaType, mediaTypeMismatch, invalidDescriptor
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static let schema1Message = "Docker schema 1 manifests are not supported; re-push the image with a "
        + "current docker, podman or buildah (schema 2 or OCI), or convert it with "
        + "`skopeo copy --format v2s2`"
}

/// A manifest as fetched: the exact bytes (never re-serialised: the digest must not change) plus its parse.
public struct ManifestDocument: Sendable {
    public var bytes: [UInt8]
    public var mediaType: String
    /// SHA-256 of `bytes`.
    public var digest: String

    public enum Content: Sendable {
        case image(ImageManifest)
        case index(ImageIndex)
    }
    public var content: Content

    /// The distribution spec asks registries to accept at least 4 MB manifests; refuse larger
    /// ones rather than buffer arbitrary amounts from a hostile registry.
    public static let maxSize = 4 * 1024 * 1024

    /// Parses `bytes`. The media type comes from the document's own `mediaType` field if present,
    /// else the `Content-Type` header (parameters stripped), else detection ("manifests" → index,
    /// "config" + "layers" → manifest).
    public static func parse(bytes: [UInt8], contentType: String?) throws -> ManifestDocument {
        guard bytes.count <= maxSize else {
            throw ManifestError(.tooLarge, "manifest is \(bytes.count) bytes; the limit is \(maxSize)")
        }
        guard !bytes.isEmpty else { throw ManifestError(.malformed, "manifest is empty") }

        // Only a manifest media type in the header carries information; registries and proxies
        // also answer application/json, text/plain or application/octet-stream.
        let header = contentType.map(MediaType.essence).flatMap { $0.isEmpty ? nil : $0 }
        if let header, MediaType.isSchema1(header) { throw ManifestError(.schema1, ManifestError.schema1Message) }
        let headerType = header.flatMap { MediaType.isSupportedManifest($0) ? $0 : nil }

        let data = Data(bytes)
        let probe: Probe
        do {
            probe = try JSONDecoder().decode(Probe.self, from: data)
        } catch {
            throw ManifestError(.malformed, "manifest is not a valid JSON object (\(describe(error)))")
        }
        if probe.schemaVersion == 1 || probe.hasSchema1Fields { throw ManifestError(.schema1, ManifestError.schema1Message) }

        let mediaType: String
        if let declared = probe.mediaType {
            if MediaType.isSchema1(declared) { throw ManifestError(.schema1, ManifestError.schema1Message) }
            guard MediaType.isSupportedManifest(declared) else {
                throw ManifestError(.unsupportedMediaType,
                                    "manifest media type \(DiagnosticText.quote(declared, limit: 120)) is not supported")
            }
            if let headerType, headerType != MediaType.essence(declared) {
                throw ManifestError(.mediaTypeMismatch,
                                    "manifest declares mediaType \(DiagnosticText.quote(declared, limit: 120)) "
                                    + "but the registry sent Content-Type \(DiagnosticText.quote(headerType))")
            }
            mediaType = declared
        } else if let headerType {
            mediaType = headerType
        } else if probe.hasManifests {
            mediaType = MediaType.ociIndex
        } else if probe.hasConfig || probe.hasLayers {
            mediaType = MediaType.ociManifest
        } else {
            throw ManifestError(.malformed, "document is neither an image manifest nor an index "
                                + "(no \"manifests\", \"config\" or \"layers\")")
        }

        // A document that is both is the CVE-2021-41190 ambiguity: different clients would copy
        // different content under one digest.
        if probe.hasManifests && (probe.hasConfig || probe.hasLayers) {
            throw ManifestError(.malformed, "ambiguous manifest: has both \"manifests\" and \"config\"/\"layers\"")
        }
        guard let version = probe.schemaVersion else {
            throw ManifestError(.malformed, "manifest has no schemaVersion")
        }
        guard version == 2 else { throw ManifestError(.malformed, "unsupported schemaVersion \(version)") }

        let content: Content
        do {
            if MediaType.isIndex(mediaType) {
                guard probe.hasManifests else {
                    throw ManifestError(.mediaTypeMismatch, "media type \(mediaType) is an index but the document has no \"manifests\"")
                }
                let index = try JSONDecoder().decode(ImageIndex.self, from: data)
                for (i, d) in index.manifests.enumerated() {
                    if let p = d.validationProblem(field: "manifests[\(i)]") { throw ManifestError(.invalidDescriptor, p) }
                }
                if let p = index.subject?.validationProblem(field: "subject") { throw ManifestError(.invalidDescriptor, p) }
                content = .index(index)
            } else {
                guard !probe.hasManifests else {
                    throw ManifestError(.mediaTypeMismatch, "media type \(mediaType) is an image manifest but the document has \"manifests\"")
                }
                let image = try JSONDecoder().decode(ImageManifest.self, from: data)
                if let p = image.config.validationProblem(field: "config") { throw ManifestError(.invalidDescriptor, p) }
                for (i, d) in image.layers.enumerated() {
                    if let p = d.validationProblem(field: "layers[\(i)]") { throw ManifestError(.invalidDescriptor, p) }
                }
                if let p = image.subject?.validationProblem(field: "subject") { throw ManifestError(.invalidDescriptor, p) }
                content = .image(image)
            }
        } catch let error as ManifestError {
            throw error
        } catch {
            throw ManifestError(.malformed, "invalid manifest: \(describe(error))")
        }
        return ManifestDocument(bytes: bytes, mediaType: mediaType, digest: SHA256.digest(bytes), content: content)
    }

    /// Blobs referenced (config + layers) for an image; empty for an index.
    public var blobs: [Descriptor] {
        if case .image(let m) = content { return [m.config] + m.layers }
        return []
    }

    /// Children for an index; empty for an image.
    public var children: [Descriptor] {
        if case .index(let i) = content { return i.manifests }
        return []
    }

    public var isIndex: Bool {
        if case .index = content { return true }
        return false
    }

    public var subject: Descriptor? {
        switch content {
        case .image(let m): m.subject
        case .index(let i): i.subject
        }
    }

    /// A descriptor pointing at this document (for index entries, referrers, manifest PUTs).
    public var descriptor: Descriptor {
        Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    /// Short text for a DecodingError: where and what, never the document's content.
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var s = ""
            for k in keys {
                if let i = k.intValue { s += "[\(i)]" } else { s += s.isEmpty ? k.stringValue : ".\(k.stringValue)" }
            }
            return s.isEmpty ? "top level" : DiagnosticText.sanitize(s, limit: 120)
        }
        guard let e = error as? DecodingError else { return "undecodable" }
        switch e {
        case .keyNotFound(let key, let ctx):
            return "missing required field \(path(ctx.codingPath + [key]))"
        case .valueNotFound(_, let ctx):
            return "null or missing value at \(path(ctx.codingPath))"
        case .typeMismatch(_, let ctx):
            return "wrong type at \(path(ctx.codingPath))"
        case .dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "not valid JSON" : "invalid value at \(path(ctx.codingPath))"
        @unknown default:
            return "undecodable"
        }
    }
}

/// Which top-level keys a document has, decoded before committing to a shape.
private struct Probe: Decodable {
    var schemaVersion: Int?
    var mediaType: String?
    var hasManifests = false
    var hasConfig = false
    var hasLayers = false
    var hasSchema1Fields = false

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: Key("schemaVersion"))
        mediaType = try c.decodeIfPresent(String.self, forKey: Key("mediaType"))
        hasManifests = c.contains(Key("manifests"))
        hasConfig = c.contains(Key("config"))
        hasLayers = c.contains(Key("layers"))
        hasSchema1Fields = c.contains(Key("fsLayers")) || c.contains(Key("signatures"))
    }
}
