#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tmpfs of a few MiB mounted inside a test's own temporary folder, to run a server on a
/// disk that fills up. Needs root; tests that use it are enabled only if `available`.
public struct SmallFileSystem: Sendable {
    /// The mount point.
    public let path: String

    /// Mounts a tmpfs of `megabytes` MiB at `path` (created if needed); nil if that fails.
    public static func mount(megabytes: Int, at path: String) -> SmallFileSystem? {
        mkdir(path, 0o755)
        guard system("mount -t tmpfs -o size=\(megabytes)m glimpse-test '\(path)' 2>/dev/null") == 0 else { return nil }
        return SmallFileSystem(path: path)
    }

    /// Root may mount a tmpfs here (tried once, in a folder of its own).
    public static let available: Bool = {
        guard geteuid() == 0 else { return false }
        let dir = TestServer.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        guard let probe = mount(megabytes: 1, at: dir + "/probe") else { return false }
        probe.unmount()
        return true
    }()

    public static let unavailable = "mounting a tmpfs needs root (and a kernel that allows it)"

    public func unmount() {
        _ = system("umount -l '\(path)'")
    }

    /// Writes a file of zeros until the file system is full; returns the bytes written.
    @discardableResult
    public func fill(name: String = "filler") -> Int {
        let fd = open(path + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let block = [UInt8](repeating: 0, count: 64 << 10)
        var total = 0
        var size = block.count
        // Whole blocks, then ever smaller pieces down to a byte, so nothing is left.
        while size > 0 {
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress!, size) }
            if n > 0 { total += n } else { size /= 2 }
        }
        return total
    }

    /// The regular files under the mount point, as paths relative to it.
    public func files() -> [String] {
        var out: [String] = []
        func walk(_ relative: String) {
            guard let dir = opendir(path + relative) else { return }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name == "." || name == ".." { continue }
                let child = relative + "/" + name
                var st = stat()
                guard lstat(path + child, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR { walk(child) } else { out.append(child) }
            }
        }
        walk("")
        return out.sorted()
    }
}
