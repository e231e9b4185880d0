import FuzzSupport
import OCIRegistry

/// ManifestDocument.parse on registry-supplied bytes. The first byte picks the Content-Type header
/// (absent, one of the manifest types, or a junk one) so that path is covered too; the rest is the
/// body. Accepted documents keep their exact bytes and a well-formed digest.
let contentTypes: [String?] = [
    nil, MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList,
    MediaType.dockerSchema1Signed, "application/json", "application/json; charset=utf-8", "text/plain", "",
    " Application/VND.OCI.image.index.v1+json ; x=y",
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let contentType = contentTypes[Int(data[0]) % contentTypes.count]
    let body = bytes(data + 1, size - 1)
    guard let doc = try? ManifestDocument.parse(bytes: body, contentType: contentType) else { return 0 }
    check(doc.bytes == body, "document bytes changed")
    check(doc.digest.hasPrefix("sha256:") && ImageReference.isValidDigest(doc.digest), "bad digest \(doc.digest)")
    check(MediaType.isSupportedManifest(doc.mediaType), "unsupported media type accepted: \(doc.mediaType)")
    check(doc.isIndex == MediaType.isIndex(doc.mediaType), "index/media type disagree")
    for d in doc.blobs + doc.children + [doc.subject].compactMap({ $0 }) {
        check(ImageReference.isValidDigest(d.digest) && d.size >= 0, "invalid descriptor accepted")
        _ = d.platform?.description
    }
    _ = doc.descriptor
    return 0
}
