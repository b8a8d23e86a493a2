import GlimpseCore
import NIOCore
import OpenStackEncoding
import Synchronization

/// Image data in memory, for tests: the blob-store contract with nothing on disk.
public final class MemoryBlobStore: BlobStore {
    public let id: String
    public let type = "memory"

    struct Object {
        var bytes: ByteBuffer
        var pending: Bool
        var modifiedAt: Timestamp
    }

    let objects = Mutex<[String: Object]>([:])

    public init(id: String = "memory") { self.id = id }

    public func makeWriter(imageId: String) async throws -> any BlobWriter {
        let name = imageId + "." + Identifiers.randomHex(bytes: 4)
        objects.withLock { $0["pending/" + name] = Object(bytes: ByteBuffer(), pending: true, modifiedAt: .now()) }
        return Writer(store: self, name: name)
    }

    public func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        guard let object = objects.withLock({ $0[location] }), !object.pending else {
            throw ServiceError.notFound("no object \(location) in store \(id)")
        }
        var bytes = object.bytes
        if let range {
            bytes =
                bytes.getSlice(
                    at: bytes.readerIndex + range.lowerBound,
                    length: min(range.count, bytes.readableBytes - range.lowerBound)) ?? ByteBuffer()
        }
        let remaining = Mutex<ByteBuffer?>(bytes)
        return ByteStream(pull: {
            remaining.withLock { rest -> ByteBuffer? in
                guard var r = rest, r.readableBytes > 0 else { return nil }
                let chunk = r.readSlice(length: min(r.readableBytes, 1 << 20))
                rest = r
                return chunk
            }
        })
    }

    public func delete(location: String) async throws {
        _ = objects.withLock { $0.removeValue(forKey: location) }
    }

    public func freeSpace() async -> Int? { nil }

    public func checkHealth() async throws {}

    public func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob] {
        objects.withLock { objects in
            objects.keys.filter { marker == nil || marker!.utf8.lexicographicallyPrecedes($0.utf8) }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.prefix(limit)
                .map {
                    StoredBlob(
                        location: $0, pending: objects[$0]!.pending, modifiedAt: objects[$0]!.modifiedAt,
                        size: objects[$0]!.bytes.readableBytes)
                }
        }
    }

    /// Backdates an object, as if it were written long ago (for tests of the orphan sweep).
    public func age(_ location: String, to time: Timestamp) {
        objects.withLock { $0[location]?.modifiedAt = time }
    }

    final class Writer: BlobWriter {
        let store: MemoryBlobStore
        let name: String
        var pendingLocation: String { "pending/" + name }

        init(store: MemoryBlobStore, name: String) {
            self.store = store
            self.name = name
        }

        func write(_ chunk: ByteBuffer) async throws {
            try store.objects.withLock { objects in
                guard objects[pendingLocation] != nil else { throw ServiceError.internalError("the write was aborted") }
                var c = chunk
                objects[pendingLocation]!.bytes.writeBuffer(&c)
            }
        }

        func commit() async throws -> String {
            let location = "data/" + name
            try store.objects.withLock { objects in
                guard var object = objects.removeValue(forKey: pendingLocation) else {
                    throw ServiceError.internalError("the write was aborted")
                }
                object.pending = false
                object.modifiedAt = .now()
                objects[location] = object
            }
            return location
        }

        func abort() async {
            _ = store.objects.withLock { $0.removeValue(forKey: pendingLocation) }
        }
    }
}
