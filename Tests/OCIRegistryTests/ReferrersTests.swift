import Testing
@testable import OCIRegistry

/// The `Link` header of paginated referrers (and tag) lists: only a `rel="next"` target on this
/// registry is followed.
@Suite struct ReferrersLinkTests {
    @Test(arguments: [
        ("</v2/a/referrers/sha256:x?last=y>; rel=\"next\"", "/v2/a/referrers/sha256:x?last=y"),
        ("<https://r.example/v2/a/tags/list?n=2&last=b>; rel=\"next\"", "https://r.example/v2/a/tags/list?n=2&last=b"),
        ("<http://r.example/v2/x>;rel=next", "http://r.example/v2/x"),
        // The next entry, not the first one (RFC 8288 lists several; the old parser took the first `<…>`).
        ("</v2/a/referrers/sha256:x?last=p>; rel=\"prev\", </v2/a/referrers/sha256:x?last=n>; rel=\"next\"",
         "/v2/a/referrers/sha256:x?last=n"),
    ])
    func followsNext(link: String, expected: String) {
        #expect(RegistryClient.nextPage(link) == expected)
    }

    @Test(arguments: [
        nil, "", "garbage", "</v2/a>; rel=\"prev\"", "<>; rel=\"next\"", "<ftp://x/v2/a>; rel=\"next\"",
        "<javascript:alert(1)>; rel=\"next\"", "<relative/path>; rel=\"next\"", ">backwards<; rel=\"next\"",
    ])
    func ignoresEverythingElse(link: String?) {
        #expect(RegistryClient.nextPage(link) == nil)
    }
}
