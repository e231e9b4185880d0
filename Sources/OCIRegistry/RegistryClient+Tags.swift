import FoundationEssentials
import HTTPTransport

extension RegistryClient {
    /// Every tag of `repository`: `GET /v2/NAME/tags/list?n=PAGE`, following `Link: <…>; rel="next"`
    /// until the registry stops sending one. Bounded: a registry that links forever is an error.
    public func tagList(repository: String, pageSize: Int = 1000, maxPages: Int = 10_000) async throws -> [String] {
        var next: String? = url("\(repository)/tags/list?n=\(max(1, pageSize))")
        var tags: [String] = []
        var pages = 0
        while let page = next {
            pages += 1
            guard pages <= maxPages else {
                throw RegistryError(.other, "\(host)/\(repository): tag list longer than \(maxPages) pages")
            }
            let request = HTTPRequest(method: "GET", url: page, maxResponseBytes: 16 << 20,
                                      timeouts: .init(totalSeconds: 120))
            let what = "tags of \(repository)"
            let response = try await execute(request, repository: repository, actions: ["pull"], what: "GET \(what)")
            guard response.status == 200 else {
                if response.status == 404 {
                    throw RegistryError(.notFound, "\(host)/\(repository): repository not found (tag list)", status: 404)
                }
                throw RegistryError.from(response: response, host: host, what: what)
            }
            struct TagList: Decodable { var tags: [String]? }
            guard let decoded = try? JSONDecoder().decode(TagList.self, from: Data(response.body)) else {
                throw RegistryError(.other, "\(host)/\(repository): the tag list is not valid JSON")
            }
            tags += decoded.tags ?? []
            next = try Self.nextPage(link: response.headers["Link"], host: host, scheme: knownScheme, repository: repository,
                                     listing: "tag list")
        }
        return tags
    }

    /// The `rel="next"` target of a Link header, host-relative (`/v2/…`) or absolute on this host, for
    /// every paginated listing (tags, referrers). The next page is fetched with this registry's
    /// credentials, so a link to another host, or from HTTPS down to plain HTTP, is refused (an error,
    /// not the end of the list: a silently shortened listing would look complete).
    static func nextPage(link: String?, host: String, scheme: String?, repository: String, listing: String) throws -> String? {
        guard let url = nextLinkTarget(link) else { return nil }
        if url.hasPrefix("/v2/") { return url }
        if url.hasPrefix("http://") || url.hasPrefix("https://") {
            guard hostOf(url) == host else {
                throw RegistryError(.other, "\(host)/\(repository): \(listing) links to another host (\(DiagnosticText.quote(hostOf(url), limit: 80))); refusing")
            }
            guard !(scheme == "https" && url.hasPrefix("http://")) else {
                throw RegistryError(.other, "\(host)/\(repository): \(listing) links from HTTPS to plain HTTP; refusing")
            }
            return url
        }
        throw RegistryError(.other, "\(host)/\(repository): unusable \(listing) Link \(DiagnosticText.quote(url, limit: 80))")
    }

    /// The URL of the first `<URL>; rel="next"` entry of a Link header (RFC 8288), unchecked.
    static func nextLinkTarget(_ link: String?) -> String? { LinkHeader.target(link, rel: "next") }
}
