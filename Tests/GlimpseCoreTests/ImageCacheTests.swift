import GlimpseCore
import GlimpseMemoryStores
import GlimpseTestSupport
import Logging
import NIOCore
import OpenStackEncoding
import Synchronization
import Testing

/// An image cache index kept in memory.
final class MemoryJournal: ImageCacheJournal {
    let text = Mutex<String?>(nil)
    func read() async throws -> String? { text.withLock { $0 } }
    func write(_ text: String) async throws { self.text.withLock { $0 = text } }
}

/// The image service over a "remote" store (in memory) with an image cache whose files are
/// in another memory store.
struct CacheFixture {
    let base: ServiceFixture
    let files = MemoryBlobStore(id: "cache")
    let journal: MemoryJournal
    let cache: ImageCache
    let service: ImageService
    var admin: Principal { base.admin }

    init(maxSize: Int = 1 << 20, journal: MemoryJournal = MemoryJournal()) async throws {
        base = try ServiceFixture()
        self.journal = journal
        cache = ImageCache(
            files: files, journal: journal, maxSize: maxSize, clock: base.clock, hashing: ServiceFixture.pool,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await cache.open()
        service = ImageService(
            store: base.store, blobs: try BlobStores([base.blobs]), clock: base.clock, hashing: ServiceFixture.pool,
            cache: cache, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    /// An active image with `bytes` as its data.
    func image(_ bytes: [UInt8]) async throws -> Image {
        let image = try await service.create(["disk_format": "raw", "container_format": "bare"], by: admin)
        try await service.upload(
            image.id, body: [ByteBuffer(bytes: bytes)].async, declaredSize: bytes.count, by: admin)
        return try #require(try await base.store.image(id: image.id))
    }

    /// Reads all of an image's data as a download does.
    func download(_ id: String) async throws -> [UInt8] {
        let source = try #require(try await service.data(id, by: admin))
        var out: [UInt8] = []
        for try await chunk in try await source.open() { out += chunk.readableBytesView }
        return out
    }

    /// The objects of the cache's file store: committed and pending.
    func storedFiles() async throws -> [StoredBlob] { try await files.inventory(after: nil, limit: 100) }
}

@Suite("Image cache")
struct ImageCacheTests {
    @Test("a whole download fills the cache; the next one is served from it, not the store")
    func fillThenHit() async throws {
        let f = try await CacheFixture()
        let bytes = testBytes(300_000)
        let image = try await f.image(bytes)
        #expect(try await f.download(image.id) == bytes)
        let state = await f.cache.state()
        #expect(state.cached.map(\.imageId) == [image.id])
        #expect(state.cached.first?.size == bytes.count && state.cached.first?.hits == 0)
        // The store loses the data: only the cache can serve it now.
        for location in image.locations { try await f.base.blobs.delete(location: location.location) }
        #expect(try await f.download(image.id) == bytes)
        #expect(await f.cache.state().cached.first?.hits == 1)
        // Ranges come from the cached data too.
        let source = try #require(try await f.service.data(image.id, by: f.admin))
        var part: [UInt8] = []
        for try await chunk in try await source.open(range: 1000...1999) { part += chunk.readableBytesView }
        #expect(part == Array(bytes[1000...1999]))
    }

    @Test("a download that stops early, or whose data does not match the image, leaves nothing")
    func partialLeavesNothing() async throws {
        let f = try await CacheFixture(maxSize: 8 << 20)
        // A record whose checksum is not the data's: the data read is not cached.
        let mismatched = try await f.image(testBytes(1000))
        var wrong = mismatched
        wrong.checksum = String(repeating: "0", count: 32)
        try #require(try await f.base.store.updateImage(wrong) != nil)
        _ = try await f.download(mismatched.id)
        #expect(await f.cache.state().cached.isEmpty)
        #expect(try await f.storedFiles().isEmpty)

        let image = try await f.image(testBytes(3 << 20))
        let source = try #require(try await f.service.data(image.id, by: f.admin))
        let stream = try await source.open()
        var iterator = stream.makeAsyncIterator()
        _ = try await iterator.next()
        #expect(try await f.storedFiles().map(\.pending) == [true])
        stream.cancel()
        for _ in 0..<200 where !(try await f.storedFiles().isEmpty) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await f.storedFiles().isEmpty)
        #expect(await f.cache.state().cached.isEmpty)
    }

    @Test("past image_cache_max_size the least recently used images go first")
    func leastRecentlyUsedGoesFirst() async throws {
        let f = try await CacheFixture(maxSize: 250_000)
        let a = try await f.image(testBytes(100_000, seed: 1))
        let b = try await f.image(testBytes(100_000, seed: 2))
        let c = try await f.image(testBytes(100_000, seed: 3))
        _ = try await f.download(a.id)
        f.base.clock.advance(seconds: 1)
        _ = try await f.download(b.id)
        f.base.clock.advance(seconds: 1)
        _ = try await f.download(a.id)  // a hit: a is now the more recently used
        f.base.clock.advance(seconds: 1)
        _ = try await f.download(c.id)
        let cached = await f.cache.state().cached.map(\.imageId)
        #expect(Set(cached) == [a.id, c.id])
        #expect(try await f.storedFiles().count == 2)
        // An image larger than the whole cache is never cached.
        let big = try await f.image(testBytes(300_000, seed: 4))
        _ = try await f.download(big.id)
        #expect(await !f.cache.isCached(big.id))
    }

    @Test("deleting or deactivating an image, or a change of its data, drops its entry")
    func invalidation() async throws {
        let f = try await CacheFixture()
        let deleted = try await f.image(testBytes(1000, seed: 1))
        let deactivated = try await f.image(testBytes(1000, seed: 2))
        let changed = try await f.image(testBytes(1000, seed: 3))
        for id in [deleted.id, deactivated.id, changed.id] { _ = try await f.download(id) }
        #expect(await f.cache.state().cached.count == 3)
        try await f.service.delete(deleted.id, by: f.admin)
        try await f.service.deactivate(deactivated.id, by: f.admin)
        #expect(Set(await f.cache.state().cached.map(\.imageId)) == [changed.id])
        // Another node changed the record: the next read drops the entry and uses the store.
        var other = try #require(try await f.base.store.image(id: changed.id))
        other.osHashValue = String(repeating: "a", count: 128)
        try #require(try await f.base.store.updateImage(other) != nil)
        let source = try #require(try await f.service.data(changed.id, by: f.admin))
        #expect(await source.openFile() == nil)
        _ = try await source.open(range: 0...9)
        #expect(await f.cache.state().cached.isEmpty)
        #expect(try await f.storedFiles().isEmpty)
    }

    @Test("entries for images changed elsewhere are found by the check against the catalog")
    func reconcile() async throws {
        let f = try await CacheFixture()
        let kept = try await f.image(testBytes(1000, seed: 1))
        let gone = try await f.image(testBytes(1000, seed: 2))
        for id in [kept.id, gone.id] { _ = try await f.download(id) }
        #expect(try await f.base.store.markDeleted(id: gone.id, at: f.base.clock.now()))
        #expect(try await f.service.reconcileCache() == 1)
        #expect(await f.cache.state().cached.map(\.imageId) == [kept.id])
    }

    @Test("the prefetcher caches queued images and drops those that are not active")
    func prefetch() async throws {
        let f = try await CacheFixture()
        let image = try await f.image(testBytes(50_000))
        let queued = try await f.service.create(["disk_format": "raw", "container_format": "bare"], by: f.admin)
        try await f.service.queueForCache(image.id, by: f.admin)
        await f.cache.prefetchIdle()
        #expect(await f.cache.state().cached.map(\.imageId) == [image.id])
        #expect(await f.cache.state().queued.isEmpty)
        // Queued directly (the API refuses a queued image): the prefetcher drops it.
        await f.cache.enqueue(queued.id)
        await f.service.prefetchQueued()
        #expect(await f.cache.state().queued.isEmpty)
    }

    @Test("the index survives a restart; data no entry names is removed at start")
    func restart() async throws {
        let journal = MemoryJournal()
        let f = try await CacheFixture(journal: journal)
        let image = try await f.image(testBytes(2000))
        _ = try await f.download(image.id)
        _ = try await f.download(image.id)
        await f.cache.enqueue("b0b0b0b0-0000-0000-0000-000000000000")
        await f.cache.flush()

        let again = ImageCache(
            files: f.files, journal: journal, maxSize: 1 << 20, hashing: ServiceFixture.pool,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let stray = try await f.files.makeWriter(imageId: "stray")
        try await stray.write(ByteBuffer(bytes: [1, 2, 3]))
        _ = try await stray.commit()
        _ = try await f.files.makeWriter(imageId: "unfinished")
        try await again.open()
        let state = await again.state()
        #expect(state.cached.map(\.imageId) == [image.id] && state.cached.first?.hits == 1)
        #expect(state.queued == ["b0b0b0b0-0000-0000-0000-000000000000"])
        #expect(try await f.storedFiles().map(\.location) == state.cached.map(\.location))
    }

    @Test("the cache API: admins only, Glance's errors, and a clear of the cache, the queue or both")
    func api() async throws {
        let f = try await CacheFixture()
        let member = Principal(userId: "u2", projectId: "p1", roles: ["member", "reader"])
        let image = try await f.image(testBytes(1000))
        await #expect(throws: ServiceError(.forbidden)) { try await f.service.cacheState(by: member) }
        await #expect(throws: ServiceError(.forbidden)) { try await f.service.queueForCache(image.id, by: member) }
        let missing = "00000000-0000-0000-0000-000000000000"
        await #expect(throws: ServiceError.notFound("Image \(missing) not found.")) {
            try await f.service.queueForCache(missing, by: f.admin)
        }
        await #expect(throws: ServiceError.notFound("Image \(missing) not found.")) {
            try await f.service.removeFromCache(missing, by: f.admin)
        }
        let queued = try await f.service.create(["disk_format": "raw"], by: f.admin)
        await #expect(throws: ServiceError.badRequest("Only images with status active can be targeted for queueing")) {
            try await f.service.queueForCache(queued.id, by: f.admin)
        }
        #expect(throws: ServiceError.self) { try ImageService.CacheClearTarget(header: "invalid") }

        _ = try await f.download(image.id)
        await f.cache.enqueue(queued.id)
        try await f.service.clearCache(.queue, by: f.admin)
        var state = await f.cache.state()
        #expect(state.queued.isEmpty && state.cached.count == 1)
        await f.cache.enqueue(queued.id)
        try await f.service.clearCache(.cache, by: f.admin)
        state = await f.cache.state()
        #expect(state.queued == [queued.id] && state.cached.isEmpty)
        _ = try await f.download(image.id)
        try await f.service.clearCache(.both, by: f.admin)
        state = await f.cache.state()
        #expect(state.queued.isEmpty && state.cached.isEmpty)

        // An entry for an image deleted elsewhere can still be removed by id.
        _ = try await f.download(image.id)
        #expect(try await f.base.store.markDeleted(id: image.id, at: f.base.clock.now()))
        try await f.service.removeFromCache(image.id, by: f.admin)
        #expect(await f.cache.state().cached.isEmpty)

        // Without a cache: 404 once the policy passes.
        let plain = try ServiceFixture()
        await #expect(throws: ServiceError.notFound("Caching via API is not supported at this site.")) {
            try await plain.service.cacheState(by: plain.admin)
        }
        await #expect(throws: ServiceError(.forbidden)) { try await plain.service.cacheState(by: member) }
    }
}
