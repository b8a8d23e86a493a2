#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GlimpseCore
import NIOCore
import NIOPosix
import Synchronization

/// Image data as files under a directory: `<root>/<id prefix>/<id>.<random>`.
///
/// A write goes to `<root>/.tmp/`, is fsynced, then renamed into place (and the directory
/// fsynced), so a committed object is complete and durable and a failed one leaves nothing.
/// File I/O runs on NIO's blocking-I/O thread pool, in chunks of about a megabyte.
public final class LocalBlobStore: BlobStore {
    public let id: String
    public let type = "file"
    public let root: String
    let tmp: String
    let pool: NIOThreadPool
    /// Bytes gathered before a write to disk, and the size of a read.
    static let chunkSize = 1 << 20

    /// Uses (creating it if needed) `root` for image data.
    public init(root: String, id: String = "local", pool: NIOThreadPool = .singleton) throws {
        self.id = id
        self.root = root
        self.tmp = root + "/.tmp"
        self.pool = pool
        try Self.makeDirectory(root)
        try Self.makeDirectory(tmp)
        // Temporary files of writes interrupted by a crash.
        Self.removeContents(of: tmp)
    }

    /// Creates a directory and its parents.
    public static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o750) != 0, errno != EEXIST { throw BlobStoreError.io("mkdir \(current)", errno) }
        }
    }

    static func removeContents(of dir: String) {
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != ".", name != ".." { unlink(dir + "/" + name) }
        }
    }

    func path(of location: String) throws -> String {
        // Locations are `<2 hex>/<name>`; anything else is not ours.
        let parts = location.split(separator: "/")
        guard parts.count == 2, !location.contains(".."), parts[0].count == 2 else {
            throw BlobStoreError.badLocation(location)
        }
        return root + "/" + location
    }

    public func makeWriter(imageId: String) async throws -> any BlobWriter {
        let safe = String(imageId.unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" }.map(Character.init))
        let name = (safe.isEmpty ? "image" : safe) + "." + Identifiers.randomHex(bytes: 4)
        let prefix = String(name.prefix(2))
        let location = prefix + "/" + name
        let tmpPath = tmp + "/" + name
        let dir = root + "/" + prefix
        let fd = try await pool.runIfActive {
            try Self.makeDirectory(dir)
            let fd = open(tmpPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw BlobStoreError.io("open \(tmpPath)", errno) }
            return fd
        }
        return LocalBlobWriter(fd: fd, tmpPath: tmpPath, finalPath: root + "/" + location, directory: dir,
                               location: location, pool: pool)
    }

    public func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        let path = try path(of: location)
        let fd = try await pool.runIfActive {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BlobStoreError.io("open \(path)", errno) }
            return fd
        }
        let reader = FileReader(fd: fd, offset: range?.lowerBound ?? 0, end: range.map { $0.upperBound + 1 }, pool: pool)
        return ByteStream(pull: { try await reader.next() }, onCancel: { reader.close() })
    }

    public func delete(location: String) async throws {
        let path = try path(of: location)
        try await pool.runIfActive {
            if unlink(path) != 0, errno != ENOENT { throw BlobStoreError.io("unlink \(path)", errno) }
        }
    }

    public func freeSpace() async -> Int? {
        var s = statvfs()
        guard statvfs(root, &s) == 0 else { return nil }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }
}

/// Errors of the blob stores.
public enum BlobStoreError: Error, CustomStringConvertible, Sendable {
    case io(String, Int32)
    case badLocation(String)
    case closed

    public var description: String {
        switch self {
        case .io(let what, let code): "\(what): \(String(cString: strerror(code)))"
        case .badLocation(let l): "not a location of this store: \(l)"
        case .closed: "the writer is closed"
        }
    }
}

/// Writes one object: gathers chunks into batches of about a megabyte and writes each batch
/// on the thread pool while the next one is being gathered (one write in flight at most, so
/// a slow disk slows the upload instead of filling memory); commits by fsync and rename.
///
/// Used by one task at a time (the upload that made it).
final class LocalBlobWriter: BlobWriter, @unchecked Sendable {
    private var fd: Int32
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    private var inflight: Task<Void, any Error>?
    private var isOpen = true
    let tmpPath: String
    let finalPath: String
    let directory: String
    let location: String
    let pool: NIOThreadPool

