import GlimpseCore
import NIOCore
import NIOPosix
import OpenStackEncoding
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Image data as files under a directory: `<root>/<id prefix>/<id>.<random>`.
///
/// A write goes to `<root>/.tmp/` (its pending location `.tmp/<name>`), is fsynced, then
/// renamed into place (and the directory fsynced), so a committed object is complete and
/// durable. A failed write removes its file; a full disk (`ENOSPC`, `EDQUOT`, `EFBIG`, on a
/// write or at the fsync or close) throws `StorageFull`; the file of an upload whose process died is
/// removed by whoever reclaims the upload's lease, or by the orphan sweep. Opening the store
/// touches nothing, so any number of processes may open it while uploads run.
/// File I/O runs on a thread pool, in chunks of about a megabyte.
public final class LocalBlobStore: BlobStore {
    public let id: String
    public let type = "file"
    public let root: String
    let tmp: String
    let pool: NIOThreadPool
    let directIO: Bool
    /// Bytes gathered before a write to disk, and the size of a read.
    static let chunkSize = 1 << 20

    /// Uses (creating it if needed) `root` for image data. `directIO: false` writes through
    /// the page cache even where the file system could bypass it.
    public init(root: String, id: String = "local", pool: NIOThreadPool = .singleton, directIO: Bool = true) throws {
        self.id = id
        self.root = root
        self.tmp = root + "/.tmp"
        self.pool = pool
        self.directIO = directIO
        try Self.makeDirectory(root)
        try Self.makeDirectory(tmp)
    }

