import AsyncHTTPClient
import GlimpseBlobStores
import GlimpseCore
import GlimpseMemoryStores
import GlimpseObjectStores
import Logging
import NIOCore
import NIOPosix
import OpenStackEncoding
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The blob stores every contract test runs against: memory and local files always; Swift
/// (signing in with tempauth, and with Keystone), S3 through Swift's s3api and S3 on Ceph RGW
/// when their URLs are given (`GLIMPSE_TEST_SWIFT_URL`, `GLIMPSE_TEST_SWIFT_KEYSTONE_URL`,
/// `GLIMPSE_TEST_S3_URL`, `GLIMPSE_TEST_RGW_URL`; `.ci/run` starts the engines and sets them).
enum BlobBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, files, filesBuffered, swift, swiftContainers, swiftKeystone, s3, rgw
    var testDescription: String { rawValue }

    /// The store URL of an object-store backend, from the environment.
    var url: String? {
        let name =
            switch self {
            case .swift, .swiftContainers: "GLIMPSE_TEST_SWIFT_URL"
            case .swiftKeystone: "GLIMPSE_TEST_SWIFT_KEYSTONE_URL"
            case .s3: "GLIMPSE_TEST_S3_URL"
            case .rgw: "GLIMPSE_TEST_RGW_URL"
            case .memory, .files, .filesBuffered: ""
            }
        return getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The backends this run can reach.
    static var available: [BlobBackend] {
        allCases.filter { [.memory, .files, .filesBuffered].contains($0) || $0.url != nil }
    }

    /// Whether writes are held back in memory until they make a part (the object stores).
    var buffersSmallWrites: Bool { [.swift, .swiftContainers, .swiftKeystone, .s3, .rgw].contains(self) }

    /// Runs `body` with an empty store: object stores get a container or bucket of their own,
    /// with 5 MiB segments or parts (so the tests cross several), emptied afterwards.
    func with<T: Sendable>(_ body: (any BlobStore, String) async throws -> T) async throws -> T {
        let dir = tempDir()
        defer { _ = system("rm -rf '\(dir)'") }
        let fresh = "glimpse-test-" + Identifiers.randomHex(bytes: 6)
        let store: any BlobStore
        var client: HTTPClient?
        switch self {
        case .memory: store = MemoryBlobStore(id: "local")
        case .files: store = try LocalBlobStore(root: dir + "/images", directIO: true)
        case .filesBuffered: store = try LocalBlobStore(root: dir + "/images", directIO: false)
        case .swift, .swiftContainers, .swiftKeystone:
            let http = ObjectHTTP.makeClient()
            client = http
            // swiftContainers: objects spread over containers by the first character of the id.
            let seed = self == .swiftContainers ? "&containers_seed=1" : ""
            store = try SwiftBlobStore(
                id: "swift",
                settings: try SwiftStoreSettings(url: url! + "&container=\(fresh)&segment_size_mb=5\(seed)"),
                client: http, logger: Logger(label: "test"))
        case .s3, .rgw:
            let http = ObjectHTTP.makeClient()
            client = http
            var settings = try S3StoreSettings(url: url! + "&part_size_mb=5")
            settings.bucket = fresh
            store = S3BlobStore(
                id: rawValue, settings: settings, client: http, hashing: nil, logger: Logger(label: "test"))
        }
        do {
            let result = try await body(store, dir)
            if client != nil { try await Self.empty(store) }
            try await client?.shutdown()
            return result
        } catch {
            if client != nil { try? await Self.empty(store) }
            try? await client?.shutdown()
            throw error
        }
    }

    /// Deletes everything a store holds.
    static func empty(_ store: any BlobStore) async throws {
        for blob in try await store.inventory(after: nil, limit: 1000) {
            try await store.delete(location: blob.location)
        }
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

    @Test("commit makes data readable in ranges; abort and delete leave nothing", arguments: BlobBackend.available)
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
            // A store of files hands the object out as an open file for zero-copy sends;
            // loading a range leaves it in the page cache. Other stores have none.
            if let file = try await store.openFile(location: location) {
                #expect(store.type == "file" && file.size == data.count)
                #if os(Linux)
                posix_fadvise(file.descriptor, 0, 0, POSIX_FADV_DONTNEED)
                #endif
                try await file.load(1_000_000..<9_000_001)
                #if os(Linux)
                #expect(Self.cachedPages(file.descriptor, 1_000_000..<9_000_001) == 1_954)
                #endif
                var bytes = [UInt8](repeating: 0, count: 100)
                #expect(pread(file.descriptor, &bytes, 100, 8_999_950) == 100)
                #expect(bytes == Array(data[8_999_950..<9_000_050]))
            } else {
                #expect(store.type != "file")
            }
            try await store.delete(location: location)
            try await store.delete(location: location)
            if store.type == "file" {
                await #expect(throws: (any Error).self) { try await store.openFile(location: location) }
            }
            await #expect(throws: (any Error).self) { try await Self.read(store, location) }

            // A small object (one PUT in the object stores, no manifest) goes as well.
            let small = try await store.makeWriter(imageId: "11111111-2222-3333-4444-555555555555")
            try await small.write(ByteBuffer(bytes: data.prefix(1000)))
            let smallLocation = try await small.commit()
            try await store.delete(location: smallLocation)
            await #expect(throws: (any Error).self) { try await Self.read(store, smallLocation) }

            let aborted = try await store.makeWriter(imageId: "x")
            try await aborted.write(ByteBuffer(bytes: data.prefix(1000)))
            await aborted.abort()
            #expect(try await store.inventory(after: nil, limit: 100).isEmpty)
        }
    }

    /// How many pages of `range` of the file are in the page cache.
    static func cachedPages(_ fd: Int32, _ range: Range<Int>) -> Int {
        let start = range.lowerBound / 4096 * 4096
        let length = range.upperBound - start
        guard let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(start)),
            map != UnsafeMutableRawPointer(bitPattern: -1)
        else { return -1 }
        defer { munmap(map, length) }
        var pages = [UInt8](repeating: 0, count: (length + 4095) / 4096)
        guard mincore(map, length, &pages) == 0 else { return -1 }
        return pages.filter { $0 & 1 == 1 }.count
    }

    @Test("an upload abandoned after several parts leaves nothing behind", arguments: BlobBackend.available)
    func abandonedAfterParts(_ backend: BlobBackend) async throws {
        try await backend.with { store, _ in
            let w = try await store.makeWriter(imageId: uuid(7))
            for i in 0..<192 { try await w.write(ByteBuffer(repeating: UInt8(i), count: 65536)) }
            #expect(try await store.inventory(after: nil, limit: 100).map(\.location) == [w.pendingLocation])
            await w.abort()
            #expect(try await store.inventory(after: nil, limit: 100).isEmpty)
        }
    }

    @Test("reads held open by slow clients do not hold up another read", arguments: BlobBackend.available)
    func manyOpenReads(_ backend: BlobBackend) async throws {
        try await backend.with { store, _ in
            let w = try await store.makeWriter(imageId: uuid(3))
            try await w.write(ByteBuffer(repeating: 3, count: 3 << 20))
            let location = try await w.commit()
            // Twelve downloads whose clients stopped reading after the first chunk.
            var held: [ByteStream.AsyncIterator] = []
            for _ in 0..<12 {
                var reader = try await store.read(location: location, range: nil).makeAsyncIterator()
                #expect(try await reader.next() != nil)
                held.append(reader)
            }
            let whole = try await withThrowingTaskGroup(of: Int?.self) { group in
                group.addTask { try await Self.read(store, location).count }
                group.addTask {
                    try await Task.sleep(for: .seconds(60))
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
            #expect(whole == 3 << 20, "a thirteenth read waited for the twelve held open")
            held.removeAll()
        }
    }

    @Test(
        "the inventory lists pending and committed objects in order, a page at a time", arguments: BlobBackend.available
    )
    func inventory(_ backend: BlobBackend) async throws {
        try await backend.with { store, _ in
            var committed: [String] = []
            for i in 0..<5 {
                // Ids that differ from their first character: in stores that spread objects
                // over containers by it, the pages cross containers.
                let w = try await store.makeWriter(
                    imageId: String(repeating: String(i), count: 8) + uuid(i).dropFirst(8))
                try await w.write(ByteBuffer(bytes: [UInt8(i)]))
                committed.append(try await w.commit())
            }
            // Enough to be stored by a store that holds small writes back.
            let pending = try await store.makeWriter(imageId: uuid(9))
            try await pending.write(ByteBuffer(repeating: 9, count: backend.buffersSmallWrites ? 6 << 20 : 1))
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
            await pending.abort()
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
