import OpenStackEncoding

/// Random identifiers.
public enum Identifiers {
    /// A random (version 4) UUID, lower-case, `8-4-4-4-12`.
    public static func uuid() -> String {
        var bytes = randomBytes(16)
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let h = Hex.encode(bytes)
        var out = ""
        out.reserveCapacity(36)
        for (i, c) in h.enumerated() {
            if i == 8 || i == 12 || i == 16 || i == 20 { out.append("-") }
            out.append(c)
        }
        return out
    }

    /// 32 random hex digits: Keystone-style ids for users, projects and roles.
    public static func hexId() -> String {
        randomHex(bytes: 16)
    }

    /// `bytes` random bytes as hex.
    public static func randomHex(bytes count: Int) -> String {
        Hex.encode(randomBytes(count))
    }

    /// Random bytes from the system generator.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &g) }
    }
}
