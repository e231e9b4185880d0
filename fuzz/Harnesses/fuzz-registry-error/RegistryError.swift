import FuzzSupport
import OCIRegistry

/// RegistryErrorResponse.decode: any body (JSON, HTML, text, binary) from a registry, proxy or load
/// balancer must decode without crashing to a short, single-line, control-character-free summary.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let r = RegistryErrorResponse.decode(status: 400 + size % 200, body: bytes(data, size))
    let summary = r.summary
    check(!summary.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "control character in \(summary.debugDescription)")
    if let m = r.message {
        check(m.unicodeScalars.count <= 201, "message longer than the documented limit: \(m.unicodeScalars.count)")
    }
    for e in r.errors {
        check(e.code.unicodeScalars.count <= 65 && e.message.unicodeScalars.count <= 201, "error entry not cut")
    }
    _ = r.codes
    return 0
}
