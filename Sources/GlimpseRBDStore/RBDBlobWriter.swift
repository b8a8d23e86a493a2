#if RBD
import CRBD
import GlimpseCore
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Memory a block of data is gathered in before it is written.
final class WriteBlock: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let capacity: Int
    var count = 0

    init(capacity: Int) {
        pointer = .allocate(byteCount: capacity, alignment: 4096)
        self.capacity = capacity
    }

    deinit { pointer.deallocate() }
}

/// Writes one RBD image in order, a few blocks in flight while the next is gathered (so a
/// slow cluster slows the upload instead of filling memory), growing the image ahead of the
/// data as Glance does: by twice the chunk size at first, then twice as much each time, up
/// to 8 GiB. Commit cuts the image to the bytes written, then creates and protects the
/// snapshot. Used by one task at a time (the upload that made it).
final class RBDBlobWriter: BlobWriter, @unchecked Sendable {
    private let image: RBDImage
    private let name: String
    private let store: RBDBlobStore
    private var filling: WriteBlock?
    private var spares: [WriteBlock] = []
    /// Writes queued on the thread pool, oldest first; each goes to its own offset.
    private var writes: [Task<WriteBlock, any Error>] = []
    /// Bytes handed to writes so far.
    private var offset = 0
    /// The image's size.
    private var size = 0
    /// How much the image grew last.
    private var growth: Int
    private var isOpen = true
    /// Blocks made so far: at most `writesInFlight + 2` however long the image.
    private(set) var blocksMade = 1
    static let blockSize = 4 << 20
    static let writesInFlight = 3
    static let maxGrowth = 8 << 30

    var pendingLocation: String { name }

    init(image: RBDImage, name: String, store: RBDBlobStore) {
        self.image = image
        self.name = name
        self.store = store
        growth = store.settings.chunkSize
        filling = WriteBlock(capacity: Self.blockSize)
    }

    deinit {
        guard isOpen else { return }
        // Dropped without commit or abort: close and remove once the writes in flight are done.
        let (writes, image, store, name) = (self.writes, self.image, self.store, self.name)
        Task {
            for write in writes { _ = try? await write.value }
            try? await store.run { pool in
                rbd_close(image.handle)
                try pool.remove(name)
            }
        }
    }

    func write(_ chunk: ByteBuffer) async throws {
        guard isOpen else { throw RBDError.writerClosed }
        var rest = chunk
        while rest.readableBytes > 0, let block = filling {
            let n = min(rest.readableBytes, block.capacity - block.count)
            rest.withUnsafeReadableBytes {
                (block.pointer + block.count).copyMemory(from: $0.baseAddress!, byteCount: n)
            }
            block.count += n
            rest.moveReaderIndex(forwardBy: n)
            if block.count == block.capacity { try await flush() }
        }
    }

    /// Queues the gathered block for writing (first growing the image if it would not fit)
    /// and goes on with another.
    private func flush() async throws {
        guard let block = filling, block.count > 0 else { return }
        let (image, at, name) = (self.image, self.offset, self.name)
        if at + block.count > size {
            growth = min(growth * 2, Self.maxGrowth)
            let newSize = max(size + growth, at + block.count)
            try await store.threads.runIfActive {
                let r = rbd_resize(image.handle, UInt64(newSize))
                try check(r, "growing RBD image \(name) to \(newSize) bytes")
            }
            size = newSize
        }
        offset += block.count
        if writes.count >= Self.writesInFlight { spares.append(try await writes.removeFirst().value) }
        writes.append(
            Task { [threads = store.threads] in
                try await threads.runIfActive {
                    let written = rbd_write(
                        image.handle, UInt64(at), block.count, block.pointer.assumingMemoryBound(to: CChar.self))
                    try check(written, "writing RBD image \(name) at \(at)")
                    guard written == block.count else {
                        throw RBDError.call("writing RBD image \(name) at \(at): short write", -EIO)
                    }
                    return block
                }
            })
        if let spare = spares.popLast() {
            spare.count = 0
            filling = spare
        } else {
            filling = WriteBlock(capacity: Self.blockSize)
            blocksMade += 1
        }
    }

    func commit() async throws -> String {
        guard isOpen else { throw RBDError.writerClosed }
        try await flush()
        while !writes.isEmpty { spares.append(try await writes.removeFirst().value) }
        spares.removeAll()
        filling = nil
        let (image, name, total) = (self.image, self.name, self.offset)
        try await store.threads.runIfActive {
            let h = image.handle
            try check(rbd_resize(h, UInt64(total)), "resizing RBD image \(name) to \(total) bytes")
            try check(rbd_flush(h), "flushing RBD image \(name)")
            try check(rbd_snap_create(h, RBDBlobStore.snapshot), "creating RBD snapshot \(name)@snap")
            try check(rbd_snap_protect(h, RBDBlobStore.snapshot), "protecting RBD snapshot \(name)@snap")
            rbd_close(h)
        }
        isOpen = false
        return name
    }

    func abort() async {
        guard isOpen else { return }
        isOpen = false
        while !writes.isEmpty { _ = try? await writes.removeFirst().value }
        let (image, name) = (self.image, self.name)
        do {
            try await store.run { pool in
                rbd_close(image.handle)
                try pool.remove(name)
            }
        } catch {
            store.logger.warning(
                "could not remove the data of an aborted upload; the orphan sweep will",
                metadata: ["image": "\(store.settings.pool)/\(name)", "error": "\(error)"])
        }
    }
}
#endif
