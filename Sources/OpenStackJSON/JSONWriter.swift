/// Writes compact JSON straight into a byte array, without building a value tree first.
///
/// The caller is responsible for the structure (balanced begin/end calls, a key before each
/// object member); the writer takes care of commas, escaping and number formatting.
/// Non-ASCII text is written as UTF-8, not as `\u` escapes.
public struct JSONWriter: Sendable {
    public internal(set) var bytes: [UInt8]
    /// For each open container: whether it already holds an element.
    var needsComma: [Bool] = []
    var afterKey = false

    public init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        if let last = needsComma.last {
            if last { bytes.append(UInt8(ascii: ",")) } else { needsComma[needsComma.count - 1] = true }
        }
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes an object key; the next value written is its value.
    public mutating func key(_ k: String) {
        separate()
        writeEscaped(k)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func string(_ s: String) {
        separate()
        writeEscaped(s)
    }

    /// Writes a string, or `null` when it is nil.
    public mutating func string(_ s: String?) {
        if let s { string(s) } else { null() }
    }

    public mutating func int(_ v: Int) {
        separate()
        writeInt(v)
    }

    /// Writes an integer, or `null` when it is nil.
    public mutating func int(_ v: Int?) {
        if let v { int(v) } else { null() }
    }

    public mutating func bool(_ b: Bool) {
        separate()
        if b {
            bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        } else {
            bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        }
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
    }

    public mutating func number(_ n: JSONNumber) {
        separate()
        bytes.append(contentsOf: n.text.utf8)
    }

    /// Inserts bytes that already are one complete JSON value.
    public mutating func raw(_ json: some Sequence<UInt8>) {
        separate()
        bytes.append(contentsOf: json)
    }

    /// Writes any JSON value.
    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { value(item) }
            endArray()
        case .object(let o):
            beginObject()
            for m in o {
                key(m.key)
                value(m.value)
            }
            endObject()
        }
    }

    mutating func writeInt(_ v: Int) {
        if v == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = v.magnitude
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while magnitude > 0 {
                d[n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            }
            for k in stride(from: n - 1, through: 0, by: -1) { bytes.append(d[k]) }
        }
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func writeEscaped(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0
            for (idx, c) in utf8.enumerated() where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
                if runStart < idx { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<idx])) }
                runStart = idx + 1
                switch c {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                default:
                    bytes.append(contentsOf: [
                        0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        Self.hex[Int(c >> 4)], Self.hex[Int(c & 0xF)],
                    ])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// Compact JSON bytes for this value.
    public func serialized() -> [UInt8] {
        var w = JSONWriter()
        w.value(self)
        return w.bytes
    }

    /// Compact JSON text for this value.
    public var jsonString: String { String(decoding: serialized(), as: UTF8.self) }
}
