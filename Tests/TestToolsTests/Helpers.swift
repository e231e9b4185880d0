import HTTPTransport
import TestSupport

func randomBytes(_ n: Int, seed: UInt64 = 7) -> [UInt8] { RandomBlob(seed: seed, size: Int64(n)).allBytes }

func elapsedSeconds(since start: UInt64) -> Double { Double(monotonicNanos() - start) / 1e9 }

/// One engine thread for the tests that probe the tools over HTTP.
let sharedTestClient = HTTPClient()
