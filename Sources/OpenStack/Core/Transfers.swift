import Crypto
import Foundation
import NIOCore
import NIOPosix
import OpenStackEncoding
import Synchronization

/// Where upload data comes from: `.file(path)`, `.bytes(array)` or `.stream(sequence, length:)`.
/// Files and in-memory bytes can be read again, so a failed attempt can be retried (and
/// re-authenticated); a stream is read once and never replayed.
public struct UploadSource: Sendable {
    enum Kind: Sendable {
        case file(String)
        case bytes([UInt8])
        case stream(@Sendable () -> AnyByteChunks, length: Int64?)
    }

    let kind: Kind

    /// A file, read in 1 MiB chunks.
    public static func file(_ path: String) -> UploadSource { UploadSource(kind: .file(path)) }
    /// Bytes in memory.
    public static func bytes(_ bytes: [UInt8]) -> UploadSource { UploadSource(kind: .bytes(bytes)) }
    /// Any byte stream; `length` is sent as the image size when known. Read once.
    public static func stream<S: AsyncSequence & Sendable>(_ sequence: S, length: Int64?) -> UploadSource
    where S.Element == ByteBuffer {
        UploadSource(kind: .stream({ UploadSource.erase(sequence) }, length: length))
    }

    var isReplayable: Bool {
        if case .stream = kind { return false }
        return true
    }

    /// The number of bytes, when known.
    public var length: Int64? {
        switch kind {
        case .file(let path):
            return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        case .bytes(let b): return Int64(b.count)
        case .stream(_, let length): return length
        }
    }

    /// The largest piece sent at once, and so the largest HTTP chunk of an upload whose length
    /// is unknown. uWSGI, which serves Glance in most clouds, refuses a chunk of 1 MiB or
    /// more (its default `chunked-input-limit` counts the framing too).
    static let maxChunk = 256 << 10

    /// The data in pieces of at most `maxChunk` bytes, whatever the source's own pieces.
    func chunks() async throws -> AnyByteChunks {
        switch kind {
        case .file(let path):
            let reader = try FileChunkReader(path: path, offset: 0)
            return AnyByteChunks { try await reader.next() }.bounded(by: Self.maxChunk)
        case .bytes(let bytes):
            let state = Mutex(0)
            return AnyByteChunks {
                let start = state.withLock { s -> Int in
                    defer { s += Self.maxChunk }
                    return s
                }
                guard start < bytes.count else { return nil }
                return ByteBuffer(bytes: bytes[start..<min(start + Self.maxChunk, bytes.count)])
            }
        case .stream(let make, _):
            return make().bounded(by: Self.maxChunk)
        }
    }

    static func erase<S: AsyncSequence & Sendable>(_ sequence: S) -> AnyByteChunks where S.Element == ByteBuffer {
        let box = IteratorBox(sequence.makeAsyncIterator())
        return AnyByteChunks { try await box.next() }
    }
}

/// Holds a non-Sendable iterator that is only ever used by one consumer at a time.
final class IteratorBox<I: AsyncIteratorProtocol>: @unchecked Sendable where I.Element == ByteBuffer {
    var iterator: I
    init(_ iterator: I) { self.iterator = iterator }
    func next() async throws -> ByteBuffer? { try await iterator.next() }
}

/// A pull-driven sequence of byte chunks.
struct AnyByteChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let pull: @Sendable () async throws -> ByteBuffer?

    struct AsyncIterator: AsyncIteratorProtocol {
        let pull: @Sendable () async throws -> ByteBuffer?
        mutating func next() async throws -> ByteBuffer? { try await pull() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pull: pull) }

    /// The same bytes in pieces of at most `limit` bytes (slices, not copies), empty pieces
    /// skipped.
    func bounded(by limit: Int) -> AnyByteChunks {
        let held = Mutex<ByteBuffer?>(nil)
        let pull = self.pull
        return AnyByteChunks {
            var buffer = held.withLock { h -> ByteBuffer? in
                defer { h = nil }
                return h
            }
            while (buffer?.readableBytes ?? 0) == 0 {
                guard let next = try await pull() else { return nil }
                buffer = next
            }
            guard var rest = buffer, rest.readableBytes > limit else { return buffer }
            let head = rest.readSlice(length: limit)
            held.withLock { $0 = rest }
            return head
        }
    }
}

/// Reads a file in chunks on NIO's blocking-I/O thread pool.
final class FileChunkReader: Sendable {
    let fd: Int32
    let offset: Mutex<Int64>
    static let chunk = 1 << 20

    init(path: String, offset: Int64) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw OpenStackError(.configuration, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        self.offset = Mutex(offset)
    }

    deinit { close(fd) }

    func next() async throws -> ByteBuffer? {
        let at = offset.withLock { $0 }
        let fd = self.fd
        let buffer = try await NIOThreadPool.singleton.runIfActive { () throws -> ByteBuffer in
            var buf = ByteBufferAllocator().buffer(capacity: Self.chunk)
            _ = try buf.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.chunk) { out in
                while true {
                    let n = pread(fd, out.baseAddress!, Self.chunk, off_t(at))
                    if n < 0, errno == EINTR { continue }
                    if n < 0 { throw OpenStackError(.transport, "read failed: \(String(cString: strerror(errno)))") }
                    return n
                }
            }
            return buf
        }
        if buffer.readableBytes == 0 { return nil }
        offset.withLock { $0 += Int64(buffer.readableBytes) }
        return buffer
    }
}

/// How far a transfer has got.
public struct TransferProgress: Sendable, Equatable {
    /// Bytes moved so far (including bytes already present when resuming).
    public var bytes: Int64
    /// Total bytes, when known.
    public var total: Int64?

    /// 0…1, when the total is known.
    public var fraction: Double? {
        guard let total, total > 0 else { return nil }
        return min(1, Double(bytes) / Double(total))
    }
}

/// MD5 and SHA-512 of the bytes that pass by, computed in one pass.
final class DigestSink: Sendable {
    struct State {
        var md5 = Insecure.MD5()
        var sha512 = SHA512()
        var count: Int64 = 0
    }

    private let state = Mutex(State())

    func reset() { state.withLock { $0 = State() } }

    func update(_ chunk: ByteBuffer) {
        state.withLock { s in
            chunk.withUnsafeReadableBytes { bytes in
                s.md5.update(bufferPointer: bytes)
                s.sha512.update(bufferPointer: bytes)
            }
            s.count += Int64(chunk.readableBytes)
        }
    }

    /// (md5 hex, sha512 hex, byte count)
    func finalize() -> (md5: String, sha512: String, count: Int64) {
        state.withLock { s in (Hex.encode(s.md5.finalize()), Hex.encode(s.sha512.finalize()), s.count) }
    }
}

/// Counts (and optionally hashes) the chunks of an upload as they are sent.
struct ProgressSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: AnyByteChunks
    let total: Int64?
    let progress: (@Sendable (TransferProgress) -> Void)?
    let digests: DigestSink?

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: AnyByteChunks.AsyncIterator
        let total: Int64?
        let progress: (@Sendable (TransferProgress) -> Void)?
        let digests: DigestSink?
        var sent: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else { return nil }
            sent += Int64(chunk.readableBytes)
            digests?.update(chunk)
            progress?(TransferProgress(bytes: sent, total: total))
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        digests?.reset()
        progress?(TransferProgress(bytes: 0, total: total))
        return AsyncIterator(base: base.makeAsyncIterator(), total: total, progress: progress, digests: digests)
    }
}