    /// Creates a directory and its parents.
    public static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o750) != 0, errno != EEXIST { throw writeFailure("mkdir \(current)", errno) }
        }
    }

    func path(of location: String) throws -> String {
        // Locations are `<2 characters>/<name>` or `.tmp/<name>`; anything else is not ours.
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, !parts[1].hasPrefix("."), !location.contains(".."),
            (parts[0].count == 2 && !parts[0].hasPrefix(".")) || parts[0] == ".tmp"
        else { throw BlobStoreError.badLocation(location) }
        return root + "/" + location
    }

    public func makeWriter(imageId: String) async throws -> any BlobWriter {
        let safe = String(
            imageId.unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" }.map(
                Character.init))
        let name = (safe.isEmpty ? "image" : safe) + "." + Identifiers.randomHex(bytes: 4)
        let prefix = String(name.prefix(2))
        let location = prefix + "/" + name
        let tmpPath = tmp + "/" + name
        let dir = root + "/" + prefix
        let tryDirect = directIO
        let (fd, direct) = try await pool.runIfActive { () throws -> (Int32, Bool) in
            try Self.makeDirectory(dir)
            let flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC
            if tryDirect, let directFlag = directIOFlag {
                let fd = open(tmpPath, flags | directFlag, 0o640)
                if fd >= 0 { return (fd, true) }
                // The file system does not take direct I/O (tmpfs, some network file systems).
                unlink(tmpPath)
            }
            let fd = open(tmpPath, flags, 0o640)
            guard fd >= 0 else { throw writeFailure("open \(tmpPath)", errno) }
            return (fd, false)
        }
        return LocalBlobWriter(
            fd: fd, direct: direct, tmpPath: tmpPath, finalPath: root + "/" + location, directory: dir,
            location: location, pendingLocation: ".tmp/" + name, pool: pool)
    }

    /// `file://` and the data's path, as Glance's file store names its locations.
    public func locationURL(location: String) -> String? {
        (try? path(of: location)).map { "file://" + $0 }
    }

    public func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        let path = try path(of: location)
        let fd = try await pool.runIfActive {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BlobStoreError.io("open \(path)", errno) }
            return fd
        }
        let reader = FileReader(
            fd: fd, offset: range?.lowerBound ?? 0, end: range.map { $0.upperBound + 1 }, pool: pool)
        return ByteStream(pull: { try await reader.next() }, onCancel: { reader.close() })
    }

    public func openFile(location: String) async throws -> (any StoredFile)? {
        let path = try path(of: location)
        let pool = self.pool
        return try await pool.runIfActive {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BlobStoreError.io("open \(path)", errno) }
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                let code = errno
                closeDescriptor(fd)
                throw BlobStoreError.io("stat \(path)", code)
            }
            #if os(Linux)
            posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
            #endif
            return LocalFile(descriptor: fd, size: Int(info.st_size), pool: pool)
        }
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

    /// The directory for pending data can be written to.
    public func checkHealth() async throws {
        let tmp = self.tmp
        try await pool.runIfActive {
            guard access(tmp, W_OK) == 0 else {
                throw ServiceError(
                    .serviceUnavailable, explanation: "\(tmp) cannot be written to: \(String(cString: strerror(errno)))"
                )
            }
        }
    }

    public func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob] {
        let root = self.root
        return try await pool.runIfActive {
            var out: [StoredBlob] = []
            // Directories in byte order (`.tmp` first), then files in byte order within each.
            for dir in Self.entries(of: root) where dir == ".tmp" || (dir.utf8.count == 2 && !dir.hasPrefix(".")) {
                if let marker, let slash = marker.firstIndex(of: "/"), Self.before(dir, String(marker[..<slash])) {
                    continue
                }
                for name in Self.entries(of: root + "/" + dir) {
                    let location = dir + "/" + name
                    if let marker, !Self.before(marker, location) { continue }
                    var st = stat()
                    guard stat(root + "/" + location, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                    out.append(
                        StoredBlob(
                            location: location, pending: dir == ".tmp",
                            modifiedAt: Timestamp(seconds: Int64(Self.modificationSeconds(st))), size: Int(st.st_size)))
                    if out.count == limit { return out }
                }
            }
            return out
        }
    }

    static func before(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// The names in a directory, in byte order, without `.` and `..` (none if it cannot be read).
    public static func entries(of dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted(by: before)
    }

    static func modificationSeconds(_ st: stat) -> Int {
        #if canImport(Darwin)
        Int(st.st_mtimespec.tv_sec)
        #else
        Int(st.st_mtim.tv_sec)
        #endif
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

/// The error for a failed write: `StorageFull` when the file system has no room (or the
/// user's quota is spent, or the file would exceed what the file system takes), as
/// glance_store's filesystem driver says for `ENOSPC` and `EFBIG`; otherwise an I/O error.
func writeFailure(_ what: String, _ code: Int32) -> any Error {
    switch code {
    case ENOSPC, EDQUOT, EFBIG: StorageFull("\(what): \(String(cString: strerror(code)))")
    default: BlobStoreError.io(what, code)
    }
}

/// `close(2)`, under a name that the readers' own `close()` does not hide.
func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}

/// `O_DIRECT` (not exported by Swift's Glibc module): writes that bypass the page cache.
#if os(Linux) && arch(x86_64)
let directIOFlag: Int32? = 0o40000
#elseif os(Linux) && arch(arm64)
let directIOFlag: Int32? = 0o200000
#else
let directIOFlag: Int32? = nil
#endif

/// A page-aligned buffer for direct I/O.
final class AlignedBuffer: @unchecked Sendable {
    static let alignment = 4096
    let pointer: UnsafeMutableRawPointer
    let capacity: Int
    var count = 0

    init(capacity: Int) {
        var p: UnsafeMutableRawPointer?
        posix_memalign(&p, Self.alignment, capacity)
        pointer = p!
        self.capacity = capacity
    }

    deinit { free(pointer) }
}

/// Writes one object, a few batches in flight while the next is gathered (so a slow disk
/// slows the upload instead of filling memory), then commits by fsync and rename.
///
/// Where the file system allows, data goes to disk with direct I/O from page-aligned
/// 4 MiB buffers: the page cache is bypassed, which saves copying every byte through it
/// (about a CPU-second per GiB here) while the upload is hashed. Otherwise chunks are
/// written through the page cache. Used by one task at a time (the upload that made it).
final class LocalBlobWriter: BlobWriter, @unchecked Sendable {
    private let fd: Int32
    private let direct: Bool
    // Buffered mode: chunks waiting to be written.
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    // Direct mode: the buffer being filled, the idle one, and where the next block goes.
    private var filling: AlignedBuffer?
    private var spares: [AlignedBuffer] = []
    private var offset: Int64 = 0
    /// Writes queued on the thread pool, oldest first; each goes to its own offset, so they
    /// may run at once (which keeps the device busy between them).
    private var writes: [Task<AlignedBuffer?, any Error>] = []
    static let writesInFlight = 3
    private var isOpen = true
    let tmpPath: String
    let finalPath: String
    let directory: String
    let location: String
    let pendingLocation: String
    let pool: NIOThreadPool
    static let directBlock = 4 << 20

    init(
        fd: Int32, direct: Bool, tmpPath: String, finalPath: String, directory: String, location: String,
        pendingLocation: String, pool: NIOThreadPool
    ) {
        self.fd = fd
        self.direct = direct
        self.tmpPath = tmpPath
        self.finalPath = finalPath
        self.directory = directory
        self.location = location
        self.pendingLocation = pendingLocation
        self.pool = pool
        if direct { filling = AlignedBuffer(capacity: Self.directBlock) }
    }

    deinit {
        if isOpen {
            close(fd)
            unlink(tmpPath)
        }
    }

    func write(_ chunk: ByteBuffer) async throws {
        guard isOpen else { throw BlobStoreError.closed }
        if direct {
            var rest = chunk
            while rest.readableBytes > 0, let buffer = filling {
                let n = min(rest.readableBytes, buffer.capacity - buffer.count)
                rest.withUnsafeReadableBytes { src in
                    (buffer.pointer + buffer.count).copyMemory(from: src.baseAddress!, byteCount: n)
                }
                buffer.count += n
                rest.moveReaderIndex(forwardBy: n)
                if buffer.count == buffer.capacity { try await flushDirectBlock() }
            }
            return
        }
        pending.append(chunk)
        pendingBytes += chunk.readableBytes
        if pendingBytes >= LocalBlobStore.chunkSize { try await flushPending() }
    }

    /// Direct mode: queues the full buffer for writing and goes on with another.
    private func flushDirectBlock() async throws {
        guard let full = filling else { return }
        let (fd, at, path) = (self.fd, self.offset, self.tmpPath)
        offset += Int64(full.count)
        try await enqueue {
            try Self.pwriteAll(fd, UnsafeRawBufferPointer(start: full.pointer, count: full.count), at: at, path)
            return full
        }
        filling = spares.popLast() ?? AlignedBuffer(capacity: Self.directBlock)
        filling?.count = 0
    }

    /// Buffered mode: queues the pending chunks for writing.
    private func flushPending() async throws {
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
        let (fd, path, start) = (self.fd, self.tmpPath, self.offset)
        offset += Int64(batch.reduce(0) { $0 + $1.readableBytes })
        try await enqueue {
            var at = start
            for buffer in batch {
                try buffer.withUnsafeReadableBytes { try Self.pwriteAll(fd, $0, at: at, path) }
                at += Int64(buffer.readableBytes)
            }
            return nil
        }
    }

    /// Queues a write, first waiting for the oldest when the queue is full: the upload runs
    /// ahead of the disk by a few blocks at most.
    private func enqueue(_ work: @escaping @Sendable () throws -> AlignedBuffer?) async throws {
        if writes.count >= Self.writesInFlight {
            if let returned = try await writes.removeFirst().value { spares.append(returned) }
        }
        writes.append(Task { [pool] in try await pool.runIfActive(work) })
    }

    /// Waits for every queued write; throws the first failure.
    private func drainWrites() async throws {
        while !writes.isEmpty {
            if let returned = try await writes.removeFirst().value { spares.append(returned) }
        }
    }

    static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, _ path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw writeFailure("write \(path)", errno)
            }
            done += n
        }
    }

    func commit() async throws -> String {
        guard isOpen else { throw BlobStoreError.closed }
        if !direct, !pending.isEmpty { try await flushPending() }
        try await drainWrites()
        spares.removeAll()
        let (fd, tmpPath, finalPath, directory, direct, offset) = (
            self.fd, self.tmpPath, self.finalPath, self.directory, self.direct, self.offset
        )
        let last = filling
        try await pool.runIfActive {
            if direct, let last, last.count > 0 {
                // Whole pages go out directly; the tail, which direct I/O cannot write, through the cache.
                let aligned = last.count & ~(AlignedBuffer.alignment - 1)
                if aligned > 0 {
                    try Self.pwriteAll(
                        fd, UnsafeRawBufferPointer(start: last.pointer, count: aligned), at: offset, tmpPath)
                }
                if aligned < last.count, let flag = directIOFlag {
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~flag)
                    try Self.pwriteAll(
                        fd, UnsafeRawBufferPointer(start: last.pointer + aligned, count: last.count - aligned),
                        at: offset + Int64(aligned), tmpPath)
                }
            }
            // A file system that allocates late (or a network one) reports a full disk here.
            guard fsync(fd) == 0 else { throw writeFailure("fsync \(tmpPath)", errno) }
        }
        // From here on the descriptor is closed whatever happens; a failure removes the file.
        isOpen = false
        let closed = close(fd) == 0 ? nil : errno
        try await pool.runIfActive {
            var failure = closed.map { writeFailure("close \(tmpPath)", $0) }
            if failure == nil, rename(tmpPath, finalPath) != 0 { failure = writeFailure("rename \(tmpPath)", errno) }
            if let failure {
                unlink(tmpPath)
                throw failure
            }
            let dfd = open(directory, O_RDONLY | O_DIRECTORY)
            if dfd >= 0 {
                fsync(dfd)
                close(dfd)
            }
        }
        return location
    }

    func abort() async {
        guard isOpen else { return }
        while !writes.isEmpty { _ = try? await writes.removeFirst().value }
        isOpen = false
        close(fd)
        unlink(tmpPath)
    }
}

