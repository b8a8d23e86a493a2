#if RBD
import GlimpseCore
@testable import GlimpseRBDStore
import NIOCore
import OpenStackEncoding
import Testing

/// The RBD store against a real Ceph, a test at a time.
@Suite(
    "RBD blob store", .serialized, .enabled(if: CephTestCluster.url != nil, Comment(rawValue: CephTestCluster.skipped)))
struct RBDBlobStoreTests {
    static func read(
        _ store: RBDBlobStore, _ location: String, _ range: ClosedRange<Int>? = nil
    ) async throws
        -> [UInt8]
    {
        var out: [UInt8] = []
        for try await chunk in try await store.read(location: location, range: range) { out += chunk.readableBytesView }
        return out
    }

    /// Writes `data` in chunks of uneven sizes and commits.
    static func store(_ data: [UInt8], as id: String, in store: RBDBlobStore) async throws -> String {
        let w = try await store.makeWriter(imageId: id)
        var start = 0
        var step = 1
        while start < data.count {
            let end = min(start + 65536 + step * 4099 % 70000, data.count)
            try await w.write(ByteBuffer(bytes: data[start..<end]))
            start = end
            step += 1
        }
        return try await w.commit()
    }

    /// Every location of the inventory, a page of `limit` at a time.
    static func inventory(_ store: RBDBlobStore, limit: Int) async throws -> [StoredBlob] {
        var listed: [StoredBlob] = []
        var marker: String?
        while true {
            let page = try await store.inventory(after: marker, limit: limit)
            #expect(page.count <= limit)
            listed += page
            marker = page.last?.location
            if page.count < limit { return listed }
        }
    }

    @Test("commit makes data readable in ranges; abort and delete leave nothing")
    func writeReadAbort() async throws {
        try await CephTestCluster.withStore { store in
            let data = (0..<17_000_123).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 16) }
            let id = Identifiers.uuid()
            let location = try await Self.store(data, as: id, in: store)
            #expect(location == id)
            #expect(try await Self.read(store, location) == data)
            #expect(try await Self.read(store, location, 10...19) == Array(data[10...19]))
            // Across a read chunk (4 MiB) and an object (8 MiB) boundary.
            #expect(try await Self.read(store, location, 4_194_000...8_389_000) == Array(data[4_194_000...8_389_000]))
            #expect(try await Self.read(store, location, 16_999_990...17_000_122) == Array(data[16_999_990...]))
            #expect(try await Self.read(store, location, 16_999_990...20_000_000) == Array(data[16_999_990...]))
            try await store.delete(location: location)
            try await store.delete(location: location)
            await #expect(throws: (any Error).self) { try await Self.read(store, location) }

            let abortedId = Identifiers.uuid()
            let aborted = try await store.makeWriter(imageId: abortedId)
            #expect(aborted.pendingLocation == abortedId)
            try await aborted.write(ByteBuffer(bytes: data.prefix(5_000_000)))
            await aborted.abort()
            #expect(try !CephClient().exists(abortedId))
            #expect(try await Self.inventory(store, limit: 1000).allSatisfy { $0.location != abortedId })

