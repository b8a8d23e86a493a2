import NIOCore
import NIOPosix
import OpenStackEncoding
import StreamDigests

#if canImport(Glibc)
import Glibc
#endif

/// The digests Glance records for image data: MD5 (`checksum`) and SHA-512
/// (`os_hash_value`, `os_hash_algo` = `sha512`), computed in one pass over the data.
///
/// Chunks are gathered into batches of a few megabytes. Full batches are hashed in the
/// background, MD5 and SHA-512 on threads of their own, while the caller goes on receiving
/// and writing; `update` waits only when a few batches are already queued. So on two or
/// more cores the pair costs about the time of the slower digest, overlapped with the
/// network and the disk, and memory stays bounded (a few batches).
public struct ImageDigests: Sendable {
    private let md5 = StreamDigest(.md5)
    private let sha512 = StreamDigest(.sha512)
    private var batch: [ByteBuffer] = []
    private var batchBytes = 0
    /// The last task of each digest's chain, and the batches not yet hashed by both.
    private var md5Tail: Task<Void, Never>?
    private var sha512Tail: Task<Void, Never>?
    private var outstanding: [(md5: Task<Void, Never>, sha512: Task<Void, Never>)] = []
    public private(set) var byteCount = 0
    /// Threads for hashing, apart from Swift's cooperative pool: a hash of a batch runs for
    /// milliseconds, and on a small machine the cooperative threads must stay free to
    /// receive and write the data in the meantime.
    private let pool: NIOThreadPool
    static let batchSize = 4 << 20
    static let maxOutstanding = 3

    public init(pool: NIOThreadPool) { self.pool = pool }

    /// Adds a chunk; hands a full batch to the hashing threads.
    public mutating func update(_ chunk: ByteBuffer) async {
        byteCount += chunk.readableBytes
        batch.append(chunk)
        batchBytes += chunk.readableBytes
        if batchBytes >= Self.batchSize { await flush() }
    }

    /// Queues the gathered batch on both digests' chains (each digest sees the batches in
    /// order, and either may run ahead of the other); waits while too many are queued.
    private mutating func flush() async {
        guard !batch.isEmpty else { return }
        if outstanding.count >= Self.maxOutstanding {
            let oldest = outstanding.removeFirst()
            await oldest.md5.value
            await oldest.sha512.value
        }
        let work = batch
        batch.removeAll(keepingCapacity: true)
        batchBytes = 0
        let m = Self.chain(after: md5Tail, work, into: md5, on: pool)
        let s = Self.chain(after: sha512Tail, work, into: sha512, on: pool)
        (md5Tail, sha512Tail) = (m, s)
        outstanding.append((m, s))
    }

    static func chain(
        after previous: Task<Void, Never>?, _ chunks: [ByteBuffer], into digest: StreamDigest,
        on pool: NIOThreadPool
    ) -> Task<Void, Never> {
        Task {
            await previous?.value
            let run: @Sendable () -> Void = {
                lowerThreadPriority()
                for c in chunks { c.withUnsafeReadableBytes { digest.update($0) } }
            }
            do {
                try await pool.runIfActive(run)
            } catch {
                run()  // the pool refuses work once shut down: hash here rather than lose the digest
            }
        }
    }

    /// Hex digests: (md5, sha512). The digests are finished afterwards.
    public mutating func finalize() async -> (md5: String, sha512: String) {
        await flush()
        await md5Tail?.value
        await sha512Tail?.value
        outstanding.removeAll()
        return (md5.hexDigest(), sha512.hexDigest())
    }
}

/// Hashing runs at a lower CPU priority than the threads that receive, write and answer
/// requests: when every core is hashing, a thread woken by the network still gets a core at
/// once, so the data keeps flowing (and API requests stay quick) during uploads.
/// (On Linux the nice value is per thread, and `who = 0` names the calling thread.)
/// Idempotent and cheap, so it is simply repeated per batch.
private func lowerThreadPriority() {
    #if os(Linux)
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 5)
    #endif
}