/// A file of the store, open for a zero-copy send.
final class LocalFile: StoredFile {
    let descriptor: Int32
    let size: Int
    let pool: NIOThreadPool

    init(descriptor: Int32, size: Int, pool: NIOThreadPool) {
        self.descriptor = descriptor
        self.size = size
        self.pool = pool
    }

    deinit { closeDescriptor(descriptor) }

    func load(_ range: Range<Int>) async throws {
        let fd = descriptor
        try await pool.runIfActive {
            guard !range.isEmpty, !Self.isCached(fd, range) else { return }
            // Read through as a sequential reader does: the kernel's read-ahead streams the
            // disk, and goes on past the range while it is sent. The bytes are not kept.
            #if os(Linux)
            if Self.sendToNull(fd, range) { return }
            #endif
            let chunk = 1 << 20
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
            defer { scratch.deallocate() }
            var at = range.lowerBound
            while at < range.upperBound {
                let n = pread(fd, scratch, min(chunk, range.upperBound - at), off_t(at))
                if n < 0, errno == EINTR { continue }
                if n < 0 { throw BlobStoreError.io("read", errno) }
                if n == 0 { break }
                at += n
            }
        }
    }

    #if os(Linux)
    /// `/dev/null`, open for writing, where `sendToNull` sends what it reads.
    static let null = open("/dev/null", O_WRONLY | O_CLOEXEC)

