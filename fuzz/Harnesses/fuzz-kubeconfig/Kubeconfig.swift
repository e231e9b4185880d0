import FuzzSupport
import OpenShiftCredentials

/// Kubeconfig.parse (and through it libyaml, the YAML module and the go-yaml typing of GoYAML)
/// on an untrusted file, then resolve() of the current context and every named context. Parsing and
/// resolving are pure: no file is read, no exec plugin is run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let config: Kubeconfig
    do {
        config = try Kubeconfig.parse(text(data, size), file: "/nonexistent/fuzz/config", displayName: "fuzz")
    } catch {
        _ = error.description
        return 0
    }
    for name in [nil] + config.contexts.keys.sorted().prefix(16).map(Optional.some) {
        do {
            let resolved = try config.resolve(context: name)
            _ = resolved.description
            _ = resolved.user?.description
        } catch {
            _ = error.description
        }
    }
    return 0
}
