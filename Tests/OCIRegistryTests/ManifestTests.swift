import FoundationEssentials
import HTTPTransport
import Testing
@testable import OCIRegistry

private func d(_ c: Character) -> String { "sha256:" + String(repeating: c, count: 64) }
private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private let ociManifest = """
{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "\(d("a"))", "size": 1469},
  "layers": [
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "\(d("b"))", "size": 3370706},
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "\(d("c"))", "size": 0,
     "urls": ["https://example.com/layer"], "annotations": {"k": "v"}}
  ],
  "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
  "unknownField": {"nested": [1, 2, 3]}
}
"""

private let dockerManifest = """
{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",\
"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"\(d("1"))"},\
"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32654,"digest":"\(d("2"))"}]}
"""

private let ociIndex = """
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("d"))","size":7143,
  "platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("e"))","size":7682,
  "platform":{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1040","os.features":["win32k"]}},
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("f"))","size":566,
  "platform":{"architecture":"unknown","os":"unknown"},"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}
]}
"""

private let dockerList = """
{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
 {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":7143,"digest":"\(d("3"))",
  "platform":{"architecture":"ppc64le","os":"linux"}}]}
"""

private func kind(_ json: String, _ contentType: String? = nil) -> ManifestError.Kind? {
    kind(bytes(json), contentType)
}

