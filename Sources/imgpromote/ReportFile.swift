import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `--report-file`: the outcome on a channel that text relayed to stderr (exec plugins, registries'
/// messages) cannot reach. Written whole to a temporary name beside the target, then renamed, so a
/// reader sees the complete report or none.
enum ReportFile {
    struct Failure: Encodable {
        struct Detail: Encodable {
            var exitCode: Int32
            var message: String
        }
        var error: Detail
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw failure(path) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let error = failure(path)
                close(fd)
                unlink(temporary)
                throw error
            }
            offset += n
        }
        guard close(fd) == 0, rename(temporary, path) == 0 else {
            let error = failure(path)
            unlink(temporary)
            throw error
        }
    }

    /// Best effort: the failure itself is reported on stderr and in the exit status either way.
    static func writeFailure(_ error: any Error, to path: String) {
        let (code, message) = exitStatus(for: error)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let bytes = try? encoder.encode(Failure(error: .init(exitCode: code, message: message))) else { return }
        do {
            try write(Array(bytes) + [0x0A], to: path)
        } catch {
            printErr("imgpromote: \(error)")
        }
    }

    private static func failure(_ path: String) -> CLIError {
        CLIError(message: "cannot write the report file \(path): \(String(cString: strerror(errno)))", exitCode: 1)
    }
}
