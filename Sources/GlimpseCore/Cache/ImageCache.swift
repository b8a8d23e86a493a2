import Logging
import NIOCore
import NIOPosix
import OpenStackEncoding

/// A node's local cache of image data, as Glance's image cache: a download of an active
/// image that misses writes the data into the cache while it streams to the client; later
/// downloads are served from the local copy. Images can also be queued for the prefetcher.
///
/// Bounded: once an entry is committed (and at start), the least recently used entries are
/// removed until the cache holds at most `maxSize` bytes. An entry serves only the data it
/// was filled with: an image deleted, deactivated or whose data changed loses it. Data goes
/// to a file store (`files`, a directory of this node) whose writes stay pending until
/// committed, so a fill that does not complete leaves nothing behind; the index (entries,
/// hits, last access, queue) is written to `journal` after each change.
public actor ImageCache {
    /// The most bytes the cache keeps after a prune (Glance's `image_cache_max_size`).
    public nonisolated let maxSize: Int
    let files: any BlobStore
    let journal: any ImageCacheJournal
    let clock: any WallClock
    let hashing: NIOThreadPool
    let logger: Logger

    private var cached: [String: CachedImage] = [:]
    private var queued: [QueuedImage] = []
    /// Fills in progress by image id, each with a token: removing an image drops its token,
    /// and a fill whose token is gone discards its data instead of committing it.
    private var filling: [String: Int] = [:]
    private var lastToken = 0
    private var journalDirty = false
    private var journalWriter: Task<Void, Never>?
    private var prefetcher: Task<Void, Never>?
    private var prefetchAgain = false

    public init(
        files: any BlobStore, journal: any ImageCacheJournal, maxSize: Int, clock: any WallClock = SystemClock(),
        hashing: NIOThreadPool, logger: Logger
    ) {
        self.files = files
        self.journal = journal
        self.maxSize = maxSize
        self.clock = clock
        self.hashing = hashing
        self.logger = logger
    }

    /// Loads the index, removes what an earlier process left (data of fills that did not
    /// finish, files the index does not name) and entries whose data is gone, then prunes.
    public func open() async throws {
        if let text = try await journal.read() {
            let index = ImageCacheIndex(decoding: text)
            cached = Dictionary(index.cached.map { ($0.imageId, $0) }, uniquingKeysWith: { $1 })
            queued = index.queued
        }
        let named = Set(cached.values.map(\.location))
        var present = Set<String>()
        var marker: String?
        while true {
            let page = try await files.inventory(after: marker, limit: 500)
            for blob in page {
                if !blob.pending, named.contains(blob.location) {
                    present.insert(blob.location)
                } else {
                    try await files.delete(location: blob.location)
                    logger.info("removed leftover image cache data", metadata: ["location": "\(blob.location)"])
                }
            }
            marker = page.last?.location
            if page.count < 500 { break }
        }
        for entry in cached.values where !present.contains(entry.location) { cached[entry.imageId] = nil }
        await prune()
        changed()
    }

    // MARK: Hits

    /// The entry holding `image`'s current data; an entry for other data is removed.
    private func entry(for image: Image) async -> CachedImage? {
        guard let entry = cached[image.id] else { return nil }
        if entry.holds(image) { return entry }
        await remove(image.id)
        return nil
    }

    private func hit(_ imageId: String) {
        cached[imageId]?.hits += 1
        cached[imageId]?.lastAccessed = clock.now()
        changed()
    }

    /// The cached data of `image` as a local file, to send without copying; nil on a miss.
    /// Counts a hit.
    public func file(of image: Image) async -> (any StoredFile)? {
        guard let entry = await entry(for: image) else { return nil }
        do {
            guard let file = try await files.openFile(location: entry.location) else { return nil }
            guard file.size == entry.size else {
                throw ServiceError.internalError("the cached file has \(file.size) bytes, not \(entry.size)")
            }
            hit(image.id)
            return file
        } catch {
            await drop(image.id, because: error)
            return nil
        }
    }

    /// Streams `range` (or all) of the cached data of `image`; nil on a miss. Counts a hit.
    public func read(_ image: Image, range: ClosedRange<Int>?) async -> ByteStream? {
        guard let entry = await entry(for: image) else { return nil }
        do {
            let stream = try await files.read(location: entry.location, range: range)
            hit(image.id)
            return stream
        } catch {
            await drop(image.id, because: error)
            return nil
        }
    }

    private func drop(_ imageId: String, because error: any Error) async {
        logger.warning(
            "could not read cached image data; removing the entry",
            metadata: ["image_id": "\(imageId)", "error": "\(error)"])
        await remove(imageId)
    }

    // MARK: Fills

    /// `stream` (all of `image`'s data, from its store), whose bytes also fill the cache as
    /// they pass: once the stream has ended with the image's size and hashes, the data is
    /// committed and the cache pruned. A stream that fails or is cancelled first leaves
    /// nothing. Nil when the image is cached or being cached, is not active, is larger than
    /// the cache, or the cache cannot take data now.
    public func fill(_ image: Image, from stream: ByteStream) async -> ByteStream? {
        guard image.status == .active, let size = image.size, size <= maxSize, cached[image.id] == nil,
            filling[image.id] == nil
        else { return nil }
        lastToken += 1
        let token = lastToken
        filling[image.id] = token
        let writer: any BlobWriter
        do {
            writer = try await files.makeWriter(imageId: image.id)
        } catch {
            if filling[image.id] == token { filling[image.id] = nil }
            logger.warning(
                "could not start caching image data", metadata: ["image_id": "\(image.id)", "error": "\(error)"])
            return nil
        }
        let fill = CacheFill(
            image: image, writer: writer, digests: ImageDigests(pool: hashing), cache: self, token: token)
        return ByteStream(
            pull: {
                let chunk: ByteBuffer?
                do {
                    chunk = try await stream.pull()
                } catch {
                    await fill.abandon()
                    throw error
                }
                return await fill.pass(chunk)
            },
            onCancel: {
                stream.cancel()
                Task { await fill.abandon() }
            })
    }

    /// Records the committed data of a fill, unless the image was removed meanwhile.
    func commit(_ image: Image, location: String, token: Int) async {
        guard filling[image.id] == token else {
            try? await files.delete(location: location)
            return
        }
        filling[image.id] = nil
        let now = clock.now()
        cached[image.id] = CachedImage(
            imageId: image.id, location: location, size: image.size ?? 0, checksum: image.checksum,
            hashValue: image.osHashValue, lastAccessed: now, lastModified: now)
        queued.removeAll { $0.imageId == image.id }
        changed()
        logger.info("image data cached", metadata: ["image_id": "\(image.id)", "bytes": "\(image.size ?? 0)"])
        await prune()
    }

    /// A fill ended without data.
    func fillEnded(_ imageId: String, token: Int) {
        if filling[imageId] == token { filling[imageId] = nil }
    }

    // MARK: Bounds and removal

    /// Removes the least recently used entries until the cache holds at most `maxSize`
    /// bytes. Returns how many entries and bytes went.
    @discardableResult
    public func prune() async -> (entries: Int, bytes: Int) {
        var total = cached.values.reduce(0) { $0 + $1.size }
        var pruned = (entries: 0, bytes: 0)
        while total > maxSize,
            let oldest = cached.values.min(by: {
                ($0.lastAccessed, $0.imageId) < ($1.lastAccessed, $1.imageId)
            })
        {
            cached[oldest.imageId] = nil
            total -= oldest.size
            pruned.entries += 1
            pruned.bytes += oldest.size
            await deleteData(of: oldest)
            logger.info("pruned image cache entry", metadata: ["image_id": "\(oldest.imageId)"])
        }
        if pruned.entries > 0 { changed() }
        return pruned
    }

    /// Forgets an image: its cached data, a fill in progress (whose data is discarded) and
    /// its place in the queue.
    public func remove(_ imageId: String) async {
        filling[imageId] = nil
        let wasQueued = queued.contains { $0.imageId == imageId }
        queued.removeAll { $0.imageId == imageId }
        if let entry = cached.removeValue(forKey: imageId) {
            changed()
            await deleteData(of: entry)
        } else if wasQueued {
            changed()
        }
    }

    /// Removes every entry (`cache`) and/or the queue (`queue`); returns how many of each went.
    public func clear(cache: Bool, queue: Bool) async -> (cached: Int, queued: Int) {
        var counts = (cached: 0, queued: 0)
        if queue {
            counts.queued = queued.count
            queued = []
        }
        if cache {
            let entries = Array(cached.values)
            cached = [:]
            filling = [:]
            counts.cached = entries.count
            for entry in entries { await deleteData(of: entry) }
        }
        changed()
        return counts
    }

    private func deleteData(of entry: CachedImage) async {
        do {
            try await files.delete(location: entry.location)
        } catch {
            logger.warning(
                "could not delete cached image data", metadata: ["image_id": "\(entry.imageId)", "error": "\(error)"])
        }
    }

    // MARK: State and queue

    /// The cached images by id, and the queued ones in the order they were queued.
    public func state() -> (cached: [CachedImage], queued: [String]) {
        (cached.values.sorted { $0.imageId < $1.imageId }, queued.map(\.imageId))
    }

    public func isCached(_ imageId: String) -> Bool { cached[imageId] != nil }

    /// Whether the image is cached or queued.
    public func contains(_ imageId: String) -> Bool {
        cached[imageId] != nil || queued.contains { $0.imageId == imageId }
    }

    /// Queues an image for the prefetcher, unless it is cached, being cached or queued.
    public func enqueue(_ imageId: String) {
        guard cached[imageId] == nil, filling[imageId] == nil, !queued.contains(where: { $0.imageId == imageId })
        else { return }
        queued.append(QueuedImage(imageId: imageId, queuedAt: clock.now()))
        changed()
    }

    public func dequeue(_ imageId: String) {
        guard queued.contains(where: { $0.imageId == imageId }) else { return }
        queued.removeAll { $0.imageId == imageId }
        changed()
    }

    /// Runs the prefetcher (`work`) in the background now, or once more after the run in
    /// progress if there is one.
    public func startPrefetch(_ work: @escaping @Sendable () async -> Void) {
        guard prefetcher == nil else {
            prefetchAgain = true
            return
        }
        prefetcher = Task { await self.runPrefetch(work) }
    }

    private func runPrefetch(_ work: @Sendable () async -> Void) async {
        repeat {
            prefetchAgain = false
            await work()
        } while prefetchAgain && !Task.isCancelled
        prefetcher = nil
    }

    /// Returns once the prefetcher is idle (tests).
    public func prefetchIdle() async {
        while let running = prefetcher { await running.value }
    }

    // MARK: Index

    /// Schedules a write of the index; writes coalesce while one is in progress.
    private func changed() {
        journalDirty = true
        if journalWriter == nil { journalWriter = Task { await self.writeJournal() } }
    }

    private func writeJournal() async {
        while journalDirty {
            journalDirty = false
            let text = ImageCacheIndex(cached: Array(cached.values), queued: queued).encoded()
            do {
                try await journal.write(text)
            } catch {
                logger.warning("could not write the image cache index", metadata: ["error": "\(error)"])
            }
        }
        journalWriter = nil
    }

    /// Returns once the index written has every change made so far.
    public func flush() async {
        while let writer = journalWriter { await writer.value }
    }

    /// Stops the prefetcher and writes the index: for shutdown.
    public func close() async {
        prefetcher?.cancel()
        await prefetchIdle()
        await flush()
    }
}

