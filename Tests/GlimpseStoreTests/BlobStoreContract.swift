import GlimpseBlobStores
import GlimpseCore
import GlimpseMemoryStores
import NIOCore
import NIOPosix
import OpenStackEncoding
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The blob stores every contract test runs against.
enum BlobBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, files, filesBuffered
    var testDescription: String { rawValue }

    func with<T: Sendable>(_ body: (any BlobStore, String) async throws -> T) async throws -> T {
        let dir = tempDir()
        defer { _ = system("rm -rf '\(dir)'") }
        let store: any BlobStore =
            switch self {
            case .memory: MemoryBlobStore(id: "local")
            case .files: try LocalBlobStore(root: dir + "/images", directIO: true)
            case .filesBuffered: try LocalBlobStore(root: dir + "/images", directIO: false)
            }
        return try await body(store, dir)
    }
}

@Suite("Blob store contract")
struct BlobStoreContract {
    static func read(
        _ store: any BlobStore, _ location: String, _ range: ClosedRange<Int>? = nil
    ) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await chunk in try await store.read(location: location, range: range) { out += chunk.readableBytesView }
        return out
    }

    @Test("commit makes data readable in ranges; abort and delete leave nothing", arguments: BlobBackend.allCases)
    func writeReadAbort(_ backend: BlobBackend) async throws {
        try await backend.with { store, _ in
            // Several blocks in flight at once, chunks of uneven sizes, a tail that is not whole pages.
            let data = (0..<17_000_123).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 16) }
            let w = try await store.makeWriter(imageId: "11111111-2222-3333-4444-555555555555")
            var start = 0, step = 1
            while start < data.count {
                let end = min(start + 65536 + step * 4099 % 70000, data.count)
                try await w.write(ByteBuffer(bytes: data[start..<end]))
                start = end
                step += 1
            }
            let location = try await w.commit()
            #expect(try await Self.read(store, location) == data)
            #expect(try await Self.read(store, location, 10...19) == Array(data[10...19]))
            #expect(try await Self.read(store, location, 16_999_990...17_000_122) == Array(data[16_999_990...]))
            try await store.delete(location: location)
            try await store.delete(location: location)
            await #expect(throws: (any Error).self) { try await Self.read(store, location) }

            let aborted = try await store.makeWriter(imageId: "x")
            try await aborted.write(ByteBuffer(bytes: data.prefix(1000)))
            await aborted.abort()
            #expect(try await store.inventory(after: nil, limit: 100).isEmpty)
        }
    }

    @Test(
        "the inventory lists pending and committed objects in order, a page at a time", arguments: BlobBackend.allCases)
    func inventory(_ backend: BlobBackend) async throws {
        try await backend.with { store, _ in
            var committed: [String] = []
            for i in 0..<5 {
                let w = try await store.makeWriter(imageId: uuid(i))
                try await w.write(ByteBuffer(bytes: [UInt8(i)]))
                committed.append(try await w.commit())
            }
            let pending = try await store.makeWriter(imageId: uuid(9))
            try await pending.write(ByteBuffer(bytes: [9]))
            var listed: [StoredBlob] = []
            var marker: String?
            while true {
                let page = try await store.inventory(after: marker, limit: 2)
                listed += page
                marker = page.last?.location
                if page.count < 2 { break }
            }
            #expect(
                listed.map(\.location) == listed.map(\.location).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            #expect(Set(listed.filter { !$0.pending }.map(\.location)) == Set(committed))
            #expect(listed.filter(\.pending).map(\.location) == [pending.pendingLocation])
            #expect(listed.allSatisfy { abs($0.modifiedAt.seconds - Timestamp.now().seconds) < 120 })
            // A pending object can be removed by its location (the reclaim of an abandoned upload).
            try await store.delete(location: pending.pendingLocation)
            #expect(try await store.inventory(after: nil, limit: 100).filter(\.pending).isEmpty)
        }
    }

    @Test("locations outside the store are refused")
    func badLocations() async throws {
        try await BlobBackend.files.with { store, dir in
            for location in ["../../etc/passwd", "ab/../../x", ".tmp/../../x", "/etc/passwd", "abc/x", "ab/.hidden"] {
                await #expect(throws: BlobStoreError.self) { try await store.read(location: location, range: nil) }
                await #expect(throws: BlobStoreError.self) { try await store.delete(location: location) }
            }
        }
    }
}
