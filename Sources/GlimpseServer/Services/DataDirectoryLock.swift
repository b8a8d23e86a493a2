import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The lock a server holds on its data directory: a second `glimpse serve` on the same
/// directory is refused rather than sharing the embedded stores. (`glimpse admin` commands
/// do not take it; they are safe beside a running server.) The operating system releases
/// the lock when the process ends, however it ends.
final class DataDirectoryLock: Sendable {
    private let fd: Mutex<Int32>
    let path: String

    struct Held: Error, CustomStringConvertible {
        let directory: String
        let holder: String
        var description: String {
            "the data directory \(directory) is in use by another glimpse serve\(holder.isEmpty ? "" : " (pid \(holder))"); "
                + "stop it first, or give this one its own --data-dir"
        }
    }

    init(directory: String) throws {
        path = directory + "/serve.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw Held(directory: directory, holder: "") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).filter(\.isNumber) : ""
            throw Held(directory: directory, holder: holder)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        self.fd = Mutex(fd)
    }

    /// Lets another server take the directory.
    func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
