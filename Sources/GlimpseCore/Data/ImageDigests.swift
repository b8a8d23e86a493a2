import NIOCore
import StreamDigests

/// The digests Glance records for image data: MD5 (`checksum`) and SHA-512
/// (`os_hash_value`, `os_hash_algo` = `sha512`), computed in one pass over the data.
public struct ImageDigests: Sendable {
    let md5 = StreamDigest(.md5)
    let sha512 = StreamDigest(.sha512)
    public private(set) var byteCount = 0

    public init() {}

    public mutating func update(_ chunk: ByteBuffer) {
        chunk.withUnsafeReadableBytes { bytes in
            md5.update(bytes)
            sha512.update(bytes)
        }
        byteCount += chunk.readableBytes
    }

    /// Hex digests: (md5, sha512). The digests are finished afterwards.
    public func finalize() -> (md5: String, sha512: String) {
        (md5.hexDigest(), sha512.hexDigest())
    }
}

/// Lower-case hex of a digest.
public func hexString(_ digest: some Sequence<UInt8>) -> String { hex(digest) }