    /// Reads `range` into the page cache by `sendfile` to `/dev/null`: the kernel reads the
    /// pages (with its read-ahead) and copies nothing out of them, several times faster
    /// than reading into a buffer here. False if it could not (the caller reads instead).
    static func sendToNull(_ fd: Int32, _ range: Range<Int>) -> Bool {
        guard null >= 0 else { return false }
        var at = off_t(range.lowerBound)
        while at < range.upperBound {
            let n = sendfile(null, fd, &at, range.upperBound - Int(at))
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return n == 0 }
        }
        return true
    }
    #endif

    /// Whether every page of `range` is in the page cache (`mincore` over a mapping that is
    /// never touched).
    static func isCached(_ fd: Int32, _ range: Range<Int>) -> Bool {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let length = range.upperBound - start
        guard let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(start)),
            map != UnsafeMutableRawPointer(bitPattern: -1)
        else { return false }
        defer { munmap(map, length) }
        var pages = [UInt8](repeating: 0, count: (length + page - 1) / page)
        guard mincore(map, length, &pages) == 0 else { return false }
        return pages.allSatisfy { $0 & 1 == 1 }
    }
}

/// Reads a file range in chunks on the thread pool, one chunk ahead of the consumer: while
/// one chunk is being sent, the next is read.
///
/// The chunk buffers are recycled: the reader keeps the last few it handed out, and once
/// the socket has let go of one, the next read fills the same memory again. A fresh buffer
/// per chunk is a fresh mapping (chunks are above the allocator's mmap threshold) whose
/// pages must be faulted in and zeroed before the read can fill them, and on a virtual
/// machine that returns freed memory to its host, be backed again by the host: that made
/// the copy out of the page cache cost several times the copy itself.
final class FileReader: Sendable {
    struct State {
        var fd: Int32
        var offset: Int
        var ahead: Task<ByteBuffer, any Error>?
        var open = true
        /// Buffers handed out, to fill again once nobody else holds them.
        var spare: [ByteBuffer] = []
    }
    /// Enough for the chunk being sent, the ones queued in the socket and the one read ahead.
    static let spareBuffers = 4