    init(fd: Int32, tmpPath: String, finalPath: String, directory: String, location: String, pool: NIOThreadPool) {
        self.fd = fd
        self.tmpPath = tmpPath
        self.finalPath = finalPath
        self.directory = directory
        self.location = location
        self.pool = pool
    }

    deinit {
        if isOpen {
            close(fd)
            unlink(tmpPath)
        }
    }

    func write(_ chunk: ByteBuffer) async throws {
        guard isOpen else { throw BlobStoreError.closed }
        pending.append(chunk)
        pendingBytes += chunk.readableBytes
        if pendingBytes >= LocalBlobStore.chunkSize { try await startFlush() }
    }

    /// Waits for the previous batch, then starts writing the pending one.
    private func startFlush() async throws {
        try await inflight?.value
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
        let (fd, path, pool) = (self.fd, self.tmpPath, self.pool)
        inflight = Task { try await pool.runIfActive { try Self.writeAll(fd, batch, path) } }
    }

    static func writeAll(_ fd: Int32, _ batch: [ByteBuffer], _ path: String) throws {
        for buffer in batch {
            try buffer.withUnsafeReadableBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw BlobStoreError.io("write \(path)", errno)
                    }
                    done += n
                }
            }
        }
    }

    func commit() async throws -> String {
        guard isOpen else { throw BlobStoreError.closed }
        if !pending.isEmpty { try await startFlush() }
        try await inflight?.value
        inflight = nil
        let (fd, tmpPath, finalPath, directory) = (self.fd, self.tmpPath, self.finalPath, self.directory)
        try await pool.runIfActive {
            guard fsync(fd) == 0 else { throw BlobStoreError.io("fsync \(tmpPath)", errno) }
            guard rename(tmpPath, finalPath) == 0 else { throw BlobStoreError.io("rename \(tmpPath)", errno) }
            let dfd = Glibc.open(directory, O_RDONLY | O_DIRECTORY)
            if dfd >= 0 {
                fsync(dfd)
                close(dfd)
            }
        }
        close(fd)
        isOpen = false
        return location
    }

    func abort() async {
        guard isOpen else { return }
        _ = try? await inflight?.value
        inflight = nil
        isOpen = false
        close(fd)
        unlink(tmpPath)
    }
}

/// Reads a file range in chunks on the thread pool, one chunk per `next()`.
final class FileReader: Sendable {
    struct State {
        var fd: Int32
        var offset: Int
        var open = true
    }

    let state: Mutex<State>
    let end: Int?
    let pool: NIOThreadPool
    let allocator = ByteBufferAllocator()

    init(fd: Int32, offset: Int, end: Int?, pool: NIOThreadPool) {
        self.state = Mutex(State(fd: fd, offset: offset))
        self.end = end
        self.pool = pool
    }

    deinit { close() }

    func next() async throws -> ByteBuffer? {
        let (fd, offset, open) = state.withLock { ($0.fd, $0.offset, $0.open) }
        guard open else { return nil }
        var want = LocalBlobStore.chunkSize
        if let end { want = min(want, end - offset) }
        if want <= 0 {
            close()
            return nil
        }
        let allocator = self.allocator
        let size = want
        let buffer: ByteBuffer = try await pool.runIfActive {
            var buf = allocator.buffer(capacity: size)
            let n = try buf.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                while true {
                    let n = pread(fd, out.baseAddress!, size, off_t(offset))
                    if n < 0, errno == EINTR { continue }
                    if n < 0 { throw BlobStoreError.io("read", errno) }
                    return n
                }
            }
            _ = n
            return buf
        }
        if buffer.readableBytes == 0 {
            close()
            return nil
        }
        state.withLock { $0.offset += buffer.readableBytes }
        return buffer
    }

    func close() {
        state.withLock { s in
            if s.open {
                Glibc.close(s.fd)
                s.open = false
            }
        }
    }
}
