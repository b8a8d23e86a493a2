/// Bounds-checked reads of integers and strings from captured header bytes: every read past
/// the end gives nil, so a truncated or hostile header can never trap.
struct HeaderBytes {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var count: Int { bytes.count }

    func has(_ n: Int, at offset: Int) -> Bool { offset >= 0 && n >= 0 && offset <= bytes.count - n }

    /// Little-endian unsigned integer of `n` (≤ 8) bytes.
    func le(_ offset: Int, _ n: Int) -> UInt64? {
        guard has(n, at: offset) else { return nil }
        var v: UInt64 = 0
        for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | UInt64(bytes[offset + i]) }
        return v
    }

    /// Big-endian unsigned integer of `n` (≤ 8) bytes.
    func be(_ offset: Int, _ n: Int) -> UInt64? {
        guard has(n, at: offset) else { return nil }
        var v: UInt64 = 0
        for i in 0..<n { v = v << 8 | UInt64(bytes[offset + i]) }
        return v
    }

    func starts(with magic: [UInt8], at offset: Int = 0) -> Bool {
        has(magic.count, at: offset) && bytes[offset..<offset + magic.count].elementsEqual(magic)
    }

    func starts(with magic: String, at offset: Int = 0) -> Bool { starts(with: Array(magic.utf8), at: offset) }

    func slice(_ offset: Int, _ n: Int) -> ArraySlice<UInt8>? {
        has(n, at: offset) ? bytes[offset..<offset + n] : nil
    }
}

extension UInt64 {
    /// This value as a stream offset or size, nil when it is beyond any stream (≥ 2^62), so
    /// that arithmetic on it cannot overflow.
    var streamOffset: Int? { self < 1 << 62 ? Int(self) : nil }
}