    /// Hands a buffer to the read task without a second reference to it (which would make
    /// the first write to it copy).
    final class BufferSlot: @unchecked Sendable {
        private var buffer: ByteBuffer?
        init(_ buffer: ByteBuffer?) { self.buffer = buffer }
        func take() -> ByteBuffer? {
            defer { buffer = nil }
            return buffer
        }
    }

    let state: Mutex<State>
    let end: Int?
    let pool: NIOThreadPool

    init(fd: Int32, offset: Int, end: Int?, pool: NIOThreadPool) {
        self.state = Mutex(State(fd: fd, offset: offset))
        self.end = end
        self.pool = pool
        #if os(Linux)
        posix_fadvise(fd, off_t(offset), 0, POSIX_FADV_SEQUENTIAL)
        #endif
    }

    deinit { close() }

    /// Starts reading the chunk at the current offset (and moves the offset past it).
    private func startRead(_ s: inout State) -> Task<ByteBuffer, any Error>? {
        var want = LocalBlobStore.chunkSize
        if let end { want = min(want, end - s.offset) }
        guard s.open, want > 0 else { return nil }
        let (fd, at, size, pool) = (s.fd, s.offset, want, self.pool)
        s.offset += want
        let slot = BufferSlot(s.spare.count >= Self.spareBuffers ? s.spare.removeFirst() : nil)
        return Task {
            try await pool.runIfActive {
                var buf = slot.take() ?? ByteBufferAllocator().buffer(capacity: size)
                // Still shared with the socket? Then `clear()` gives it new storage of its own.
                buf.clear()
                _ = try buf.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                    var done = 0
                    while done < size {
                        let n = pread(fd, out.baseAddress! + done, size - done, off_t(at + done))
                        if n < 0, errno == EINTR { continue }
                        if n < 0 { throw BlobStoreError.io("read", errno) }
                        if n == 0 { break }
                        done += n
                    }
                    return done
                }
                return buf
            }
        }
    }

    func next() async throws -> ByteBuffer? {
        let current = state.withLock { s -> Task<ByteBuffer, any Error>? in
            let current = s.ahead ?? startRead(&s)
            s.ahead = current == nil ? nil : startRead(&s)
            return current
        }
        guard let current else {
            close()
            return nil
        }
        let buffer = try await current.value
        if buffer.readableBytes == 0 {
            close()
            return nil
        }
        state.withLock { s in
            if s.open { s.spare.append(buffer) }
        }
        return buffer
    }

    func close() {
        let closing = state.withLock { s -> (fd: Int32, pending: Task<ByteBuffer, any Error>?)? in
            guard s.open else { return nil }
            s.open = false
            s.spare = []
            defer { s.ahead = nil }
            return (s.fd, s.ahead)
        }
        guard let closing else { return }
        if let pending = closing.pending {
            // Close only once the read in flight is done with the descriptor.
            Task {
                _ = try? await pending.value
                closeDescriptor(closing.fd)
            }
        } else {
            closeDescriptor(closing.fd)
        }
    }
}
