/// The per-project quotas Glance enforces from Keystone's unified limits
/// (`use_keystone_limits`), under the resource names it registers them with.
public enum ImageQuota: String, CaseIterable, Sendable {
    /// MiB of image data stored (staged data aside).
    case imageSizeTotal = "image_size_total"
    /// MiB of data staged for import.
    case imageStageTotal = "image_stage_total"
    /// Images not deleted.
    case imageCountTotal = "image_count_total"
    /// Images being uploaded, staged or imported.
    case imageCountUploading = "image_count_uploading"

    /// The project's use of this resource, in its unit (sizes in whole MiB, as Glance counts).
    public func usage(_ u: ImageUsage) -> Int {
        switch self {
        case .imageSizeTotal: (u.bytes - u.staged) >> 20
        case .imageStageTotal: u.staged >> 20
        case .imageCountTotal: u.images
        case .imageCountUploading: u.uploading
        }
    }
}

/// A project's limit (-1: none) and use of one resource, as `/v2/info/usage` reports them.
public struct QuotaUsage: Sendable, Equatable {
    public var limit: Int
    public var usage: Int

    public init(limit: Int, usage: Int) {
        self.limit = limit
        self.usage = usage
    }
}

extension ImageService {
    /// 413 with oslo.limit's message when `project`'s use of a resource plus its delta would
    /// pass the resource's limit (a limit of -1, or none, is no limit). Glance checks the
    /// caller's project, and only the resources of the operation at hand.
    func enforce(_ deltas: [(ImageQuota, Int)], project: String?) async throws {
        if let overLimit = try await limitPassed(deltas, project: project) { throw overLimit }
    }

    /// The 413 `enforce` throws, or nil when no limit is passed.
    /// - Parameter uncounted: uploads in progress the store does not count yet, added to the
    ///   use of `image_count_uploading`.
    func limitPassed(
        _ deltas: [(ImageQuota, Int)], project: String?, uncounted: Int = 0
    ) async throws -> ServiceError? {
        guard let project else { return nil }
        let limits = try await self.limits.limits(for: project)
        let limited = deltas.compactMap { q, delta in limits[q.rawValue].map { (q, delta, $0) } }.filter { $0.2 >= 0 }
        guard !limited.isEmpty else { return nil }
        let usage = try await store.usage(owner: project)
        let over = limited.map { q, delta, limit in
            (q, limit: limit, usage: q.usage(usage) + (q == .imageCountUploading ? uncounted : 0), delta: delta)
        }.filter { $0.usage + $0.delta > $0.limit }
        return over.isEmpty ? nil : Self.overLimit(project, over)
    }

    /// oslo.limit's `ProjectOverLimit`, as Glance answers it (413).
    static func overLimit(_ project: String, _ over: [(ImageQuota, limit: Int, usage: Int, delta: Int)]) -> ServiceError
    {
        let items = over.map {
            "Resource \($0.0.rawValue) is over limit of \($0.limit) due to current usage \($0.usage) and delta \($0.delta)"
        }
        return .tooLarge("Project \(project) is over a limit for [\(items.joined(separator: ", "))]")
    }

    /// `/v2/info/usage`: each quota's limit (-1 when none is set) and the project's use of it.
    public func quotaUsage(of project: String) async throws -> [ImageQuota: QuotaUsage] {
        let limits = try await self.limits.limits(for: project)
        let usage = try await store.usage(owner: project)
        var out: [ImageQuota: QuotaUsage] = [:]
        for q in ImageQuota.allCases {
            var limit = limits[q.rawValue] ?? -1
            // Without a limit of its own, the storage quota shows `user_storage_quota`, as before.
            if limit < 0, q == .imageSizeTotal, config.userStorageQuota > 0 {
                limit = (config.userStorageQuota + (1 << 20) - 1) >> 20
            }
            out[q] = QuotaUsage(limit: limit, usage: q.usage(usage))
        }
        return out
    }
}
