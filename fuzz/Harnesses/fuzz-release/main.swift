import FuzzSupport
import Release

/// ReleaseFile.parse (promotion files through libyaml and the YAML module, or `oc image mirror`
/// mapping files) and LockFile.decode on untrusted text. Properties: errors name a line inside the
/// file; entries name lines inside the file; a lock that decodes re-encodes to one that decodes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = text(data, size)
    // Upper bound on line numbers: mapping files break at "\n" only, YAML (libyaml) also at a lone
    // "\r", NEL, U+2028 and U+2029.
    let lines = 1 + input.unicodeScalars.filter { ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains($0) }.count
    do {
        let file = try ReleaseFile.parse(input)
        for entry in file.entries {
            check(entry.line >= 1 && entry.line <= lines, "entry line \(entry.line) outside 1...\(lines)")
            _ = entry.source.description
            _ = entry.destination.description
        }
    } catch {
        check(error.line >= 0 && error.line <= lines + 1, "error line \(error.line) outside 0...\(lines + 1)")
        _ = error.description
    }
    if let lock = try? LockFile.decode(bytes(data, size)) {
        do {
            let again = try LockFile.decode(try lock.encoded())
            check(again.images.count == lock.images.count, "re-encoded lock lost images")
        } catch {
            die("a decoded lock does not re-encode to a valid lock: \(error)")
        }
    }
    return 0
}
