import FoundationEssentials
import Promotion
import Release
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
        var attachments: AttachmentCounts?
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
                  attachments: r.report?.attachments, seconds: r.seconds, error: failure(r))
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
enum ReleaseJUnit {
    static func render(_ results: [ReleaseImageResult], suite: String) -> String {
        let cases = results.map { r -> JUnitReport.Case in
            let outcome: JUnitReport.Case.Outcome
            switch r.status {
            case .failed:
                let f = ReleaseJSON.failure(r)
                outcome = .failed(type: f?.class ?? "other", message: "exit status \(f?.exitCode ?? 1): \(f?.message ?? "failed")")
            case .cancelled:
                outcome = .skipped(message: "cancelled by --fail-fast")
            case .promoted, .present, .planned:
                let what = r.status == .present ? "already present" : r.status.rawValue
                let tags = r.image.tags.isEmpty ? "" : " tags \(r.image.tags.joined(separator: ","))"
                outcome = .passed(output: "\(what): \(r.image.destinationRepository)@\(r.resolved?.digest ?? "")\(tags)")
            }
            return JUnitReport.Case(classname: "imgpromote.\(r.image.destinationRepository)", name: r.image.name,
                                    seconds: r.seconds, outcome: outcome)
        }
        return JUnitReport.render(cases, suite: "imgpromote \(suite)")
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
