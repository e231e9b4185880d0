/// `--shard I/N`: a deterministic slice of a release. The destination repository decides the shard,
/// so every tag of one repository lands in one shard and N shards together are the whole release.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 1-based.
    public var index: Int
    public var count: Int

    public init?(index: Int, count: Int) {
        guard count >= 1, (1...count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// Parses `I/N`.
    public static func parse(_ text: String) -> Shard? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n <= 10_000 else { return nil }
        return Shard(index: i, count: n)
    }

    /// FNV-1a of the repository path: stable across runs, machines and Swift versions (unlike
    /// `hashValue`, which is seeded per process).
    public func contains(destinationRepository: String) -> Bool {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in destinationRepository.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(count)) == index - 1
    }

    public var description: String { "\(index)/\(count)" }
}