/// The writing side of one fill: each chunk of the stream is hashed and written to the
/// cache's pending data; at the end the size and hashes are checked against the image and
/// the data committed. A failure to write stops the fill, never the stream.
actor CacheFill {
    let image: Image
    private var writer: (any BlobWriter)?
    private var digests: ImageDigests
    private var total = 0
    private let cache: ImageCache
    private let token: Int
    /// A chunk is being written (an abandon waits for it).
    private var busy = false
    private var abandoned = false

    init(image: Image, writer: any BlobWriter, digests: ImageDigests, cache: ImageCache, token: Int) {
        self.image = image
        self.writer = writer
        self.digests = digests
        self.cache = cache
        self.token = token
    }

    /// Takes the next chunk of the stream (nil at its end) and hands it on.
    func pass(_ chunk: ByteBuffer?) async -> ByteBuffer? {
        guard let current = writer, !busy, !abandoned else { return chunk }
        busy = true
        if let chunk {
            total += chunk.readableBytes
            // Actor state cannot be passed inout across a suspension: hash a copy, keep it.
            var hashing = digests
            await hashing.update(chunk)
            digests = hashing
            do {
                try await current.write(chunk)
            } catch {
                await stop(current, "could not write image data into the cache: \(error)")
            }
        } else {
            writer = nil
            await finish(current)
        }
        busy = false
        if abandoned, let current = writer { await stop(current, nil) }
        return chunk
    }

    /// The stream ended before its end (the client left, the store failed): no entry.
    func abandon() async {
        abandoned = true
        guard !busy, let current = writer else { return }
        await stop(current, nil)
    }

    private func stop(_ current: any BlobWriter, _ problem: String?) async {
        writer = nil
        await current.abort()
        await cache.fillEnded(image.id, token: token)
        if let problem { cache.logger.warning("\(problem)", metadata: ["image_id": "\(image.id)"]) }
    }

    private func finish(_ current: any BlobWriter) async {
        var hashing = digests
        let (md5, sha512) = await hashing.finalize()
        var mismatch: String?
        if total != image.size {
            mismatch = "size \(total), expected \(image.size ?? 0)"
        } else if let checksum = image.checksum, checksum != md5 {
            mismatch = "checksum \(md5), expected \(checksum)"
        } else if image.osHashAlgo == "sha512", let hash = image.osHashValue, hash != sha512 {
            mismatch = "os_hash_value \(sha512), expected \(hash)"
        }
        if let mismatch {
            await stop(current, "image data read for the cache does not match the image (\(mismatch)); not cached")
            return
        }
        do {
            let location = try await current.commit()
            await cache.commit(image, location: location, token: token)
        } catch {
            await cache.fillEnded(image.id, token: token)
            cache.logger.warning(
                "could not commit image data into the cache",
                metadata: ["image_id": "\(image.id)", "error": "\(error)"])
        }
    }
}
