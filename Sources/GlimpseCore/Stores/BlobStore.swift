import NIOCore

/// Keeps image data. Writes go to a temporary object that becomes visible only on
/// `commit`; a failed or abandoned write leaves nothing behind.
public protocol BlobStore: Sendable {
    /// The store's id, as `/v2/info/stores` lists it.
    var id: String { get }
    /// What kind of backend this is (`file`, `swift`, `s3`).
    var type: String { get }

    /// Starts writing the data of an image.
    func makeWriter(imageId: String) async throws -> any BlobWriter

    /// Streams bytes `range` (or all) of a stored object, in chunks, pulled on demand.
    func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream

    /// Deletes a stored object. Deleting a missing object is not an error.
    func delete(location: String) async throws

    /// Bytes free for new data, if the backend can tell.
    func freeSpace() async -> Int?
}

/// An in-progress write of one object.
public protocol BlobWriter: Sendable {
    /// Appends bytes. Chunks arrive in order; the writer may buffer.
    func write(_ chunk: ByteBuffer) async throws
    /// Makes the data durable and visible; returns the location to record.
    func commit() async throws -> String
    /// Discards everything written so far.
    func abort() async
}

/// A pull-driven sequence of byte chunks: the next chunk is read only when the consumer
/// asks for it, so a slow reader slows the source instead of filling memory.
public struct ByteStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let pull: @Sendable () async throws -> ByteBuffer?
    let onCancel: @Sendable () -> Void

    public init(pull: @escaping @Sendable () async throws -> ByteBuffer?, onCancel: @escaping @Sendable () -> Void = {}) {
        self.pull = pull
        self.onCancel = onCancel
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pull: @Sendable () async throws -> ByteBuffer?
        public mutating func next() async throws -> ByteBuffer? { try await pull() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pull: pull) }

    /// Releases the source early (e.g. the client went away).
    public func cancel() { onCancel() }
}
