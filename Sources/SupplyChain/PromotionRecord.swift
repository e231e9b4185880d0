import FoundationEssentials
import HTTPTransport
import OCIRegistry

/// What imgpromote says it did, as an in-toto v1 statement about the destination digest.
public struct PromotionRecord: Sendable, Codable, Equatable {
    public static let predicateType = "https://imgpromote.dev/promotion/v1"
    public static let statementType = "https://in-toto.io/Statement/v1"

    public struct Subject: Sendable, Codable, Equatable {
        public var name: String
        public var digest: [String: String]
    }
    public struct Side: Sendable, Codable, Equatable {
        /// `host/repo:tag` or `host/repo@digest`, as given.
        public var reference: String
        public var digest: String
        /// The OpenShift user imgpromote acted as on this side, when it logged in to a cluster.
        public var user: String?
        /// The cluster's API server, when the side is a cluster.
        public var cluster: String?
        public init(reference: String, digest: String, user: String? = nil, cluster: String? = nil) {
            self.reference = reference
            self.digest = digest
            self.user = user
            self.cluster = cluster
        }
    }
    public struct Tool: Sendable, Codable, Equatable {
        public var name: String
        public var version: String
    }
    /// The CI run (Jenkins' variables) when present.
    public struct Run: Sendable, Codable, Equatable {
        public var buildURL: String?
        public var jobName: String?
        public var buildNumber: String?
    }
    public struct Predicate: Sendable, Codable, Equatable {
        public var source: Side
        public var destination: Side
        /// RFC 3339, UTC.
        public var promotedAt: String
        public var tool: Tool
        public var run: Run?
    }

    public var _type: String
    public var subject: [Subject]
    public var predicateType: String
    public var predicate: Predicate

    public init(source: Side, destination: Side, destinationName: String, promotedAt: Date = Date(),
                toolVersion: String, environment: [String: String]) {
        _type = Self.statementType
        let hex = destination.digest.hasPrefix("sha256:") ? String(destination.digest.dropFirst(7)) : destination.digest
        subject = [Subject(name: destinationName, digest: ["sha256": hex])]
        predicateType = Self.predicateType
        func env(_ k: String) -> String? { environment[k].flatMap { $0.isEmpty ? nil : $0 } }
        let run = Run(buildURL: env("BUILD_URL"), jobName: env("JOB_NAME"), buildNumber: env("BUILD_NUMBER"))
        predicate = Predicate(source: source, destination: destination, promotedAt: Self.rfc3339(promotedAt),
                              tool: Tool(name: "imgpromote", version: toolVersion),
                              run: run == Run(buildURL: nil, jobName: nil, buildNumber: nil) ? nil : run)
    }

    static func rfc3339(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    public func statementBytes() throws -> [UInt8] { Array(try JSONEncoder.sorted.encode(self)) }

    /// The DSSE envelope: signed by `key` when given, else with no signatures (a plain statement).
    public func envelope(signedBy key: PrivateKey?) throws -> DSSEEnvelope {
        let payload = try statementBytes()
        if let key { return try DSSEEnvelope.signed(payloadType: DSSEEnvelope.inTotoPayloadType, payload: payload, key: key) }
        return DSSEEnvelope(payloadType: DSSEEnvelope.inTotoPayloadType, payload: payload)
    }

    /// Reads a record back out of an envelope (nil when it is another kind of attestation).
    public static func from(_ envelope: DSSEEnvelope) -> PromotionRecord? {
        guard envelope.payloadType == DSSEEnvelope.inTotoPayloadType, let body = envelope.payloadBytes,
              let r = try? JSONDecoder().decode(PromotionRecord.self, from: Data(body)), r.predicateType == predicateType else { return nil }
        return r
    }
}

/// Attaches a record to a digest the way cosign stores attestations: a layer of media type
/// `application/vnd.dsse.envelope.v1+json` (annotated with its predicate type) in the `sha256-HEX.att`
/// manifest, appended to whatever attestations are already there.
public struct RecordWriter: Sendable {
    public let destination: PromotionSide

    public init(destination: PromotionSide) { self.destination = destination }

    public func attach(_ envelope: DSSEEnvelope, predicateType: String, to digest: String) async throws {
        let bytes = try envelope.encoded()
        var layer = try await destination.client.pushBlob(repository: destination.repository, bytes: bytes,
                                                          mediaType: Cosign.dsseMediaType)
        layer.annotations = [Cosign.predicateTypeAnnotation: predicateType]
        try await CosignTagWriter(side: destination).append([layer], tag: Cosign.tag(for: digest, .attestation))
    }
}

#if canImport(Glibc)
import Glibc
#endif
