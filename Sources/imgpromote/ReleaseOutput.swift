import FoundationEssentials
import Promotion
#if canImport(Glibc)
import Glibc
#endif

/// `--json`: one object, `images: [...]`, each with `copy`'s fields plus status, tags and error.
enum ReleaseJSON {
    struct Failure: Encodable {
        var exitCode: Int32
        var `class`: String
        var message: String
    }

    struct Image: Encodable {
        var name: String
        var status: String
        var source: PromotionReport.Side?
        var destination: PromotionReport.Side?
        var pinned: String?
        var tags: [String]
        var mediaType: String?
        var platforms: [String]?
        var blobs: PromotionReport.Blobs?
        var bytes: PromotionReport.Bytes?
        var manifests: Int?
        var alreadyPresent: Bool
        var dryRun: Bool?
        var plan: [PromotionReport.PlannedBlob]?
        var seconds: Double
        var error: Failure?
    }

    struct Document: Encodable {
        var images: [Image]
    }

    static func render(_ results: [ReleaseImageResult], destinationHost: String) -> String {
        let images = results.map { r in
            Image(name: r.image.name, status: r.status.rawValue, source: r.report?.source, destination: r.report?.destination,
                  pinned: r.resolved.map { "\(destinationHost)/\(r.image.destinationRepository)@\($0.digest)" },
                  tags: r.image.tags, mediaType: r.report?.mediaType, platforms: r.report?.platforms,
                  blobs: r.report?.blobs, bytes: r.report?.bytes, manifests: r.report?.manifests,
                  alreadyPresent: r.status == .present, dryRun: r.report?.dryRun, plan: r.report?.plan,
                  seconds: r.seconds, error: failure(r))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(Document(images: images))) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func failure(_ r: ReleaseImageResult) -> Failure? {
        guard r.status == .failed || r.status == .cancelled else { return nil }
        guard let error = r.error else {
            return r.status == .cancelled ? Failure(exitCode: 1, class: "other", message: "cancelled by --fail-fast") : nil
        }
        let (code, message) = exitStatus(for: error)
        if r.status == .cancelled { return Failure(exitCode: code, class: "other", message: "cancelled by --fail-fast") }
        return Failure(exitCode: code, class: errorClass(code), message: message)
    }

    /// The contract's class names for the exit table.
    static func errorClass(_ code: Int32) -> String {
        switch code {
        case 2: "usage"
        case 3: "auth"
        case 4: "denied"
        case 5: "notFound"
        case 6: "network"
        case 7: "integrity"
        case 8: "policy"
        default: "other"
        }
    }
}

/// `--junit FILE`: one test case per image, as Jenkins' `junit` step reads it.
enum JUnitReport {
    static func render(_ results: [ReleaseImageResult], suite: String) -> String {
        let failures = results.filter { $0.status == .failed }.count
        let skipped = results.filter { $0.status == .cancelled }.count
        let total = results.reduce(0.0) { $0 + $1.seconds }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites tests=\"\(results.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" time=\"\(total)\">\n"
        xml += "  <testsuite name=\"imgpromote \(escape(suite))\" tests=\"\(results.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" time=\"\(total)\">\n"
        for r in results {
            let name = escape(r.image.name)
            let classname = escape("imgpromote.\(r.image.destinationRepository)")
            xml += "    <testcase classname=\"\(classname)\" name=\"\(name)\" time=\"\(r.seconds)\""
            switch r.status {
            case .failed:
                let f = ReleaseJSON.failure(r)
                xml += ">\n      <failure type=\"\(f?.class ?? "other")\" message=\"\(escape(f?.message ?? "failed"))\">exit status \(f?.exitCode ?? 1): \(escape(f?.message ?? ""))</failure>\n    </testcase>\n"
            case .cancelled:
                xml += ">\n      <skipped message=\"cancelled by --fail-fast\"/>\n    </testcase>\n"
            default:
                let digest = r.resolved?.digest ?? ""
                let what = r.status == .present ? "already present" : r.status.rawValue
                xml += ">\n      <system-out>\(escape("\(what): \(r.image.destinationRepository)@\(digest) tags \(r.image.tags.joined(separator: ","))"))</system-out>\n    </testcase>\n"
            }
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    /// XML text and attribute escaping; control characters (not allowed in XML 1.0) become spaces.
    static func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t": out.unicodeScalars.append(u)
            default:
                if u.value < 0x20 || u.value == 0xFFFE || u.value == 0xFFFF { out += " " } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }
}

/// Writes a whole file (lock, JUnit report) through a temporary file and a rename: a reader never
/// sees half of it.
func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    let temp = path + ".tmp-\(getpid())"
    let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, mode)
    guard fd >= 0 else { throw CLIError(message: "cannot write \(path): \(String(cString: strerror(errno)))", exitCode: 1) }
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            unlink(temp)
            throw CLIError(message: "cannot write \(path): \(reason)", exitCode: 1)
        }
        offset += n
    }
    guard close(fd) == 0, rename(temp, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temp)
        throw CLIError(message: "cannot write \(path): \(reason)", exitCode: 1)
    }
}
