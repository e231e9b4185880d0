import FuzzSupport
import OCIRegistry

/// AuthChallenge.parse (`WWW-Authenticate` from an untrusted registry): total, never crashes, and
/// its output is normalised as documented.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let challenges = AuthChallenge.parse(text(data, size))
    check(challenges.count <= size, "more challenges than input bytes")
    for c in challenges {
        check(!c.scheme.isEmpty && c.scheme == c.scheme.lowercased(), "scheme \(c.scheme.debugDescription) not lower-case")
        for key in c.parameters.keys { check(key == key.lowercased(), "parameter key \(key.debugDescription) not lower-case") }
        _ = (c.realm, c.service, c.scope, c.error, c.token68)
    }
    return 0
}
