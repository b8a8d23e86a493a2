import OpenStackEncoding

#if os(Linux)
import CLibCrypto
#else
import Crypto
#endif

/// Incremental MD5, SHA-1 and SHA-2 digests for image data.
///
/// On Linux they come from the system's libcrypto (OpenSSL 3), whose assembly
/// implementations run on every x86-64 CPU; BoringSSL (swift-crypto) skips its SHA-512
/// assembly on AMD processors and hashes at half the speed there. Elsewhere swift-crypto
/// is used. One digest is used by one task at a time.
public final class StreamDigest: @unchecked Sendable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case md5, sha1, sha256, sha384, sha512

        /// The length of the digest in bytes.
        public var size: Int {
            switch self {
            case .md5: 16
            case .sha1: 20
            case .sha256: 32
            case .sha384: 48
            case .sha512: 64
            }
        }
    }

    public let algorithm: Algorithm

    #if os(Linux)
    private let ctx: OpaquePointer

    public init(_ algorithm: Algorithm) {
        self.algorithm = algorithm
        ctx = EVP_MD_CTX_new()
        let md: OpaquePointer? =
            switch algorithm {
            case .md5: EVP_md5()
            case .sha1: EVP_sha1()
            case .sha256: EVP_sha256()
            case .sha384: EVP_sha384()
            case .sha512: EVP_sha512()
            }
        EVP_DigestInit_ex(ctx, md, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(ctx, base, bytes.count)
    }

    /// The digest as lower-case hex. The digest is finished afterwards.
    public func hexDigest() -> String {
        var out = [UInt8](repeating: 0, count: 64)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &len)
        return Hex.encode(out.prefix(Int(len)))
    }
    #else
    private var state: State

    enum State {
        case md5(Insecure.MD5), sha1(Insecure.SHA1), sha256(SHA256), sha384(SHA384), sha512(SHA512)
    }

    public init(_ algorithm: Algorithm) {
        self.algorithm = algorithm
        state =
            switch algorithm {
            case .md5: .md5(Insecure.MD5())
            case .sha1: .sha1(Insecure.SHA1())
            case .sha256: .sha256(SHA256())
            case .sha384: .sha384(SHA384())
            case .sha512: .sha512(SHA512())
            }
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .md5(var h):
            h.update(bufferPointer: bytes)
            state = .md5(h)
        case .sha1(var h):
            h.update(bufferPointer: bytes)
            state = .sha1(h)
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        case .sha384(var h):
            h.update(bufferPointer: bytes)
            state = .sha384(h)
        case .sha512(var h):
            h.update(bufferPointer: bytes)
            state = .sha512(h)
        }
    }

    public func hexDigest() -> String {
        switch state {
        case .md5(let h): Hex.encode(h.finalize())
        case .sha1(let h): Hex.encode(h.finalize())
        case .sha256(let h): Hex.encode(h.finalize())
        case .sha384(let h): Hex.encode(h.finalize())
        case .sha512(let h): Hex.encode(h.finalize())
        }
    }
    #endif

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }
}