private func kind(_ b: [UInt8], _ contentType: String? = nil) -> ManifestError.Kind? {
    do {
        _ = try ManifestDocument.parse(bytes: b, contentType: contentType)
        return nil
    } catch let e as ManifestError {
        return e.kind
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

private func manifest(mediaType: String? = nil, config: String? = nil, layers: String? = "[]",
                      extra: String = "", schemaVersion: String? = "2") -> String {
    var parts: [String] = []
    if let schemaVersion { parts.append("\"schemaVersion\": \(schemaVersion)") }
    if let mediaType { parts.append("\"mediaType\": \"\(mediaType)\"") }
    parts.append("\"config\": " + (config ?? #"{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(d("a"))","size":2}"#))
    if let layers { parts.append("\"layers\": \(layers)") }
    if !extra.isEmpty { parts.append(extra) }
    return "{" + parts.joined(separator: ",") + "}"
}

@Suite struct ManifestTests {
    @Test func ociImageManifest() throws {
        let doc = try ManifestDocument.parse(bytes: bytes(ociManifest), contentType: MediaType.ociManifest)
        #expect(doc.mediaType == MediaType.ociManifest)
        #expect(doc.bytes == bytes(ociManifest))
        #expect(doc.digest == SHA256.digest(bytes(ociManifest)))
        #expect(doc.blobs.map(\.digest) == [d("a"), d("b"), d("c")])
        #expect(doc.blobs[2].urls == ["https://example.com/layer"])
        #expect(doc.blobs[2].annotations == ["k": "v"])
        #expect(doc.children.isEmpty)
        #expect(!doc.isIndex)
        #expect(doc.descriptor == Descriptor(mediaType: MediaType.ociManifest, digest: doc.digest, size: Int64(ociManifest.utf8.count)))
        guard case .image(let m) = doc.content else { Issue.record("not an image"); return }
        #expect(m.config.size == 1469)
        #expect(m.annotations?["org.opencontainers.image.created"] == "2024-01-01T00:00:00Z")
    }

    @Test func dockerManifestWithParametersInContentType() throws {
        let doc = try ManifestDocument.parse(bytes: bytes(dockerManifest),
                                             contentType: "Application/VND.docker.distribution.manifest.v2+json; charset=utf-8")
        #expect(doc.mediaType == MediaType.dockerManifest)
        #expect(doc.blobs.count == 2)
    }

    @Test func indexAndPlatforms() throws {
        let doc = try ManifestDocument.parse(bytes: bytes(ociIndex), contentType: nil)
        #expect(doc.mediaType == MediaType.ociIndex)
        #expect(doc.isIndex)
        #expect(doc.blobs.isEmpty)
        #expect(doc.children.count == 3)
        let win = try #require(doc.children[1].platform)
        #expect(win.osVersion == "10.0.17763.1040")
        #expect(win.osFeatures == ["win32k"])
        #expect(doc.children[0].platform?.description == "linux/arm64/v8")
        #expect(try doc.children[0].platform?.matches(Platform.parse("linux/arm64")) == true)
        #expect(try doc.children.first { $0.platform?.matches(try Platform.parse("linux/aarch64")) == true }?.digest == d("d"))

        let list = try ManifestDocument.parse(bytes: bytes(dockerList), contentType: MediaType.dockerManifestList)
        #expect(list.mediaType == MediaType.dockerManifestList)
        #expect(list.children.first?.platform == Platform(architecture: "ppc64le", os: "linux"))
    }

    @Test func mediaTypeSources() throws {
        // No mediaType field: header decides; without header, structure decides.
        let bare = manifest()
        #expect(try ManifestDocument.parse(bytes: bytes(bare), contentType: MediaType.dockerManifest).mediaType == MediaType.dockerManifest)
        #expect(try ManifestDocument.parse(bytes: bytes(bare), contentType: nil).mediaType == MediaType.ociManifest)
        #expect(try ManifestDocument.parse(bytes: bytes(bare), contentType: "application/json").mediaType == MediaType.ociManifest)
        #expect(try ManifestDocument.parse(bytes: bytes(bare), contentType: "").mediaType == MediaType.ociManifest)
        let bareIndex = #"{"schemaVersion":2,"manifests":[]}"#
        #expect(try ManifestDocument.parse(bytes: bytes(bareIndex), contentType: "text/plain").mediaType == MediaType.ociIndex)
        #expect(try ManifestDocument.parse(bytes: bytes(bareIndex), contentType: MediaType.dockerManifestList).mediaType == MediaType.dockerManifestList)
        // The document's field wins over a generic header.
        #expect(try ManifestDocument.parse(bytes: bytes(dockerManifest), contentType: "application/octet-stream").mediaType == MediaType.dockerManifest)
    }

    @Test func exactBytesKept() throws {
        // Odd whitespace, key order and escapes: re-serialising would change the digest.
        let text = "{\n\t\"layers\" : [ ],\"config\":{\"size\":2,\"digest\":\"\(d("a"))\",\"mediaType\":\"a\\/b\"},\"schemaVersion\":2 }\n\n"
        let doc = try ManifestDocument.parse(bytes: bytes(text), contentType: nil)
        #expect(doc.bytes == bytes(text))
        #expect(doc.digest == SHA256.digest(bytes(text)))
        #expect(doc.blobs.first?.mediaType == "a/b")
    }

    @Test func artifactManifest() throws {
        let json = manifest(mediaType: MediaType.ociManifest,
                            config: #"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}"#,
                            layers: #"[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"\#(d("9"))","size":100}]"#,
                            extra: #""artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(d("8"))","size":1}"#)
        let doc = try ManifestDocument.parse(bytes: bytes(json), contentType: MediaType.ociManifest)
        #expect(doc.subject?.digest == d("8"))
        guard case .image(let m) = doc.content else { Issue.record("not an image"); return }
        #expect(m.artifactType == "application/vnd.dev.sigstore.bundle.v0.3+json")
    }

    @Test func schema1IsRejectedClearly() {
        let s1 = #"{"schemaVersion":1,"name":"a","tag":"b","architecture":"amd64","fsLayers":[{"blobSum":"\#(d("a"))"}],"history":[]}"#
        #expect(kind(s1) == .schema1)
        #expect(kind(s1, MediaType.dockerSchema1Signed) == .schema1)
        #expect(kind(dockerManifest, "application/vnd.docker.distribution.manifest.v1+prettyjws") == .schema1)
        #expect(kind(manifest(mediaType: MediaType.dockerSchema1)) == .schema1)
        #expect(kind(#"{"fsLayers":[],"signatures":[]}"#) == .schema1)
        do {
            _ = try ManifestDocument.parse(bytes: bytes(s1), contentType: nil)
        } catch {
            #expect("\(error)".hasPrefix("Docker schema 1 manifests are not supported; "))
        }
    }

    @Test func mismatches() {
        #expect(kind(dockerManifest, MediaType.ociManifest) == .mediaTypeMismatch)
        #expect(kind(ociIndex, MediaType.dockerManifestList) == .mediaTypeMismatch)
        #expect(kind(ociIndex, MediaType.ociManifest) == .mediaTypeMismatch)
        #expect(kind(manifest(), MediaType.ociIndex) == .mediaTypeMismatch)                 // header index, body image
        #expect(kind(#"{"schemaVersion":2,"manifests":[]}"#, MediaType.ociManifest) == .mediaTypeMismatch)
        #expect(kind(manifest(mediaType: MediaType.ociIndex)) == .mediaTypeMismatch)        // field index, body image
    }

    @Test(arguments: [
        "", " ", "null", "[]", "\"x\"", "42", "{", "{}", "{\"schemaVersion\":2}", "not json at all",
        "<html><body>502</body></html>",
        #"{"schemaVersion":"2","config":{},"layers":[]}"#,
    ])
    func malformed(_ text: String) {
        #expect(kind(text) == .malformed)
    }

    @Test func malformedStructures() {
        #expect(kind(manifest(layers: nil)) == .malformed)                                       // missing layers
        #expect(kind(manifest(schemaVersion: nil)) == .malformed)                                // missing schemaVersion
        #expect(kind(manifest(schemaVersion: "3")) == .malformed)
        #expect(kind(manifest(config: "null")) == .malformed)
        #expect(kind(manifest(config: #"{"digest":"\#(d("a"))","size":1}"#)) == .malformed)       // descriptor lacks mediaType
        #expect(kind(manifest(config: #"{"mediaType":"x","digest":"\#(d("a"))","size":1.5}"#)) == .malformed)
        #expect(kind(manifest(layers: #"{"a":1}"#)) == .malformed)
        #expect(kind(manifest(extra: #""manifests":[]"#)) == .malformed)                        // CVE-2021-41190 ambiguity
        #expect(kind(#"{"schemaVersion":2,"manifests":[{"mediaType":"a","digest":"\#(d("a"))","size":1,"platform":{"os":"linux"}}]}"#) == .malformed)
        #expect(kind([0xFF, 0xFE, 0x7B, 0x7D]) == .malformed)                                    // not UTF-8
        #expect(kind(#"{"schemaVersion":2,"manifests":[]} trailing"#) == .malformed)
    }

    @Test func malformedMessageNamesField() {
        do {
            _ = try ManifestDocument.parse(bytes: bytes(manifest(layers: #"[{"mediaType":"x","size":1}]"#)), contentType: nil)
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("layers[0].digest"))
        }
    }

    @Test(arguments: [
        "sha256:abc", "sha256:" + String(repeating: "A", count: 64), "md5", "", "sha256:" + String(repeating: "a", count: 64) + " ",
        "../../etc/passwd", "sha256:" + String(repeating: "a", count: 63) + "\u{0}",
    ])
    func invalidDescriptorDigests(_ digest: String) {
        let escaped = digest.replacing("\u{0}", with: "\\u0000")
        #expect(kind(manifest(layers: #"[{"mediaType":"x","digest":"\#(escaped)","size":1}]"#)) == .invalidDescriptor)
        #expect(kind(#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"\#(escaped)","size":1}]}"#) == .invalidDescriptor)
    }

    @Test func invalidDescriptors() {
        #expect(kind(manifest(layers: #"[{"mediaType":"x","digest":"\#(d("a"))","size":-1}]"#)) == .invalidDescriptor)
        #expect(kind(manifest(config: #"{"mediaType":"","digest":"\#(d("a"))","size":1}"#)) == .invalidDescriptor)
        #expect(kind(manifest(extra: #""subject":{"mediaType":"x","digest":"nope","size":1}"#)) == .invalidDescriptor)
        #expect(kind(#"{"schemaVersion":2,"manifests":[],"subject":{"mediaType":"x","digest":"\#(d("a"))","size":-5}}"#) == .invalidDescriptor)
    }

    @Test func unsupportedMediaTypes() {
        #expect(kind(manifest(mediaType: "application/vnd.oci.artifact.manifest.v1+json")) == .unsupportedMediaType)
        #expect(kind(manifest(mediaType: "application/json")) == .unsupportedMediaType)
        // Neither mediaType nor a recognisable shape.
        #expect(kind(#"{"schemaVersion":2,"blobs":[]}"#, "application/vnd.oci.artifact.manifest.v1+json") == .malformed)
    }

    @Test func sizeLimit() throws {
        let base = manifest(extra: #""annotations":{"pad":"PAD"}"#)
        let padLength = ManifestDocument.maxSize - (base.utf8.count - 3)
        let exact = base.replacing("PAD", with: String(repeating: "x", count: padLength))
        #expect(exact.utf8.count == ManifestDocument.maxSize)
        #expect(try ManifestDocument.parse(bytes: bytes(exact), contentType: nil).bytes.count == ManifestDocument.maxSize)
        let over = base.replacing("PAD", with: String(repeating: "x", count: padLength + 1))
        #expect(kind(over) == .tooLarge)
    }

    @Test func platformParsing() throws {
        #expect(try Platform.parse("linux/arm64/v8") == Platform(architecture: "arm64", os: "linux", variant: "v8"))
        #expect(try Platform.parse("linux/amd64") == Platform(architecture: "amd64", os: "linux"))
        #expect(try Platform.parse("Linux/X86_64") == Platform(architecture: "amd64", os: "linux"))
        #expect(try Platform.parse("linux/armhf") == Platform(architecture: "arm", os: "linux", variant: "v7"))
        #expect(try Platform.parse("linux/armel") == Platform(architecture: "arm", os: "linux", variant: "v6"))
        #expect(try Platform.parse("linux/i386").architecture == "386")
        #expect(try Platform.parse("windows/amd64").description == "windows/amd64")
        for bad in ["", "linux", "linux/", "/amd64", "linux/amd64/", "linux/amd64/v1/x", "linux/am d64", "linux//v8", "linux/amd64\n"] {
            #expect(throws: PlatformError.self) { try Platform.parse(bad) }
        }
        do { _ = try Platform.parse("linux") } catch { #expect("\(error)".contains("\"linux\"")) }
    }

    @Test func platformMatching() throws {
        let p = { (s: String) throws -> Platform in try Platform.parse(s) }
        #expect(try p("linux/arm64").matches(p("linux/arm64/v8")))
        #expect(try p("linux/arm64/v8").matches(p("linux/arm64")))
        #expect(try p("linux/arm64/8").matches(p("linux/arm64/v8")))
        #expect(try !p("linux/arm64/v9").matches(p("linux/arm64")))
        #expect(try p("linux/arm").matches(p("linux/arm/v7")))
        #expect(try !p("linux/arm").matches(p("linux/arm/v6")))
        #expect(try p("linux/amd64").matches(p("linux/amd64/v1")))
        #expect(try !p("linux/amd64").matches(p("linux/amd64/v3")))
        #expect(try !p("linux/amd64").matches(p("windows/amd64")))
        #expect(try !p("linux/amd64").matches(p("linux/arm64")))
        #expect(try p("linux/s390x").matches(Platform(architecture: "S390X", os: "Linux")))
        var w1 = try p("windows/amd64"); w1.osVersion = "10.0.17763.1040"
        var w2 = w1; w2.osVersion = "10.0.20348.1"
        #expect(!w1.matches(w2))
        #expect(w1.matches(try p("windows/amd64")))
    }

    @Test func platformCodableKeys() throws {
        let p = Platform(architecture: "amd64", os: "windows", osVersion: "10.0", osFeatures: ["win32k"])
        let data = try JSONEncoder().encode(p)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"os.version\""))
        #expect(text.contains("\"os.features\""))
        #expect(!text.contains("variant"))
        #expect(try JSONDecoder().decode(Platform.self, from: data) == p)
        let desc = Descriptor(mediaType: MediaType.ociManifest, digest: d("a"), size: 3, platform: p)
        #expect(try JSONDecoder().decode(Descriptor.self, from: JSONEncoder().encode(desc)) == desc)
    }

    @Test func mediaTypeHelpers() {
        #expect(MediaType.manifestAccept.count == 4)
        #expect(Set(MediaType.manifestAccept) == [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifest, MediaType.dockerManifestList])
        #expect(MediaType.isIndex(MediaType.ociIndex) && MediaType.isIndex(MediaType.dockerManifestList))
        #expect(MediaType.isIndex(" application/vnd.oci.image.index.v1+json ; charset=utf-8"))
        #expect(!MediaType.isIndex(MediaType.ociManifest))
        #expect(MediaType.isManifest(MediaType.dockerManifest) && MediaType.isManifest(MediaType.ociManifest))
        #expect(!MediaType.isManifest(MediaType.ociConfig) && !MediaType.isManifest(MediaType.dockerConfig))
        #expect(MediaType.isSchema1(MediaType.dockerSchema1) && MediaType.isSchema1(MediaType.dockerSchema1Signed))
        #expect(!MediaType.isSchema1("application/json"))
        #expect(MediaType.essence("A/B;x=y") == "a/b")
        // ASCII (trimmed and lowercased as bytes) and anything else (as Characters) agree.
        #expect(MediaType.essence("\tApplication/VND.OCI.Image.Index.v1+JSON\r\n ; charset=utf-8") == MediaType.ociIndex)
        #expect(MediaType.essence(" \r\n") == "" && MediaType.essence(";x=y") == "" && MediaType.essence("") == "")
        #expect(MediaType.essence(" Ä/B\u{301} ;x") == "ä/b\u{301}")
    }
}
