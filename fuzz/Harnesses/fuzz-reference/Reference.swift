import FuzzSupport
import OCIRegistry

/// ImageReference.parse: never crashes; whatever it accepts renders to a canonical form that parses
/// back to the same reference (the promotion plan prints references and users paste them back).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = text(data, size)
    guard let ref = try? ImageReference.parse(input) else { return 0 }
    let canonical = ref.description
    // Known and accepted (ReferenceTests.parsesValid makes the same exception): a single-label host
    // recognised only by its upper case ("Host/repo") is stored lower-cased, so its rendering reads
    // as a path on the default registry. Every other accepted reference must round-trip.
    if let host = ref.registry, !host.contains("."), !host.contains(":"), !host.hasPrefix("["), host != "localhost" {
        return 0
    }
    guard let again = try? ImageReference.parse(canonical) else {
        check(false, "accepted \(input.debugDescription) but not its rendering \(canonical.debugDescription)")
        return 0
    }
    check(again == ref, "\(input.debugDescription) -> \(canonical.debugDescription) parses differently")
    check(ref.repository.utf8.count <= ImageReference.maxNameLength, "over-long name accepted")
    check((ref.tag?.utf8.count ?? 0) <= ImageReference.maxTagLength, "over-long tag accepted")
    if let d = ref.digest { check(ImageReference.isValidDigest(d), "accepted invalid digest \(d)") }
    _ = ref.withDefaultRegistry().description
    _ = ref.apiHost
    _ = ref.identifier
    return 0
}
