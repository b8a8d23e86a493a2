import Logging

/// The cache API (`/v2/cache`, API 2.14+) and the cache's background work: the prefetcher
/// and the check of entries against the catalog.
///
/// Glance's order of checks: the image first where one is named (404), then the policy
/// (`cache_list`, `cache_image`, `cache_delete`: admins; 403 with the stock message), then
/// whether this node has a cache at all (404).
extension ImageService {
    /// `GET /v2/cache`: the cached images and the queue.
    public func cacheState(by p: Principal) async throws -> (cached: [CachedImage], queued: [String]) {
        try requireCacheAdmin(.cacheList, p)
        let cache = try enabledCache()
        return await cache.state()
    }

    /// `PUT /v2/cache/{image_id}`: queues an active image for the prefetcher, which starts at once.
    public func queueForCache(_ id: String, by p: Principal) async throws {
        let image = try await visibleImage(id, p, orElse: .notFound("Image \(id) not found."))
        try requireCacheAdmin(.cacheImage, p)
        let cache = try enabledCache()
        guard image.status == .active else {
            throw ServiceError.badRequest("Only images with status active can be targeted for queueing")
        }
        await cache.enqueue(id)
        await cache.startPrefetch { [self] in await prefetchQueued() }
    }

    /// `DELETE /v2/cache/{image_id}`: removes an image from the cache and the queue. An image
    /// that no longer exists can be removed as long as the cache still names it.
    public func removeFromCache(_ id: String, by p: Principal) async throws {
        let image = isUUIDLike(id) ? try await store.image(id: id) : nil
        var visible = false
        if let image { visible = try await isVisible(image, to: p) }
        if !visible {
            guard let cache, await cache.contains(id) else { throw ServiceError.notFound("Image \(id) not found.") }
        }
        try requireCacheAdmin(.cacheDelete, p)
        let cache = try enabledCache()
        await cache.remove(id)
    }

    /// What `DELETE /v2/cache` clears (`x-image-cache-clear-target`).
    public enum CacheClearTarget: Sendable {
        case cache, queue, both

        /// The header's value (absent or empty: both).
        public init(header: String?) throws(ServiceError) {
            switch header?.lowercased() ?? "" {
            case "": self = .both
            case "cache": self = .cache
            case "queue": self = .queue
            default:
                throw .badRequest("If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string.")
            }
        }
    }

    /// `DELETE /v2/cache`: empties the cache, the queue or both.
    public func clearCache(_ target: CacheClearTarget, by p: Principal) async throws {
        try requireCacheAdmin(.cacheClean, p)
        let cache = try enabledCache()
        let counts = await cache.clear(cache: target != .queue, queue: target != .cache)
        logger.info(
            "image cache cleared", metadata: ["cached": "\(counts.cached)", "queued": "\(counts.queued)"])
    }

    /// The cache API's policy check (`cache_list`, `cache_image`, `cache_delete`, `cache_clean`).
    func requireCacheAdmin(_ rule: PolicyRule, _ p: Principal) throws(ServiceError) {
        guard policy.allows(rule, p, .project(p.projectId)) else { throw ServiceError(.forbidden) }
    }

    func enabledCache() throws(ServiceError) -> ImageCache {
        guard let cache else { throw .notFound("Caching via API is not supported at this site.") }
        return cache
    }

    /// The prefetcher: reads each queued image's data from its best copy into the cache,
    /// oldest first. An image that is gone or not active leaves the queue; one whose read
    /// fails stays queued for the next run.
    public func prefetchQueued() async {
        guard let cache else { return }
        for id in await cache.state().queued {
            if Task.isCancelled { return }
            if await cache.isCached(id) {
                await cache.dequeue(id)
                continue
            }
            do {
                guard let image = try await store.image(id: id), image.status == .active, image.hasData else {
                    logger.info("image queued for the cache is not active; dropped", metadata: ["image_id": "\(id)"])
                    await cache.dequeue(id)
                    continue
                }
                guard (image.size ?? 0) <= cache.maxSize else {
                    logger.info(
                        "image queued for the cache is larger than the cache; dropped",
                        metadata: ["image_id": "\(id)", "bytes": "\(image.size ?? 0)", "max": "\(cache.maxSize)"])
                    await cache.dequeue(id)
                    continue
                }
                let (copy, _) = try await dataSource(of: image).openCopy(range: nil)
                // Nil: the image is being cached by a download, which takes it off the queue.
                guard let stream = await cache.fill(image, from: copy) else {
                    copy.cancel()
                    continue
                }
                do {
                    for try await _ in stream { try Task.checkCancellation() }
                } catch {
                    stream.cancel()
                    throw error
                }
            } catch {
                logger.warning(
                    "could not prefetch image data into the cache; it stays queued",
                    metadata: ["image_id": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Removes the cache's entries for images that are gone, not active, or whose data is no
    /// longer what was cached: changes made through other nodes, which this node's cache did
    /// not see. Returns how many went.
    @discardableResult
    public func reconcileCache() async throws -> Int {
        guard let cache else { return 0 }
        var removed = 0
        for entry in await cache.state().cached {
            if let image = try await store.image(id: entry.imageId), entry.holds(image) { continue }
            await cache.remove(entry.imageId)
            removed += 1
        }
        if removed > 0 { logger.info("removed stale image cache entries", metadata: ["entries": "\(removed)"]) }
        return removed
    }
}
