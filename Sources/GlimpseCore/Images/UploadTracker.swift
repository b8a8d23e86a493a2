import Synchronization

/// Uploads in flight on this node and how far along they are, for progress reports
/// (the compute API's `progress` of a `SAVING` image).
public final class UploadTracker: Sendable {
    public struct Progress: Sendable, Equatable {
        /// Bytes received so far.
        public var received: Int
        /// Bytes announced by the client, if it said.
        public var expected: Int?

        /// 0–100, or nil when the total is unknown.
        public var percent: Int? {
            guard let expected, expected > 0 else { return nil }
            return min(100, received * 100 / expected)
        }
    }

    private let state = Mutex<[String: Progress]>([:])

    public init() {}

    public func begin(_ imageId: String, expected: Int?) {
        state.withLock { $0[imageId] = Progress(received: 0, expected: expected) }
    }

    public func progress(_ imageId: String, bytes: Int) {
        state.withLock { $0[imageId]?.received = bytes }
    }

    public func end(_ imageId: String) {
        _ = state.withLock { $0.removeValue(forKey: imageId) }
    }

    /// The progress of an upload in flight on this node.
    public func progress(of imageId: String) -> Progress? {
        state.withLock { $0[imageId] }
    }
}
