/// Media types of the manifests and configs imgpromote handles.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"

    /// The `Accept` list for manifest GET/HEAD. Schema 1 is deliberately absent: a registry that can
    /// only serve schema 1 then answers with it and parsing reports a clear error.
    public static let manifestAccept: [String] = [ociIndex, ociManifest, dockerManifestList, dockerManifest]

    /// `Content-Type` value without parameters, trimmed and lower-cased (the spec says clients
    /// SHOULD ignore parameters).
    public static func essence(_ contentType: String) -> String {
        // Every real media type is ASCII: bytes then, not Characters (a manifest GET asks about four times).
        if contentType.utf8.allSatisfy({ $0 < 0x80 }) {
            let bytes = Array(contentType.utf8)
            var start = 0, end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
            func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 13 || b == 10 }
            while start < end, isSpace(bytes[start]) { start += 1 }
            while end > start, isSpace(bytes[end - 1]) { end -= 1 }
            return String(decoding: bytes[start..<end].map { (65...90).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
        }
        let base = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return DiagnosticText.trim(base).lowercased()
    }

    public static func isIndex(_ mediaType: String) -> Bool {
        let m = essence(mediaType)
        return m == ociIndex || m == dockerManifestList
    }

    public static func isManifest(_ mediaType: String) -> Bool {
        let m = essence(mediaType)
        return m == ociManifest || m == dockerManifest
    }

    public static func isSchema1(_ mediaType: String) -> Bool {
        let m = essence(mediaType)
        return m == dockerSchema1 || m == dockerSchema1Signed
    }

    /// One of the four manifest types imgpromote can copy.
    public static func isSupportedManifest(_ mediaType: String) -> Bool { isIndex(mediaType) || isManifest(mediaType) }
}
