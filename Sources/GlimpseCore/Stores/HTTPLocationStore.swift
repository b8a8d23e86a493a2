import NIOCore
import Synchronization

/// Glance's read-only `http` store: image data at an `http`/`https` URL another server
/// serves, added as a location through the locations API. Its location is the URL itself.
/// Every request passes the web-download filters (private addresses refused unless allowed),
/// redirects included. It cannot be written, and deleting a location leaves the data where
/// it is.
public struct HTTPLocationStore: BlobStore {
    public let id: String
    public var type: String { "http" }
    let fetcher: any WebDownloader

    public init(id: String, fetcher: any WebDownloader) {
        self.id = id
        self.fetcher = fetcher
    }

    /// Whether `url` is one this store reads: `http` or `https`.
    public static func handles(_ url: String) -> Bool {
        let lower = url.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    /// The size of the data at `url` (a `HEAD` request), if the filters let it through and
    /// the server tells; nil otherwise, as Glance's store answers 0.
    public func size(of url: String) async -> Int? {
        guard let size = try? await fetcher.size(url), size > 0 else { return nil }
        return size
    }

    public func makeWriter(imageId: String) async throws -> any BlobWriter {
        throw ServiceError.badRequest("The http store is read-only.")
    }

    /// Streams the data, dropping what lies outside `range`.
    public func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        let body = try await fetcher.open(location).body
        guard let range else { return body }
        let offset = ReadOffset()
        return ByteStream(
            pull: {
                while true {
                    let start = offset.value.withLock { $0 }
                    guard start <= range.upperBound, var chunk = try await body.pull() else {
                        body.cancel()
                        return nil
                    }
                    let end = start + chunk.readableBytes
                    offset.value.withLock { $0 = end }
                    let from = max(range.lowerBound - start, 0)
                    let to = min(range.upperBound + 1, end) - start
                    guard from < to else { continue }
                    chunk.moveReaderIndex(forwardBy: from)
                    chunk.moveWriterIndex(to: chunk.readerIndex + to - from)
                    return chunk
                }
            }, onCancel: { body.cancel() })
    }

    /// How far a ranged read has got into the data.
    private final class ReadOffset: Sendable {
        let value = Mutex(0)
    }

    /// The data stays on the server it came from.
    public func delete(location: String) async throws {}

    public func freeSpace() async -> Int? { nil }

    public func checkHealth() async throws {}

    public func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob] { [] }

    public func directURL(location: String) -> String? { location }
}
