import OpenStackEncoding
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Random identifiers.
public enum Identifiers {
    /// A random (version 4) UUID, lower-case, `8-4-4-4-12`. Every request gets one (its
    /// request id) and every new image: its bits come from `pool`, which asks the system for
    /// 256 bytes at a time, so that most take no system call.
    public static func uuid() -> String {
        var bytes = pool.withLock { $0.take(16) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        return String(unsafeUninitializedCapacity: 36) { out in
            var j = 0
            for (i, b) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 {
                    out[j] = UInt8(ascii: "-")
                    j += 1
                }
                out[j] = Hex.digit(b >> 4)
                out[j + 1] = Hex.digit(b & 0xF)
                j += 2
            }
            return j
        }
    }

    /// 32 random hex digits: Keystone-style ids for users, projects and roles.
    public static func hexId() -> String {
        randomHex(bytes: 16)
    }

    /// `bytes` random bytes as hex.
    public static func randomHex(bytes count: Int) -> String {
        Hex.encode(randomBytes(count))
    }

    /// Random bytes from the system generator, straight from it (secrets — tokens, salts —
    /// are never kept in a buffer): a system call per 256 bytes.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var filled = 0
            while filled < count {
                let n = min(count - filled, 256)
                // getentropy(3) fails only for more than 256 bytes or a bad address.
                precondition(getentropy(buffer.baseAddress! + filled, n) == 0, "getentropy failed: errno \(errno)")
                filled += n
            }
            initialized = count
        }
    }

    /// Random bytes for UUIDs, refilled from the system generator.
    struct Pool {
        var bytes: [UInt8] = []
        var next = 0

        /// The next `count` (at most 256) bytes, each handed out once.
        mutating func take(_ count: Int) -> [UInt8] {
            if next + count > bytes.count {
                bytes = Identifiers.randomBytes(256)
                next = 0
            }
            defer { next += count }
            return Array(bytes[next..<next + count])
        }
    }

    static let pool = Mutex(Pool())
}
