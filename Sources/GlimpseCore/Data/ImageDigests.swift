import Crypto
import NIOCore

/// The digests Glance records for image data: MD5 (`checksum`) and SHA-512
/// (`os_hash_value`, `os_hash_algo` = `sha512`), computed in one pass.
public struct ImageDigests: Sendable {
    var md5 = Insecure.MD5()
    var sha512 = SHA512()
    public private(set) var byteCount = 0

    public init() {}

    public mutating func update(_ chunk: ByteBuffer) {
        chunk.withUnsafeReadableBytes { bytes in
            md5.update(bufferPointer: bytes)
            sha512.update(bufferPointer: bytes)
        }
        byteCount += chunk.readableBytes
    }

    public mutating func updateMD5(_ chunk: ByteBuffer) {
        chunk.withUnsafeReadableBytes { md5.update(bufferPointer: $0) }
        byteCount += chunk.readableBytes
    }

    public mutating func updateSHA512(_ chunk: ByteBuffer) {
        chunk.withUnsafeReadableBytes { sha512.update(bufferPointer: $0) }
    }

    /// Hex digests: (md5, sha512).
    public func finalize() -> (md5: String, sha512: String) {
        (hexString(md5.finalize()), hexString(sha512.finalize()))
    }
}

/// Lower-case hex of a digest.
public func hexString(_ digest: some Sequence<UInt8>) -> String {
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in digest {
        out.append(hex[Int(b >> 4)])
        out.append(hex[Int(b & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}
