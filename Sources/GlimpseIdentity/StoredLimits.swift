import GlimpseCore
import Synchronization

/// The limits of the image service's projects as the built-in identity keeps them.
///
/// Every image created or uploaded asks for its project's limits, so the answers are kept
/// for `cacheTime` seconds rather than read from the database each time. A limit changed
/// through this process applies at once (`KeystoneService` calls `invalidate`); one changed
/// through another server on the same database, within `cacheTime`.
public final class StoredLimits: LimitsSource {
    let store: any IdentityStore
    let serviceId: String
    let regionId: String?
    let cacheTime: Duration
    private let cache = Mutex(Cache())
    struct Cache {
        /// Each project's effective limits, with when they were read.
        var entries: [String: (limits: [String: Int], readAt: ContinuousClock.Instant)] = [:]
        /// Bumped by `invalidate`: a read that began before is not kept.
        var generation = 0
    }
    /// Past this many projects, the expired entries go (all of them, if none has expired).
    static let maxCachedProjects = 10_000

    /// - Parameters:
    ///   - serviceId: the image service's id in the catalog.
    ///   - regionId: its region; limits of other regions do not apply, those without one do.
    ///   - cacheTime: how long limits read are used before they are read again.
    public init(store: any IdentityStore, serviceId: String, regionId: String?, cacheTime: Duration = .seconds(5)) {
        self.store = store
        self.serviceId = serviceId
        self.regionId = regionId
        self.cacheTime = cacheTime
    }

    public func limits(for project: String) async throws -> [String: Int] {
        let now = ContinuousClock.now
        let (cached, generation) = cache.withLock { ($0.entries[project], $0.generation) }
        if let cached, now - cached.readAt < cacheTime { return cached.limits }
        let limits = UnifiedLimits.effective(
            registered: try await store.registeredLimits(serviceId: serviceId, regionId: nil, resourceName: nil),
            project: try await store.projectLimits(
                projectId: project, serviceId: serviceId, regionId: nil, resourceName: nil),
            region: regionId)
        cache.withLock { cache in
            guard cache.generation == generation else { return }
            if cache.entries.count >= Self.maxCachedProjects {
                cache.entries = cache.entries.filter { now - $0.value.readAt < cacheTime }
                if cache.entries.count >= Self.maxCachedProjects { cache.entries.removeAll() }
            }
            cache.entries[project] = (limits, now)
        }
        return limits
    }

    /// Forgets every limit read: the next request reads them again.
    public func invalidate() {
        cache.withLock {
            $0.entries.removeAll()
            $0.generation += 1
        }
    }
}
