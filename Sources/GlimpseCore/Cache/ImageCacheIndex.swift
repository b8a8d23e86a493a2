import OpenStackEncoding

/// One image whose data a node's image cache holds.
public struct CachedImage: Sendable, Equatable {
    public var imageId: String
    /// Where the cache's file store keeps the data.
    public var location: String
    public var size: Int
    /// The image's `checksum` and `os_hash_value` when its data was cached: the entry serves
    /// only an image that still has them (and this size).
    public var checksum: String?
    public var hashValue: String?
    /// Downloads served from the entry.
    public var hits: Int
    public var lastAccessed: Timestamp
    /// When the data was cached.
    public var lastModified: Timestamp

    public init(
        imageId: String, location: String, size: Int, checksum: String?, hashValue: String?, hits: Int = 0,
        lastAccessed: Timestamp, lastModified: Timestamp
    ) {
        self.imageId = imageId
        self.location = location
        self.size = size
        self.checksum = checksum
        self.hashValue = hashValue
        self.hits = hits
        self.lastAccessed = lastAccessed
        self.lastModified = lastModified
    }

    /// Whether the entry holds the data `image` has now: the image is active, with the size
    /// and hashes the cached data had.
    public func holds(_ image: Image) -> Bool {
        image.id == imageId && image.status == .active && image.size == size && image.checksum == checksum
            && image.osHashValue == hashValue
    }
}

/// An image waiting for the prefetcher.
public struct QueuedImage: Sendable, Equatable {
    public var imageId: String
    public var queuedAt: Timestamp

    public init(imageId: String, queuedAt: Timestamp) {
        self.imageId = imageId
        self.queuedAt = queuedAt
    }
}

/// What an image cache keeps across restarts: its entries and its queue, as lines of text
/// with tab-separated fields (`cached`, id, location, size, checksum, hash, hits, last
/// accessed and last modified in microseconds; `queued`, id, queued at). A line that does
/// not parse is skipped.
public struct ImageCacheIndex: Sendable, Equatable {
    public var cached: [CachedImage]
    public var queued: [QueuedImage]

    public init(cached: [CachedImage], queued: [QueuedImage]) {
        self.cached = cached
        self.queued = queued
    }

    static let header = "glimpse-image-cache 1"

    public init(decoding text: String) {
        cached = []
        queued = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            func optional(_ s: String) -> String? { s == "-" ? nil : s }
            switch f.first {
            case "cached"? where f.count == 9:
                guard let size = Int(f[3]), let hits = Int(f[6]), let accessed = Int64(f[7]),
                    let modified = Int64(f[8])
                else { continue }
                cached.append(
                    CachedImage(
                        imageId: f[1], location: f[2], size: size, checksum: optional(f[4]), hashValue: optional(f[5]),
                        hits: hits, lastAccessed: Timestamp(microseconds: accessed),
                        lastModified: Timestamp(microseconds: modified)))
            case "queued"? where f.count == 3:
                guard let at = Int64(f[2]) else { continue }
                queued.append(QueuedImage(imageId: f[1], queuedAt: Timestamp(microseconds: at)))
            default:
                continue
            }
        }
    }

    public func encoded() -> String {
        var lines = [Self.header]
        for e in cached.sorted(by: { $0.imageId < $1.imageId }) {
            lines.append(
                [
                    "cached", e.imageId, e.location, String(e.size), e.checksum ?? "-", e.hashValue ?? "-",
                    String(e.hits), String(e.lastAccessed.microseconds), String(e.lastModified.microseconds),
                ].joined(separator: "\t"))
        }
        for q in queued {
            lines.append(["queued", q.imageId, String(q.queuedAt.microseconds)].joined(separator: "\t"))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Where an image cache keeps its index across restarts (a file beside the cached data).
public protocol ImageCacheJournal: Sendable {
    /// The index last written; nil when there is none yet.
    func read() async throws -> String?
    /// Replaces the index, all or nothing.
    func write(_ text: String) async throws
}
