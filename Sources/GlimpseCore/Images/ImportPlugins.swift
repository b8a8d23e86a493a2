import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An import plugin (Glance's `image_import_plugins`).
public enum ImportPlugin: String, Sendable, CaseIterable {
    /// Converts the data to `conversionOutputFormat` with `qemu-img`.
    case imageConversion = "image_conversion"
    /// Decompresses gzip and single-file zip data.
    case imageDecompression = "image_decompression"
    /// Sets the properties of `injectedProperties`.
    case injectImageMetadata = "inject_image_metadata"

    /// The programs the plugin runs, which must be installed where it is enabled.
    public var tools: [String] {
        switch self {
        case .imageConversion: ["qemu-img"]
        case .imageDecompression: ["gzip"]
        case .injectImageMetadata: []
        }
    }
}

/// A plugin's failure, recorded as the message of the import's task.
struct ImportPluginFailure: Error, CustomStringConvertible {
    let description: String
}

/// A program the import plugins run: found on `PATH`, started with its arguments (never
/// through a shell), its output sent to a file.
public enum ImportTool {
    /// The program's path, if `PATH` has it.
    public static func locate(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    /// How a program failed: its exit status or signal, and its error output (the first 4 KiB).
    struct Failure {
        var summary: String
        var errors: String
    }

    /// The file a program makes grew past its cap (to `size` bytes, at least); the program
    /// was killed.
    struct OutputTooLarge: Error {
        var size: Int
    }

    #if os(Linux)
    /// glibc's `prlimit`, which the C library module does not declare.
    private static let prlimit = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prlimit").map {
        unsafeBitCast(
            $0,
            to: (@convention(c) (pid_t, Int32, UnsafePointer<rlimit>?, UnsafeMutablePointer<rlimit>?) -> Int32).self)
    }
    #endif

    /// Runs `name` with `arguments`, its standard output into the file `output` (or nowhere),
    /// its error output into a file in `workDirectory`. Returns how it failed; nil when it
    /// succeeded. Cancelling kills the program.
    ///
    /// - Parameter cap: a file the program makes, and the most bytes it may have: past them
    ///   the program is killed and `OutputTooLarge` thrown. The limit on the size of the files
    ///   the program writes (`RLIMIT_FSIZE`, set on Linux as it starts) stops it at once; the
    ///   file's size, checked while it runs, stops it anywhere.
    static func run(
        _ name: String, _ arguments: [String], output: String? = nil, workDirectory: String,
        cap: (file: String, bytes: Int)? = nil
    ) async throws -> Failure? {
        guard let path = locate(name) else { throw ImportPluginFailure(description: "\(name) is not installed") }
        let errors = "\(workDirectory)/\(Identifiers.uuid()).err"
        defer { unlink(errors) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        let variables: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
        let environment = variables.map { strdup($0) } + [nil]
        defer { for variable in environment { free(variable) } }
        var pid = pid_t()
        let started = posix_spawn(&pid, path, &actions, nil, argv, environment)
        guard started == 0 else {
            throw ImportPluginFailure(description: "\(name) could not be started (errno \(started))")
        }
        var status: Int32 = 0
        #if os(Linux)
        if let cap, let prlimit = Self.prlimit {
            var fileSize = rlimit(rlim_cur: rlim_t(cap.bytes + 1), rlim_max: rlim_t(cap.bytes + 1))
            _ = prlimit(pid, Int32(RLIMIT_FSIZE.rawValue), &fileSize, nil)
        }
        #endif
        /// The size of the capped file, when it is past the cap.
        func oversize() -> Int? {
            guard let cap, let size = try? WorkFile.size(of: cap.file), size > cap.bytes else { return nil }
            return size
        }
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited < 0, errno != EINTR {
                throw ImportPluginFailure(description: "\(name) could not be waited for (errno \(errno))")
            }
            do {
                if let size = oversize() { throw OutputTooLarge(size: size) }
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                _ = kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw error
            }
        }
        if let size = oversize() { throw OutputTooLarge(size: size) }
        let exited = status & 0x7f == 0
        guard !exited || (status >> 8) & 0xff != 0 else { return nil }
        let reason = exited ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
        return Failure(
            summary: "\(name) failed (\(reason))",
            errors: String(decoding: WorkFile.head(of: errors, count: 4096), as: UTF8.self))
    }
}

/// Files of the import work directory, written and read a chunk at a time on a thread pool.
enum WorkFile {
    /// Bytes read at a time.
    static let chunkSize = 1 << 20

    /// The first `count` bytes of the file at `path` (fewer when it is shorter or unreadable).
    static func head(of path: String, count: Int) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, 0) }
        return Array(bytes.prefix(max(0, read)))
    }

    /// The size of the file at `path`.
    static func size(of path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw failure("stat", path) }
        return Int(info.st_size)
    }

    /// Creates the file at `path` (which must not exist) and writes each chunk of `body` to
    /// it, calling `progress` with the bytes written so far after each.
    static func create<Body: AsyncSequence>(
        _ path: String, from body: Body, pool: NIOThreadPool, progress: (Int) throws -> Void
    ) async throws where Body.Element == ByteBuffer {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create", path) }
        defer { close(fd) }
        var total = 0
        for try await chunk in body {
            try Task.checkCancellation()
            try await pool.runIfActive {
                try chunk.withUnsafeReadableBytes { bytes in
                    var done = 0
                    while done < bytes.count {
                        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                        if n < 0, errno == EINTR { continue }
                        guard n > 0 else { throw failure("write", path) }
                        done += n
                    }
                }
            }
            total += chunk.readableBytes
            try progress(total)
        }
    }

    /// The file at `path` as a stream of chunks; the file is open until the stream ends or
    /// is cancelled.
    static func read(_ path: String, pool: NIOThreadPool) throws -> ByteStream {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", path) }
        let state = Mutex<(fd: Int32, offset: Int)>((fd, 0))
        let closeFile: @Sendable () -> Void = {
            state.withLock { s in
                if s.fd >= 0 { close(s.fd) }
                s.fd = -1
            }
        }
        return ByteStream(
            pull: {
                let (fd, offset) = state.withLock { $0 }
                guard fd >= 0 else { return nil }
                let chunk = try await pool.runIfActive { () throws -> ByteBuffer in
                    var buffer = ByteBuffer()
                    _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { bytes in
                        let n = pread(fd, bytes.baseAddress, chunkSize, off_t(offset))
                        guard n >= 0 else { throw failure("read", path) }
                        return n
                    }
                    return buffer
                }
                guard chunk.readableBytes > 0 else {
                    closeFile()
                    return nil
                }
                state.withLock { $0.offset += chunk.readableBytes }
                return chunk
            }, onCancel: closeFile)
    }

    static func failure(_ operation: String, _ path: String) -> ImportPluginFailure {
        ImportPluginFailure(description: "could not \(operation) \(path): errno \(errno)")
    }
}
