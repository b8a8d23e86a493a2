import OpenStackEncoding

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An upload in progress, as the metadata store records it: which process runs it, where
/// its data is being written, and until when it counts as alive. The process renews the
/// lease while it receives data; a lease that runs out marks an upload whose process died,
/// and only such uploads are undone (the image back to `queued`, its partial data removed).
public struct UploadLease: Sendable, Hashable {
    public var imageId: String
    /// The process running the upload (`UploadOwner.current`).
    public var owner: String
    /// The blob store receiving the data, and its name for the data not yet committed; both
    /// empty for a job that writes no data (a location import, which only reads a location).
    public var storeId: String
    public var pendingLocation: String
    public var expiresAt: Timestamp
    /// Bytes received so far, as of the last renewal.
    public var received: Int
    /// Bytes the client announced, if it did.
    public var expected: Int?

    public init(
        imageId: String, owner: String, storeId: String, pendingLocation: String, expiresAt: Timestamp,
        received: Int = 0, expected: Int? = nil
    ) {
        self.imageId = imageId
        self.owner = owner
        self.storeId = storeId
        self.pendingLocation = pendingLocation
        self.expiresAt = expiresAt
        self.received = received
        self.expected = expected
    }

    /// Whether the job writes data (an upload or an import into stores), rather than only
    /// reading a location that holds data already.
    public var writesData: Bool { !storeId.isEmpty }

    /// 0–99 while data arrives, nil when the total is unknown.
    public var percent: Int? {
        guard let expected, expected > 0 else { return nil }
        return min(99, received * 100 / expected)
    }
}

/// Names this process among all that share a metadata store.
public enum UploadOwner {
    /// `host:pid:random`, new for every process start.
    public static let current: String = {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host):\(getpid()):\(Identifiers.randomHex(bytes: 4))"
    }()
}
