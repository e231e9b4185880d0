import CCurl

/// GET → upload through a bounded ring, driven by pause/unpause on the engine thread.
///
/// Traps handled (see the design notes): an unpause or handle add is progress, so the loop must not
/// sleep afterwards (a paused transfer has no socket in the epoll set: the loop runs
/// `curl_multi_socket_action(CURL_SOCKET_TIMEOUT)` first); an upload failing while the GET is paused
/// must end the GET too; an empty body never calls the write callback, so the upload also starts
/// when the GET completes.
///
/// The loop services an operation only when it asked (`changed()`): from the callbacks when a paused
/// side can move again, a failure was found or progress is due; on a handover wake while the upload
/// is pending; when its resume timer is due. `service` reports whether anything moved (unpause,
/// handle add), and the loop then runs curl's timeout action before sleeping.
final class BlobOperation: Operation {
    let id: UInt64
    let transfer: BlobTransfer
    private unowned let loop: EngineLoop
    /// Listed in the loop's to-service list.
    var queued = false
    private var continuation: CheckedContinuation<BlobTransferOutcome, any Error>?
    private let ring: ByteRing
    private let hasher = SHA256()

    private var source: Easy?
    private var destination: Easy?
    /// The upload request: known from the start, or handed over later (`PendingUpload`).
    private var upload: HTTPRequest?
    /// Bytes are kept for an upload (now or later), not only hashed.
    private let keeps: Bool
    private var destinationStarted = false
    private var sourceOK = false            // final 2xx headers of the current source GET seen
    private var sourceDone = false          // source finished and all bytes are in
    private var verified = false
    private var failure: TransportError?

    private var received: Int64 = 0         // bytes hashed (and queued for upload)
    private var skip: Int64 = 0             // bytes to drop when a resume answered 200 instead of 206
    private var resumes = 0
    private var resumeAt: UInt64?
    private var getPaused = false
    private var putPaused = false
    private var reported: Int64 = -1

    init(id: UInt64, transfer: BlobTransfer, continuation: CheckedContinuation<BlobTransferOutcome, any Error>,
         pipeBytes: Int, loop: EngineLoop) {
        self.id = id
        self.loop = loop
        self.transfer = transfer
        self.continuation = continuation
        ring = ByteRing(capacity: max(pipeBytes, 64 << 10))
        upload = transfer.destination
        keeps = transfer.destination != nil || transfer.pendingDestination != nil
    }

    private var host: String { Easy.hostOf(transfer.source.url) }

    func begin(loop: EngineLoop) {
        if upload == nil && transfer.pendingDestination != nil { loop.setAwaitingUpload(self, true) }
        startSource(loop: loop)
    }

    /// Ask the loop for a `service` call before it sleeps.
    private func changed() { loop.needsService(self) }

    /// Free ring space at which a paused GET is resumed.
    private var unpauseFree: Int { max(ring.capacity / 4, 32 << 10) }

    private func startSource(loop: EngineLoop) {
        var request = transfer.source
        request.followRedirects = true
        if received > 0 { request.headers.set("Range", "bytes=\(received)-") }
        do {
            let e = try Easy(request: request, role: .source, op: self, configuration: loop.engine.configuration)
            source = e
            sourceOK = false
            loop.add(e)
        } catch {
            fail(error, loop: loop)
        }
    }

    private func startDestination(loop: EngineLoop) {
        guard var request = upload else { return }
        destinationStarted = true
        // The upload idles whenever the source stalls; it must outlive the source's stall detection
        // plus a resume, or a stalled GET would take the whole upload down with it.
        let sourceStall = transfer.source.timeouts.lowSpeedSeconds
        request.timeouts.lowSpeedSeconds = max(request.timeouts.lowSpeedSeconds, 2 * sourceStall + 10)
        do {
            let size = transfer.expectedSize
            let e = try Easy(request: request, role: .destination, op: self, configuration: loop.engine.configuration,
                             streamedUploadSize: size)
            destination = e
            loop.add(e)
        } catch {
            fail(error, loop: loop)
        }
    }

    // MARK: called from callbacks (engine thread)

