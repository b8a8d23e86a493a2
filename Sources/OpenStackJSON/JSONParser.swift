/// Why a document is not valid JSON.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public let message: String
    /// Byte offset of the problem.
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259). Leading and trailing whitespace is allowed;
    /// anything else after the value is an error. Duplicate object keys keep the last value.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        let array = Array(bytes)
        do {
            return try array.withUnsafeBufferPointer { buf in
                var p = JSONByteParser(buf)
                return try p.parseDocument()
            }
        } catch let e as JSONParseError {
            throw e
        } catch {
            throw JSONParseError(message: "invalid JSON", offset: 0)
        }
    }

    /// Parses a JSON document held in a string.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

/// A recursive-descent parser over raw bytes.
struct JSONByteParser {
    let buf: UnsafeBufferPointer<UInt8>
    var i = 0
    var depth = 0
    static let maxDepth = 256

    init(_ buf: UnsafeBufferPointer<UInt8>) { self.buf = buf }

    func fail(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: i) }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipSpace()
        let v = try parseValue()
        skipSpace()
        guard i == buf.count else { throw fail("unexpected data after the JSON value") }
        return v
    }

    @inline(__always)
    mutating func skipSpace() {
        while i < buf.count {
            switch buf[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard i < buf.count else { throw fail("unexpected end of input") }
        switch buf[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectWord("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectWord("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectWord("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character")
        }
    }

    mutating func expectWord(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= buf.count else { throw fail("unexpected end of input") }
        let w = word.utf8Start
        for k in 0..<n where buf[i + k] != w[k] { throw fail("invalid literal") }
        i += n
    }

    mutating func parseObject() throws(JSONParseError) -> JSONValue {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nesting too deep") }
        defer { depth -= 1 }
        i += 1
        var members: [JSONObject.Member] = []
        skipSpace()
        if i < buf.count, buf[i] == UInt8(ascii: "}") {
            i += 1
            return .object(JSONObject())
        }
        while true {
            skipSpace()
            guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipSpace()
            guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            let value = try parseValue()
            members.append(JSONObject.Member(key: key, value: value))
            skipSpace()
            guard i < buf.count else { throw fail("unexpected end of input") }
            if buf[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if buf[i] == UInt8(ascii: "}") {
                i += 1
                break
            }
            throw fail("expected ',' or '}'")
        }
        return .object(JSONObject(members))
    }

    mutating func parseArray() throws(JSONParseError) -> JSONValue {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nesting too deep") }
        defer { depth -= 1 }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < buf.count, buf[i] == UInt8(ascii: "]") {
            i += 1
            return .array(items)
        }
        while true {
            skipSpace()
            items.append(try parseValue())
            skipSpace()
            guard i < buf.count else { throw fail("unexpected end of input") }
            if buf[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if buf[i] == UInt8(ascii: "]") {
                i += 1
                break
            }
            throw fail("expected ',' or ']'")
        }
        return .array(items)
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
        let start = i
        if buf[i] == UInt8(ascii: "-") { i += 1 }
        guard i < buf.count else { throw fail("invalid number") }
        if buf[i] == UInt8(ascii: "0") {
            i += 1
        } else if isDigit(buf[i]) {
            while i < buf.count, isDigit(buf[i]) { i += 1 }
        } else {
            throw fail("invalid number")
        }
        if i < buf.count, buf[i] == UInt8(ascii: ".") {
            i += 1
            guard i < buf.count, isDigit(buf[i]) else { throw fail("invalid number") }
            while i < buf.count, isDigit(buf[i]) { i += 1 }
        }
        if i < buf.count, buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E") {
            i += 1
            if i < buf.count, buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-") { i += 1 }
            guard i < buf.count, isDigit(buf[i]) else { throw fail("invalid number") }
            while i < buf.count, isDigit(buf[i]) { i += 1 }
        }
        return JSONNumber(literal: String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self))
    }

    @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    mutating func parseString() throws(JSONParseError) -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < buf.count {
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buf[start..<i])
                i += 1
                guard let s = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("control character in string") }
            i += 1
        }
        guard i < buf.count else { throw fail("unterminated string") }
        var out = [UInt8](UnsafeBufferPointer(rebasing: buf[start..<i]))
        while i < buf.count {
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                return s
            }
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < buf.count else { throw fail("unterminated string") }
            let e = buf[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard i + 1 < buf.count, buf[i] == UInt8(ascii: "\\"), buf[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate")
                    }
                    i += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("unpaired surrogate")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid escape") }
                out.append(contentsOf: UTF8.encode(u)!)
            default:
                throw fail("invalid escape")
            }
        }
        throw fail("unterminated string")
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= buf.count else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buf[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
