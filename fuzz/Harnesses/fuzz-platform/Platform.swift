import FuzzSupport
import OCIRegistry

/// Platform.parse (`--platform os/arch[/variant]`): never crashes; an accepted platform renders to
/// text that parses back to a platform matching it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = text(data, size)
    guard let p = try? Platform.parse(input) else { return 0 }
    guard let again = try? Platform.parse(p.description) else {
        check(false, "accepted \(input.debugDescription) but not its rendering \(p.description.debugDescription)")
        return 0
    }
    check(again.matches(p) && p.matches(again), "\(input.debugDescription) -> \(p.description) does not round-trip")
    return 0
}