            let empty = try await Self.store([], as: Identifiers.uuid(), in: store)
            #expect(try await Self.read(store, empty).isEmpty)
            try await store.delete(location: empty)
        }
    }

    @Test("the inventory lists pending and committed images in byte order, a page at a time")
    func inventory() async throws {
        try await CephTestCluster.withStore { store in
            var committed: [String] = []
            for i in 0..<5 { committed.append(try await Self.store([UInt8(i)], as: Identifiers.uuid(), in: store)) }
            let pending = try await store.makeWriter(imageId: Identifiers.uuid())
            try await pending.write(ByteBuffer(bytes: [9]))
            // Not Glimpse's: never listed (the orphan sweep must not touch other clients' images),
            // whether named otherwise (Cinder's) or like an image id (Glance's).
            let foreign = "volume-" + Identifiers.uuid()
            try CephClient().createLeftover(foreign, bytes: [1], snapshot: false)
            let glance = Identifiers.uuid()
            try CephClient().createLeftover(glance, bytes: [1], snapshot: true, protected: true, own: false)

            let listed = try await Self.inventory(store, limit: 2)
            let locations = listed.map(\.location)
            #expect(locations == locations.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            #expect(Set(locations).count == locations.count)
            let ours = listed.filter { committed.contains($0.location) || $0.location == pending.pendingLocation }
            #expect(Set(ours.filter { !$0.pending }.map(\.location)) == Set(committed))
            #expect(ours.filter(\.pending).map(\.location) == [pending.pendingLocation])
            #expect(ours.allSatisfy { abs($0.modifiedAt.seconds - Timestamp.now().seconds) < 120 })
            #expect(!locations.contains(foreign) && !locations.contains(glance))
            // After a marker: only what follows it.
            let after = try await store.inventory(after: committed.min(), limit: 1000)
            #expect(after.allSatisfy { $0.location.utf8.lexicographicallyPrecedes(committed.min()!.utf8) == false })
            #expect(!after.map(\.location).contains(committed.min()!))

            // An image open by a live upload cannot be removed; once aborted it is gone.
            let busy = await #expect(throws: ServiceError.self) {
                try await store.delete(location: pending.pendingLocation)
            }
            #expect(busy?.kind == .conflict)
            await pending.abort()
            #expect(
                try await store.inventory(after: nil, limit: 1000).filter(\.pending).allSatisfy {
                    $0.location != pending.pendingLocation
                })
            for location in committed { try await store.delete(location: location) }
            try CephClient().remove(foreign)
            try CephClient().remove(glance)
        }
    }

    @Test("a pending image left by a crashed upload is removed by location, or replaced by a new upload")
    func leftovers() async throws {
        try await CephTestCluster.withStore { store in
            let client = try CephClient()
            let crashed = Identifiers.uuid()
            try client.createLeftover(crashed, bytes: [1, 2, 3], snapshot: false)
            #expect(
                try await store.inventory(after: nil, limit: 1000).first { $0.location == crashed }?.pending == true)
            try await store.delete(location: crashed)
            #expect(!client.exists(crashed))

            // Another client's pending image of the same name (Glance's upload): never listed,
            // never replaced by an upload.
            let foreign = Identifiers.uuid()
            try client.createLeftover(foreign, bytes: [1, 2, 3], snapshot: false, own: false)
            #expect(try await store.inventory(after: nil, limit: 1000).allSatisfy { $0.location != foreign })
            let refusedForeign = await #expect(throws: ServiceError.self) {
                _ = try await store.makeWriter(imageId: foreign)
            }
            #expect(refusedForeign?.kind == .conflict)
            #expect(refusedForeign?.explanation?.contains("not created by Glimpse") == true)
            #expect(client.exists(foreign))
            try client.remove(foreign)

            // An upload still writing is not a leftover: a second one is refused, the first goes on.
            let running = Identifiers.uuid()
            let first = try await store.makeWriter(imageId: running)
            try await first.write(ByteBuffer(bytes: [1, 2]))
            let second = await #expect(throws: ServiceError.self) { _ = try await store.makeWriter(imageId: running) }
            #expect(second?.kind == .conflict)
            #expect(second?.explanation?.contains("still in use") == true)
            try await first.write(ByteBuffer(bytes: [3]))
            #expect(try await Self.read(store, try await first.commit()) == [1, 2, 3])
            #expect(try client.features(running) & 1 == 1, "layering")
            try await store.delete(location: running)

            // Crashed between taking the snapshot and protecting it: still pending.
            for snapshot in [false, true] {
                let id = Identifiers.uuid()
                try client.createLeftover(id, bytes: Array(repeating: 7, count: 100_000), snapshot: snapshot)
                #expect(try await store.inventory(after: nil, limit: 1000).first { $0.location == id }?.pending == true)
                let location = try await Self.store([4, 5, 6], as: id, in: store)
                #expect(try await Self.read(store, location) == [4, 5, 6])
                // Committed data is never replaced.
                let refused = await #expect(throws: ServiceError.self) { _ = try await store.makeWriter(imageId: id) }
                #expect(refused?.kind == .conflict)
                #expect(try await Self.read(store, location) == [4, 5, 6])
                try await store.delete(location: location)
            }
        }
    }

    @Test(
        "a clone of the snapshot makes delete refuse (409) and keeps the data; without it delete works",
        arguments: [1, 2] as [UInt64])
    func clones(format: UInt64) async throws {
        try await CephTestCluster.withStore { store in
            let data = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let location = try await Self.store(data, as: Identifiers.uuid(), in: store)
            let client = try CephClient()
            let clone = location + "_disk"
            try client.clone(location, to: clone, format: format)
            let inUse = await #expect(throws: ServiceError.self) { try await store.delete(location: location) }
            #expect(inUse?.kind == .conflict)
            #expect(inUse?.explanation?.contains("because it is in use") == true)
            #expect(inUse?.detail?.contains(clone) == true)
            #expect(try await Self.read(store, location) == data)
            #expect(
                try await store.inventory(after: nil, limit: 1000).first { $0.location == location }?.pending == false)
            try client.remove(clone)
            try await store.delete(location: location)
            #expect(!client.exists(location))
        }
    }

    /// The memory this takes is measured by `bench/stores.sh` (peak RSS per transfer); here,
    /// that the writer reuses its blocks and the reader hands out chunks, however long the image.
    @Test("100 MiB are written and read as a stream: a few blocks and chunks, never the image")
    func streams() async throws {
        try await CephTestCluster.withStore { store in
            let total = 100 << 20
            let piece = 64 << 10
            // A piece's bytes say which piece it is.
            func byte(at offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset / piece % 251) }
            let w = try #require(try await store.makeWriter(imageId: Identifiers.uuid()) as? RBDBlobWriter)
            var buffer = ByteBuffer()
            for offset in stride(from: 0, to: total, by: piece) {
                buffer.clear()
                buffer.writeRepeatingByte(byte(at: offset), count: piece)
                try await w.write(buffer)
            }
            let location = try await w.commit()
            #expect(w.blocksMade <= RBDBlobWriter.writesInFlight + 2, "\(w.blocksMade) blocks for 25 blocks of data")
            var read = 0
            var largest = 0
            var intact = true
            for try await chunk in try await store.read(location: location, range: nil) {
                for i in stride(from: 0, to: chunk.readableBytes, by: 4096)
                where chunk.getInteger(at: chunk.readerIndex + i, as: UInt8.self) != byte(at: read + i) {
                    intact = false
                }
                read += chunk.readableBytes
                largest = max(largest, chunk.readableBytes)
            }
            #expect(read == total)
            #expect(intact)
            #expect(largest <= RBDReader.chunkSize)
            try await store.delete(location: location)
        }
    }

    @Test("Glance's image in the pool is adopted by its own id and read in place; other URLs are not the store's")
    func adopt() async throws {
        try await CephTestCluster.withStore { store in
            let (id, other, missing) = (Identifiers.uuid(), Identifiers.uuid(), Identifiers.uuid())
            let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 11) }
            let ceph = try CephClient()
            try ceph.createLeftover(id, bytes: bytes, snapshot: true, protected: true, own: false)
            // An upload in progress (no protected snapshot yet) is not adopted.
            try ceph.createLeftover(other, bytes: [1, 2], snapshot: true, protected: false, own: false)
            let (fsid, pool) = (store.fsid, store.settings.pool)
            let adopted = try await store.adopt(url: "rbd://\(fsid)/\(pool)/\(id)/snap", imageId: id)
            #expect(adopted == AdoptedData(location: id, size: bytes.count))
            #expect(try await Self.read(store, id) == bytes)
            #expect(store.directURL(location: id) == "rbd://\(fsid)/\(pool)/\(id)/snap")
            // Another cluster's, pool's or scheme's URL is not the store's.
            for url in [
                "rbd://\(Identifiers.uuid())/\(pool)/\(id)/snap", "rbd://\(fsid)/volumes/\(id)/snap", "rbd://\(id)",
                "http://\(fsid)/\(pool)/\(id)/snap",
            ] {
                #expect(try await store.adopt(url: url, imageId: id) == nil)
            }
            // The store's URL, but another image's data, another snapshot, or no complete data.
            for (url, imageId) in [
                ("rbd://\(fsid)/\(pool)/\(id)/snap", other), ("rbd://\(fsid)/\(pool)/\(id)/other-snap", id),
                ("rbd://\(fsid)/\(pool)/\(other)/snap", other),
                ("rbd://\(fsid)/\(pool)/\(missing)/snap", missing),
            ] {
                await #expect(throws: ServiceError.self) { _ = try await store.adopt(url: url, imageId: imageId) }
            }
            // Adopted data is the image's: deleting it removes the RBD image, as Glance does.
            try await store.delete(location: id)
            #expect(!ceph.exists(id))
            try ceph.remove(other)
        }
    }

    @Test("direct URL, free space, health, and locations that are not the store's")
    func miscellany() async throws {
        try await CephTestCluster.withStore { store in
            let id = Identifiers.uuid()
            #expect(isUUID(store.fsid))
            #expect(store.directURL(location: id) == "rbd://\(store.fsid)/\(store.settings.pool)/\(id)/snap")
            #expect(store.type == "rbd")
            #expect(store.id == "ceph")
            try await store.checkHealth()
            let free = await store.freeSpace()
            #expect(free.map { $0 > 0 } ?? true)
            for location in ["", "../x", "images/\(id)", "\(id)@snap", "volume-\(id)"] {
                await #expect(throws: RBDError.self) { try await store.read(location: location, range: nil) }
                await #expect(throws: RBDError.self) { try await store.delete(location: location) }
            }
            await #expect(throws: RBDError.self) { _ = try await store.makeWriter(imageId: "not-a-uuid") }
            // A missing image: reading fails, deleting does nothing.
            await #expect(throws: (any Error).self) { try await Self.read(store, id) }
            try await store.delete(location: id)
        }
    }
}
#endif
