import Testing
import OCIRegistry

/// RFC 8288 `Link` values as registries and the OpenShift OAuth server send them, and nastier ones.
@Suite struct LinkHeaderTests {
    @Test(arguments: [
        // The OAuth server's challenge among other links: the related one, wherever it stands.
        (#"<https://o.example/help>; rel="help", <https://o.example/oauth/token/request>; rel="related", </v2/x>; rel="next""#,
         "related", "https://o.example/oauth/token/request"),
        (#"<https://o.example/oauth/token/request>; rel="related""#, "related", "https://o.example/oauth/token/request"),
        // Several relation types in one rel, any case, unquoted.
        (#"<https://a/1>; rel="prev", <https://a/2>; rel="Related NEXT""#, "next", "https://a/2"),
        (#"<https://a/1>;REL=related"#, "related", "https://a/1"),
        // A comma inside the URI or inside a quoted parameter does not end the link.
        (#"<https://a/x?tags=a,b>; title="one, two"; rel="related""#, "related", "https://a/x?tags=a,b"),
        (#"<https://a/p>; title="say \"rel=related\", then"; rel=prev, <https://a/r>; rel=related"#, "related", "https://a/r"),
        // Only the first rel counts (RFC 8288 §3.3); blanks around separators are fine.
        ("  <https://a/1> ;\trel = \"related\" ; rel=\"next\" ,<https://a/2>;rel=next", "next", "https://a/2"),
        // A malformed entry is skipped, the next one still read.
        (#"https://bare/url; rel="related", <https://a/ok>; rel="related""#, "related", "https://a/ok"),
    ])
    func findsTheRelation(header: String, rel: String, expected: String) {
        #expect(LinkHeader.target(header, rel: rel) == expected)
    }

    @Test(arguments: [
        nil, "", ",,,", "<https://a/1>; rel=\"relatedness\"", "<https://a/1>; title=\"rel=related\"",
        "<https://a/1", "<https://a/1>; rel=\"related", "<https://a/1>; rel=",
    ])
    func findsNothing(header: String?) {
        #expect(LinkHeader.target(header, rel: "related") == nil)
    }

    /// Random headers built from the syntax's own characters: no crash, no hang, and every target found
    /// is text that stood between '<' and '>' in the input.
    @Test func survivesRandomHeaders() {
        let alphabet = Array(#"<>;,"\= \trelnxtRLhttps:/a"#)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let header = String((0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            for link in LinkHeader.parse(header) {
                #expect(header.contains("<" + link.target + ">"), "\(header)")
            }
        }
    }

    @Test func parsesEveryLinkInOrder() {
        let links = LinkHeader.parse(#"<https://a/1>; rel="prev last", <https://a/2>, <https://a/3>; rel=next"#)
        #expect(links == [.init(target: "https://a/1", relations: ["prev", "last"]),
                          .init(target: "https://a/2", relations: []),
                          .init(target: "https://a/3", relations: ["next"])])
    }
}
