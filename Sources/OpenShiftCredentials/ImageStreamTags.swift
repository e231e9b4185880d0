import FoundationEssentials
import HTTPTransport

/// The image stream tag API, as `oc tag` uses it (openshift/oc `pkg/cli/tag/tag.go`): the source tag is
/// resolved to its image through the stream's `status.tags`, then the destination ImageStreamTag is
/// written (PUT, falling back to POST) from `ImageStreamImage NAME@DIGEST`. No image bytes move.
extension ClusterSession {
    /// How the destination tag is pulled: `source` (from the source's location) or `local` (through the
    /// integrated registry, pullthrough).
    public enum TagReferencePolicy: String, Sendable {
        case source = "Source"
        case local = "Local"
    }

    /// The image (`sha256:…`) that `namespace/name:tag` points to now (the stream's latest tag event).
    /// - Throws: `OpenShiftError` (.notFound for a missing stream or tag), `ImageAccessDenied`.
    public func resolveImageStreamTag(namespace: String, name: String, tag: String) async throws -> String {
        struct Stream: Decodable {
            struct Status: Decodable {
                struct NamedTag: Decodable {
                    struct Event: Decodable { var image: String?; var dockerImageReference: String? }
                    var tag: String
                    var items: [Event]?
                }
                var tags: [NamedTag]?
            }
            var status: Status?
        }
        let path = "/apis/image.openshift.io/v1/namespaces/\(URLTools.pathEscape(namespace))/imagestreams/\(URLTools.pathEscape(name))"
        let r = try await api("GET", path)
        switch r.status {
        case 200:
            guard let stream = try? JSONDecoder().decode(Stream.self, from: Data(r.body)) else {
                throw error(.protocolError, "\(apiURL) returned an unreadable image stream \(namespace)/\(name)")
            }
            guard let event = stream.status?.tags?.first(where: { $0.tag == tag })?.items?.first,
                  let image = event.image, !image.isEmpty else {
                throw error(.notFound, "\(namespace)/\(name):\(tag) is not currently pointing to an image on \(apiURL)")
            }
            return image
        case 401:
            throw rejected()
        case 403:
            var denied = ImageAccessDenied(apiURL: apiURL, user: try? await whoami(), namespace: namespace, imageStream: name,
                                           verb: .pull, origin: .api)
            denied.roles = ["registry-viewer", "view"]   // reading the stream, not only its layers
            throw denied
        case 404:
            throw error(.notFound, "image stream \(namespace)/\(name) not found on \(apiURL)")
        default:
            throw error(.protocolError, "\(apiURL) answered HTTP \(r.status) for image stream \(namespace)/\(name)")
        }
    }

    /// Points `destination` (`namespace`, `name`, `tag`) at image `digest` of stream `source`: an
    /// ImageStreamTag from `ImageStreamImage source.name@digest`. Returns the image the API reports.
    /// - Throws: `ImageAccessDenied` (no tag rights in the destination, or no pull rights in the source
    ///   project), `OpenShiftError`.
    @discardableResult
    public func tagImage(source: (namespace: String, name: String), digest: String,
                         destination: (namespace: String, name: String, tag: String),
                         referencePolicy: TagReferencePolicy) async throws -> String {
        struct From: Encodable { var kind = "ImageStreamImage"; var namespace: String; var name: String }
        struct Policy: Encodable { var type: String }
        struct TagReference: Encodable { var name: String; var from: From; var referencePolicy: Policy }
        struct Meta: Encodable { var name: String; var namespace: String }
        struct Body: Encodable {
            var kind = "ImageStreamTag"
            var apiVersion = "image.openshift.io/v1"
            var metadata: Meta
            var tag: TagReference
        }
        let id = "\(destination.name):\(destination.tag)"
        let body = Body(metadata: Meta(name: id, namespace: destination.namespace),
                        tag: TagReference(name: destination.tag,
                                          from: From(namespace: source.namespace, name: "\(source.name)@\(digest)"),
                                          referencePolicy: Policy(type: referencePolicy.rawValue)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(body), as: UTF8.self)
        let collection = "/apis/image.openshift.io/v1/namespaces/\(URLTools.pathEscape(destination.namespace))/imagestreamtags"
        var r = try await api("PUT", collection + "/" + URLTools.pathEscape(id), body: json)
        if [403, 404, 405].contains(r.status) {
            // oc's fallback: servers (or roles) that allow create but not update.
            let created = try await api("POST", collection, body: json)
            if created.status != 403 || r.status != 403 { r = created }
        }
        switch r.status {
        case 200, 201:
            struct Answer: Decodable { struct Image: Decodable { struct M: Decodable { var name: String? }; var metadata: M? }; var image: Image? }
            return (try? JSONDecoder().decode(Answer.self, from: Data(r.body)))?.image?.metadata?.name ?? digest
        case 401:
            throw rejected()
        case 403:
            throw ImageAccessDenied(apiURL: apiURL, user: try? await whoami(), namespace: destination.namespace,
                                    imageStream: destination.name, verb: .tag, origin: .api)
        case 422 where Self.statusMessage(r.body).contains("Forbidden"):
            // The stream's tag verifier: no pull rights on the source project.
            throw ImageAccessDenied(apiURL: apiURL, user: try? await whoami(), namespace: source.namespace,
                                    imageStream: source.name, verb: .pull, origin: .api)
        default:
            let message = Self.statusMessage(r.body)
            throw error(r.status == 404 ? .notFound : .protocolError,
                                 "\(apiURL) refused tag \(destination.namespace)/\(id) (HTTP \(r.status))" + (message.isEmpty ? "" : ": \(message)"))
        }
    }

    /// `message` of a Kubernetes Status body ("" when there is none).
    static func statusMessage(_ body: [UInt8]) -> String {
        struct Status: Decodable { var message: String? }
        return (try? JSONDecoder().decode(Status.self, from: Data(body)))?.message ?? ""
    }
}
