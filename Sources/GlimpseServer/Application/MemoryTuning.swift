#if canImport(Glibc)
import Glibc
#endif

/// Keeps the server's memory close to what it uses: large transfer buffers are returned to
/// the system when freed instead of being cached by the allocator, and the number of malloc
/// arenas is capped. (glibc raises its mmap threshold after the first large free, so without
/// this every 1–4 MiB buffer an upload or download touched would stay resident.)
public enum MemoryTuning {
    public static func apply() {
        #if os(Linux)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        _ = mallopt(-3, 256 * 1024)  // M_MMAP_THRESHOLD: allocations of 256 KiB and more are mmapped
        _ = mallopt(-8, 4)  // M_ARENA_MAX
        #endif
    }
}