    func headersComplete(_ easy: Easy) {
        guard easy === source, (200..<300).contains(easy.status) else { return }
        if received > 0 {
            if easy.status == 206 {
                // Content-Range: bytes START-END/TOTAL must start where we stopped.
                let range = easy.headers["Content-Range"] ?? ""
                let start = range.split(separator: " ").dropFirst().first?.split(separator: "-").first.flatMap { Int64($0) }
                if start != received {
                    failure = TransportError(kind: .connectionLost, message: "resume answered an unexpected range '\(range)'", host: host)
                    changed()
                    return
                }
            } else {
                skip = received   // the server ignored Range: drop what we already have
            }
        } else if let size = transfer.expectedSize, let length = easy.headers["Content-Length"].flatMap({ Int64($0) }),
                  easy.status == 200, length != size {
            failure = TransportError(kind: .sizeMismatch,
                                     message: "source announced \(length) bytes, the manifest says \(size)", host: host)
            changed()
            return
        }
        sourceOK = true
        if !destinationStarted && upload != nil { changed() }
    }

    func sourceData(_ ptr: UnsafeRawPointer, _ count: Int) -> Int {
        if failure != nil { return 0 }
        var p = ptr
        var n = count
        if skip > 0 {
            let drop = Int(min(skip, Int64(n)))
            skip -= Int64(drop)
            p += drop
            n -= drop
            if n == 0 { return count }
        }
        if let size = transfer.expectedSize, received + Int64(n) > size {
            failure = TransportError(kind: .sizeMismatch, message: "source sent more than the \(size) bytes the manifest says", host: host)
            changed()
            return 0
        }
        let keep = keeps   // verify-only: hash and drop, nothing drains a ring
        if keep && n > ring.free {
            if skip == 0 && n == count {
                getPaused = true
                return Int(CCURL_WRITEFUNC_PAUSE)
            }
            // Part of this chunk was skipped already; cannot pause mid-chunk, so this cannot happen
            // with a ring larger than curl's 16 KiB write size.
            failure = TransportError(kind: .other, message: "pipe overflow", host: host)
            changed()
            return 0
        }
        if keep { ring.write(p, n) }
        hasher.update(p, count: n)
        received += Int64(n)
        if let size = transfer.expectedSize, received == size { verify() }
        if (putPaused && ring.count > 1) || transfer.progress != nil { changed() }
        return count
    }

    func destinationRead(_ ptr: UnsafeMutableRawPointer, _ max: Int) -> Int {
        if failure != nil { return Int(CCURL_READFUNC_ABORT) }
        // Hold the last byte back until the digest is verified: the registry cannot commit a blob
        // whose body never ended.
        let available = verified ? ring.count : ring.count - 1
        if available <= 0 {
            if verified && ring.count == 0 { return 0 }
            putPaused = true
            return Int(CCURL_READFUNC_PAUSE)
        }
        let n = ring.read(into: ptr, max: min(available, max))
        if getPaused && ring.free >= unpauseFree { changed() }
        return n
    }

    private func verify() {
        let digest = "sha256:" + SHA256.hex(hasher.finalize())
        if digest == transfer.expectedDigest {
            verified = true
        } else {
            failure = TransportError(kind: .digestMismatch,
                                     message: "blob content hashes to \(digest), expected \(transfer.expectedDigest)", host: host)
        }
        changed()   // a paused upload may now send its last byte, or must fail
    }

    // MARK: loop

    func wakeAfterMillis() -> Int? {
        guard let at = resumeAt else { return nil }
        let now = monotonicNanos()
        return at > now ? Int((at - now) / 1_000_000) + 1 : 0
    }

    func service(loop: EngineLoop) -> Bool {
        guard continuation != nil else { return false }   // already finished
        if let failure {
            fail(failure, loop: loop)
            return true
        }
        var moved = false
        if let at = resumeAt, monotonicNanos() >= at {
            resumeAt = nil
            loop.setTimed(self, false)
            startSource(loop: loop)
            moved = true
        }
        if upload == nil, let pending = transfer.pendingDestination?.take() {
            loop.setAwaitingUpload(self, false)
            switch pending {
            case .success(let request): upload = request
            case .failure(let error):
                fail(error, loop: loop)
                return true
            }
            moved = true
        }
        if (sourceOK || sourceDone) && !destinationStarted && upload != nil {
            startDestination(loop: loop)
            moved = true
        }
        if getPaused && ring.free >= unpauseFree, let s = source {
            getPaused = false
            s.pause(CCURLPAUSE_CONT)   // may call sourceData again right here
            moved = true
        }
        if putPaused, let d = destination, verified || ring.count > 1 {
            putPaused = false
            d.pause(CCURLPAUSE_CONT)
            moved = true
        }
        if received != reported, let progress = transfer.progress {
            reported = received
            progress(received)
        }
        return moved
    }

