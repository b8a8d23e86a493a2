import GlimpseBlobStores
import GlimpseCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The directory where this server's import plugins keep the data they work on: one of its
/// own under `data_dir/import-work`, named after the process (its upload lease owner, and a
/// random part for each server of the process) and locked while the server runs, so that
/// processes sharing the data directory never touch each other's files. When it is made, the
/// directories whose lock is free (their process ended, however it ended) are removed with
/// the files that imports cut short left in them.
final class ImportWorkDirectory: Sendable {
    let path: String
    private let lock: DataDirectoryLock

    init(under parent: String, owner: String) throws {
        try LocalBlobStore.makeDirectory(parent)
        for name in LocalBlobStore.entries(of: parent) {
            let leftover = "\(parent)/\(name)"
            // A directory still locked is another process's; what is no directory is none of ours.
            guard let unused = try? DataDirectoryLock(directory: leftover) else { continue }
            Self.remove(leftover)
            unused.release()
        }
        let name = owner.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }
        path = "\(parent)/\(String(name))-\(Identifiers.randomHex(bytes: 4))"
        lock = try Self.claim(path)
    }

    /// Makes the directory at `path` and locks it. Another process starting meanwhile may
    /// take the new directory, still unlocked, for a leftover and remove it: then it is made
    /// again.
    private static func claim(_ path: String) throws -> DataDirectoryLock {
        var attempts = 0
        while true {
            do {
                try LocalBlobStore.makeDirectory(path)
                return try DataDirectoryLock(directory: path)
            } catch {
                attempts += 1
                guard attempts < 4 else { throw error }
                usleep(10_000)
            }
        }
    }

    /// Removes the directory (and anything left in it) and lets its lock go.
    func close() {
        Self.remove(path)
        lock.release()
    }

    /// Removes the directory `dir` and the files in it.
    private static func remove(_ dir: String) {
        for name in LocalBlobStore.entries(of: dir) { unlink("\(dir)/\(name)") }
        rmdir(dir)
    }
}
