#if RBD
import CRBD
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a byte range of an image's snapshot in chunks on the thread pool, one chunk ahead
/// of the consumer: while one chunk is being sent, the next is read.
final class RBDReader: Sendable {
    struct State {
        var offset: Int
        /// The read the consumer waits for, and the one after it.
        var current: Task<ByteBuffer, any Error>?
        var ahead: Task<ByteBuffer, any Error>?
        var open = true
    }
    static let chunkSize = 4 << 20

    let state: Mutex<State>
    let image: RBDImage
    let name: String
    let end: Int
    let threads: NIOThreadPool

    init(image: RBDImage, name: String, offset: Int, end: Int, threads: NIOThreadPool) {
        self.state = Mutex(State(offset: offset))
        self.image = image
        self.name = name
        self.end = end
        self.threads = threads
    }

    deinit { close() }

    /// Starts reading the chunk at the current offset (and moves the offset past it).
    private func startRead(_ s: inout State) -> Task<ByteBuffer, any Error>? {
        let size = min(Self.chunkSize, end - s.offset)
        guard s.open, size > 0 else { return nil }
        let (image, name, at, threads) = (self.image, self.name, s.offset, self.threads)
        s.offset += size
        return Task {
            try await threads.runIfActive {
                var buffer = ByteBufferAllocator().buffer(capacity: size)
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                    let n = rbd_read2(
                        image.handle, UInt64(at), size, out.baseAddress!.assumingMemoryBound(to: CChar.self),
                        Int32(LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL))
                    try check(n, "reading RBD snapshot \(name)@snap at \(at)")
                    guard n == size else { throw RBDError.call("reading RBD snapshot \(name)@snap at \(at)", -EIO) }
                    return n
                }
                return buffer
            }
        }
    }

    func next() async throws -> ByteBuffer? {
        let current = state.withLock { s -> Task<ByteBuffer, any Error>? in
            s.current = s.ahead ?? startRead(&s)
            s.ahead = s.current == nil ? nil : startRead(&s)
            return s.current
        }
        guard let current else {
            close()
            return nil
        }
        do {
            return try await current.value
        } catch {
            close()
            throw error
        }
    }

    /// Closes the image, once the reads in flight are done with it.
    func close() {
        let reads = state.withLock { s -> [Task<ByteBuffer, any Error>]? in
            guard s.open else { return nil }
            s.open = false
            defer { (s.current, s.ahead) = (nil, nil) }
            return [s.current, s.ahead].compactMap { $0 }
        }
        guard let reads else { return }
        let (image, threads) = (self.image, self.threads)
        Task {
            for read in reads { _ = try? await read.value }
            _ = try? await threads.runIfActive { rbd_close(image.handle) }
        }
    }
}
#endif