    func finished(_ easy: Easy, code: CURLcode, loop: EngineLoop) {
        if easy === source {
            sourceFinished(easy, code: code, loop: loop)
        } else if easy === destination {
            destinationFinished(easy, code: code, loop: loop)
        }
    }

    private func sourceFinished(_ easy: Easy, code: CURLcode, loop: EngineLoop) {
        let status = easy.status
        if code == CURLE_OK && !(200..<300).contains(status) {
            // An error answer (404, 401, ...): nothing was uploaded; the caller decodes the body.
            let response = easy.response()
            loop.remove(easy)
            source = nil
            if destinationStarted {
                fail(TransportError(kind: .sourceStatus(status), message: "source answered HTTP \(status) on resume", host: host), loop: loop)
            } else {
                complete(.sourceFailed(response), loop: loop)
            }
            return
        }
        if let failure {
            fail(failure, loop: loop)
            return
        }
        let error = code == CURLE_OK ? nil : easy.error(for: code)
        loop.remove(easy)
        source = nil
        getPaused = false
        let short = transfer.expectedSize.map { received < $0 } ?? false
        if error == nil && !short {
            if !verified { verify() }
            if let failure {
                fail(failure, loop: loop)
                return
            }
            sourceDone = true
            if !keeps {
                complete(.completed(bytes: received, resumes: resumes, destination: nil), loop: loop)
            } else if !destinationStarted {
                startDestination(loop: loop)   // empty body: no data callback ever fired
            }
            return
        }
        // A body that ended cleanly but short (chunked, no length to hold it to) is the server's answer,
        // not a broken connection: retrying cannot help.
        if error == nil {
            fail(TransportError(kind: .sizeMismatch,
                                message: "source sent \(received) bytes, the manifest says \(transfer.expectedSize ?? 0)", host: host),
                 loop: loop)
            return
        }
        // Broken: resume with Range while attempts remain.
        let transient = error.map { $0.isTransient } ?? true
        if transient && resumes < transfer.maxResumes {
            resumes += 1
            resumeAt = monotonicNanos() + UInt64(200_000_000 << (resumes - 1))
            loop.setTimed(self, true)
            return
        }
        fail(error ?? TransportError(kind: .connectionLost,
                                     message: "source ended after \(received) of \(transfer.expectedSize ?? 0) bytes", host: host),
             loop: loop)
    }

    private func destinationFinished(_ easy: Easy, code: CURLcode, loop: EngineLoop) {
        if let failure {
            fail(failure, loop: loop)
            return
        }
        if code != CURLE_OK {
            fail(easy.error(for: code), loop: loop)
            return
        }
        let response = easy.response()
        loop.remove(easy)
        destination = nil
        if (200..<300).contains(response.status) && !verified {
            fail(TransportError(kind: .other, message: "destination accepted an upload before it was complete", host: easy.host), loop: loop)
            return
        }
        complete(.completed(bytes: received, resumes: resumes, destination: response), loop: loop)
    }

    private func complete(_ outcome: BlobTransferOutcome, loop: EngineLoop) {
        loop.remove(source)
        loop.remove(destination)
        source = nil
        destination = nil
        loop.finish(self)
        continuation?.resume(returning: outcome)
        continuation = nil
    }

    func fail(_ error: any Error, loop: EngineLoop) {
        loop.remove(source)
        loop.remove(destination)
        source = nil
        destination = nil
        resumeAt = nil
        loop.finish(self)
        continuation?.resume(throwing: error)
        continuation = nil
    }
}

/// A fixed ring of bytes between the GET's write callback and the upload's read callback.
final class ByteRing {
    let capacity: Int
    private let storage: UnsafeMutableRawPointer
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var free: Int { capacity - count }

    func write(_ src: UnsafeRawPointer, _ n: Int) {
        var tail = (head + count) % capacity
        var done = 0
        while done < n {
            let chunk = min(n - done, capacity - tail)
            (storage + tail).copyMemory(from: src + done, byteCount: chunk)
            done += chunk
            tail = (tail + chunk) % capacity
        }
        count += n
    }

    func read(into dst: UnsafeMutableRawPointer, max: Int) -> Int {
        let n = min(max, count)
        var done = 0
        while done < n {
            let chunk = min(n - done, capacity - head)
            (dst + done).copyMemory(from: storage + head, byteCount: chunk)
            done += chunk
            head = (head + chunk) % capacity
        }
        count -= n
        return n
    }
}
