import OpenShiftCredentials

/// The permission preflight of one promotion (`PromotionHooks.preflight`): every cluster side asks its
/// access reviews — pull in the source project, push (and stream creation) in the destination project —
/// in parallel with each other and with the engine's source manifest GET. Reviews are cached per project
/// in each session, so a release calling this per image asks once per project.
func permissionPreflight(source: ResolvedSide, destination: ResolvedSide) -> (@Sendable () async throws -> Void)? {
    var checks: [@Sendable () async throws -> Void] = []
    if let session = source.session, let (namespace, stream) = projectAndStream(source.reference.repository) {
        checks.append { try await session.preflight(namespace: namespace, imageStream: stream, use: .pull) }
    }
    if let session = destination.session, let (namespace, stream) = projectAndStream(destination.reference.repository) {
        let byTag = destination.reference.tag != nil
        let client = destination.client, repository = destination.reference.repository
        checks.append {
            try await session.preflight(namespace: namespace, imageStream: stream, use: .push, byTag: byTag,
                                        streamExists: { try await client.repositoryExists(repository) })
        }
    }
    guard !checks.isEmpty else { return nil }
    let all = checks
    return {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for check in all { group.addTask { try await check() } }
            try await group.waitForAll()
        }
    }
}

/// `PROJECT/NAME` of an integrated-registry repository.
func projectAndStream(_ repository: String) -> (String, String)? {
    let parts = repository.split(separator: "/")
    guard parts.count == 2 else { return nil }
    return (String(parts[0]), String(parts[1]))
}
