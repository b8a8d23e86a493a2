import NIOCore
import StreamDigests

/// The digests Glance records for image data: MD5 (`checksum`) and SHA-512
/// (`os_hash_value`, `os_hash_algo` = `sha512`), computed in one pass over the data.
///
/// Chunks are gathered into batches of about a megabyte; for each batch MD5 runs on the
/// calling task while SHA-512 runs in a child task, so on two or more cores the two digests
/// cost the time of the slower one. One batch is hashed at a time, so memory stays bounded.
public struct ImageDigests: Sendable {
    let md5 = StreamDigest(.md5)
    let sha512 = StreamDigest(.sha512)
    private var batch: [ByteBuffer] = []
    private var batchBytes = 0
    public private(set) var byteCount = 0
    static let batchSize = 1 << 20

    public init() {}

    /// Adds a chunk; hashes when a batch is full.
    public mutating func update(_ chunk: ByteBuffer) async {
        byteCount += chunk.readableBytes
        batch.append(chunk)
        batchBytes += chunk.readableBytes
        if batchBytes >= Self.batchSize { await flush() }
    }

    private mutating func flush() async {
        guard !batch.isEmpty else { return }
        let work = batch
        batch.removeAll(keepingCapacity: true)
        batchBytes = 0
        let (md5, sha512) = (self.md5, self.sha512)
        async let shaDone: Void = Self.hash(work, into: sha512)
        Self.hash(work, into: md5)
        await shaDone
    }

    static func hash(_ chunks: [ByteBuffer], into digest: StreamDigest) {
        for c in chunks { c.withUnsafeReadableBytes { digest.update($0) } }
    }

    /// Hex digests: (md5, sha512). The digests are finished afterwards.
    public mutating func finalize() async -> (md5: String, sha512: String) {
        await flush()
        return (md5.hexDigest(), sha512.hexDigest())
    }
}

/// Lower-case hex of a digest.
public func hexString(_ digest: some Sequence<UInt8>) -> String { hex(digest) }
