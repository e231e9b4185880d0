import Promotion
#if canImport(Glibc)
import Glibc
#endif

/// Renders promotion events on stderr: a live status line on a terminal, one line per event
/// otherwise (Jenkins logs), nothing with -q.
final class ProgressRenderer: @unchecked Sendable {
    private let live: Bool
    private let quiet: Bool
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var totalBlobs = 0
    private var totalBytes: Int64 = 0
    private var doneBlobs = 0
    private var inFlight: [String: Int64] = [:]
    private var doneBytes: Int64 = 0
    private var lastDraw: UInt64 = 0

    init(quiet: Bool) {
        self.quiet = quiet
        live = isatty(2) == 1
        pthread_mutex_init(lock, nil)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    func handle(_ event: PromotionEvent) {
        guard !quiet else { return }
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        switch event {
        case .resolved(let digest, let mediaType, let platforms):
            line("source \(digest) (\(shortType(mediaType)), \(platforms) platform\(platforms == 1 ? "" : "s"))")
        case .alreadyPresent(let digest):
            line("destination already has \(digest); nothing to do")
        case .planned(let blobs, let bytes):
            totalBlobs = blobs
            totalBytes = bytes
            line("\(blobs) blobs, \(formatBytes(bytes)) in all")
        case .blobStarted(let digest, _):
            inFlight[digest] = 0
        case .blobProgress(let digest, let bytes, _):
            inFlight[digest] = bytes
            if live { draw() }
        case .blobDone(let digest, let size, let action):
            inFlight[digest] = nil
            doneBlobs += 1
            doneBytes += size
            line("blob \(short(digest)) \(action.rawValue) (\(formatBytes(size))) [\(doneBlobs)/\(totalBlobs)]")
        case .manifestPushed(let digest, let reference):
            line("manifest \(short(digest)) pushed as \(reference.hasPrefix("sha256:") ? short(reference) : reference)")
        }
    }

    func finish() {
        guard live, !quiet else { return }
        pthread_mutex_lock(lock)
        writeStderr("\r\u{1B}[K")
        pthread_mutex_unlock(lock)
    }

    private func line(_ text: String) {
        if live { writeStderr("\r\u{1B}[K") }
        writeStderr("imgpromote: \(text)\n")
        if live { draw(force: true) }
    }

    private func draw(force: Bool = false) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
        guard force || now - lastDraw > 100, totalBlobs > 0 else { return }
        lastDraw = now
        let bytes = doneBytes + inFlight.values.reduce(0, +)
        writeStderr("\r\u{1B}[K[\(doneBlobs)/\(totalBlobs) blobs] \(formatBytes(bytes)) / \(formatBytes(totalBytes))")
    }

    private func short(_ digest: String) -> String { String(digest.prefix(19)) }

    private func shortType(_ mediaType: String) -> String {
        if mediaType.contains("index") || mediaType.contains("list") { return "index" }
        return "manifest"
    }
}

func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var i = 0
    while v >= 1024, i < units.count - 1 { v /= 1024; i += 1 }
    if i == 0 { return "\(n) B" }
    let tenths = Int((v * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[i])"
}
