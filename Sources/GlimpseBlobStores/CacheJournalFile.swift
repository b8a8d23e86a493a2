import GlimpseCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The index of an image cache as a file: each write goes to `<path>.tmp`, is fsynced and
/// renamed over the file, so a crash leaves the old index or the new one, never a mix.
public struct CacheJournalFile: ImageCacheJournal {
    public let path: String
    let pool: NIOThreadPool

    public init(path: String, pool: NIOThreadPool = .singleton) {
        self.path = path
        self.pool = pool
    }

    public func read() async throws -> String? {
        let path = self.path
        return try await pool.runIfActive { () throws -> String? in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                if errno == ENOENT { return nil }
                throw BlobStoreError.io("open \(path)", errno)
            }
            defer { closeDescriptor(fd) }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(bytes.count)) }
                if n < 0, errno == EINTR { continue }
                if n < 0 { throw BlobStoreError.io("read \(path)", errno) }
                if n == 0 { break }
                bytes += buffer[0..<n]
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    public func write(_ text: String) async throws {
        let (path, tmp) = (self.path, self.path + ".tmp")
        try await pool.runIfActive {
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw writeFailure("open \(tmp)", errno) }
            var failure: (any Error)?
            let bytes = Array(text.utf8)
            bytes.withUnsafeBytes { raw in
                do {
                    try LocalBlobWriter.pwriteAll(fd, raw, at: 0, tmp)
                } catch {
                    failure = error
                }
            }
            if failure == nil, fsync(fd) != 0 { failure = writeFailure("fsync \(tmp)", errno) }
            closeDescriptor(fd)
            if failure == nil, rename(tmp, path) != 0 { failure = writeFailure("rename \(tmp)", errno) }
            if let failure {
                unlink(tmp)
                throw failure
            }
        }
    }
}
