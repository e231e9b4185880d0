// TEMPORARY stand-ins for helper-3's parser types (same API); deleted at merge.
import FoundationEssentials
import HTTPTransport

public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    public var registry: String?
    public var repository: String
    public var tag: String?
    public var digest: String?
    public static func parse(_ text: String) throws -> ImageReference {
        var t = text
        if t.hasPrefix("docker://") { t = String(t.dropFirst(9)) }
        var digest: String?
        if let at = t.firstIndex(of: "@") { digest = String(t[t.index(after: at)...]); t = String(t[..<at]) }
        var tag: String?
        if let colon = t.lastIndex(of: ":"), !t[colon...].contains("/") { tag = String(t[t.index(after: colon)...]); t = String(t[..<colon]) }
        var comps = t.split(separator: "/").map(String.init)
        var registry: String?
        if comps.count > 1, comps[0].contains(".") || comps[0].contains(":") || comps[0] == "localhost" { registry = comps.removeFirst() }
        return ImageReference(registry: registry, repository: comps.joined(separator: "/"), tag: tag, digest: digest)
    }
    public func withDefaultRegistry(_ host: String = "docker.io") -> ImageReference { var r = self; if r.registry == nil { r.registry = host }; return r }
    public var apiHost: String? { registry }
    public var description: String { (registry.map { $0 + "/" } ?? "") + repository + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0 } ?? "") }
    public var identifier: String { digest ?? tag ?? "latest" }
}

public struct AuthChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]
    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    public var scope: String? { parameters["scope"] }
    public var error: String? { parameters["error"] }
    public static func parse(_ header: String) -> [AuthChallenge] {
        guard let sp = header.firstIndex(of: " ") else { return [] }
        var params: [String: String] = [:]
        let rest = header[header.index(after: sp)...]
        var key = ""; var val = ""; var inQ = false; var inKey = true
        for c in rest {
            if inKey { if c == "=" { inKey = false } else if c != "," && c != " " { key.append(c) }; continue }
            if c == "\"" { inQ.toggle(); continue }
            if c == "," && !inQ { params[key.lowercased()] = val; key = ""; val = ""; inKey = true; continue }
            val.append(c)
        }
        if !key.isEmpty { params[key.lowercased()] = val }
        return [AuthChallenge(scheme: header[..<sp].lowercased(), parameters: params)]
    }
}

public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let manifestAccept = [ociIndex, ociManifest, dockerManifestList, dockerManifest]
    public static func isIndex(_ m: String) -> Bool { m == ociIndex || m == dockerManifestList }
}

public struct Platform: Sendable, Hashable, Codable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    public static func parse(_ s: String) throws -> Platform {
        let p = s.split(separator: "/").map(String.init)
        return Platform(architecture: p.count > 1 ? p[1] : "", os: p[0], variant: p.count > 2 ? p[2] : nil)
    }
    public func matches(_ o: Platform) -> Bool { os == o.os && architecture == o.architecture && (variant == nil || variant == o.variant) }
    public var description: String { "\(os)/\(architecture)" + (variant.map { "/" + $0 } ?? "") }
}

public struct Descriptor: Sendable, Hashable, Codable {
    public var mediaType: String
    public var digest: String
    public var size: Int64
    public var platform: Platform?
}

public struct ImageManifest: Sendable, Codable { public var config: Descriptor; public var layers: [Descriptor] }
public struct ImageIndex: Sendable, Codable { public var manifests: [Descriptor] }

public struct ManifestError: Error, Sendable, CustomStringConvertible { public var description: String }

public struct ManifestDocument: Sendable {
    public var bytes: [UInt8]
    public var mediaType: String
    public var digest: String
    public enum Content: Sendable { case image(ImageManifest), index(ImageIndex) }
    public var content: Content
    public static func parse(bytes: [UInt8], contentType: String?) throws -> ManifestDocument {
        struct Probe: Decodable { var mediaType: String? }
        let mt = (try? JSONDecoder().decode(Probe.self, from: Data(bytes)))?.mediaType ?? contentType ?? ""
        let content: Content
        if MediaType.isIndex(mt) { content = .index(try JSONDecoder().decode(ImageIndex.self, from: Data(bytes))) }
        else { content = .image(try JSONDecoder().decode(ImageManifest.self, from: Data(bytes))) }
        return ManifestDocument(bytes: bytes, mediaType: mt, digest: SHA256.digest(bytes), content: content)
    }
    public var blobs: [Descriptor] { if case .image(let m) = content { return [m.config] + m.layers }; return [] }
    public var children: [Descriptor] { if case .index(let i) = content { return i.manifests }; return [] }
}

public struct DistributionError: Sendable, Equatable { public var code: String; public var message: String }
public struct RegistryErrorResponse: Sendable {
    public var status: Int
    public var errors: [DistributionError]
    public static func decode(status: Int, body: [UInt8]) -> RegistryErrorResponse {
        struct B: Decodable { struct E: Decodable { var code: String; var message: String? }; var errors: [E] }
        let e = (try? JSONDecoder().decode(B.self, from: Data(body)))?.errors.map { DistributionError(code: $0.code, message: $0.message ?? "") } ?? []
        return RegistryErrorResponse(status: status, errors: e)
    }
    public var summary: String { errors.first.map { "\($0.code): \($0.message)" } ?? "HTTP \(status)" }
}

public struct RegistryCredential: Sendable, Equatable {
    public var username: String?
    public var password: String?
    public var identityToken: String?
    public init(username: String? = nil, password: String? = nil, identityToken: String? = nil) {
        self.username = username; self.password = password; self.identityToken = identityToken
    }
}
public struct AuthFile: Sendable {
    public static func load(explicitPath: String?, environment: [String: String]) throws -> AuthFile { AuthFile() }
    public func credential(host: String, repository: String?) throws -> RegistryCredential? { nil }
}
extension AuthFile { public static func store(host: String, username: String, secret: String, at path: String) throws {} }
