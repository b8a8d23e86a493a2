import OpenStackJSON
import PropertyBased
import Testing

/// Random documents: what the parser reads back must be what was written, member order and
/// number literals included; random and damaged bytes must give a `JSONParseError` that
/// points into the input, never a crash or a hang.
@Suite("JSON parser: properties")
struct JSONPropertyTests {
    @Test("a generated value reads back identical from its text, with any whitespace between tokens")
    func roundTrip() async throws {
        await propertyCheck(count: 300, input: JSONGen.value) { value in
            let compact = value.serialized()
            let reparsed = try JSONValue.parse(compact)
            #expect(JSONGen.identical(reparsed, value), "\(String(decoding: compact, as: UTF8.self))")
            #expect(reparsed.serialized() == compact)
            let spaced = JSONGen.spacedText(value)
            #expect(JSONGen.identical(try JSONValue.parse(spaced), value), "\(spaced)")
        }
    }

    @Test("random bytes give a value that round-trips, or an error pointing into the input")
    func randomBytes() async {
        await propertyCheck(count: 2000, input: JSONGen.bytes) { input in
            Self.checkOutcome(input)
        }
    }

    @Test("damaged documents: a value that round-trips, or an error pointing into the input")
    func mutations() async {
        await propertyCheck(count: 1000, input: JSONGen.value, Gen.int(in: 0...Int.max).array(of: 1...4)) {
            value, edits in
            var bytes = value.serialized()
            for edit in edits where !bytes.isEmpty {
                let at = edit % bytes.count
                switch edit % 4 {
                case 0: bytes.remove(at: at)
                case 1: bytes.insert(UInt8(truncatingIfNeeded: edit >> 8), at: at)
                case 2: bytes[at] = UInt8(truncatingIfNeeded: edit >> 8)
                default: bytes.removeSubrange(at...)
                }
            }
            Self.checkOutcome(bytes)
        }
    }

    @Test("every proper prefix of an array or object document is refused at or before its end")
    func truncated() async {
        await propertyCheck(count: 200, input: JSONGen.container) { value in
            let bytes = value.serialized()
            for end in 0..<bytes.count {
                #expect(throws: JSONParseError.self, "prefix \(end) of \(value.jsonString)") {
                    try JSONValue.parse(bytes[..<end])
                }
                do {
                    _ = try JSONValue.parse(bytes[..<end])
                } catch let error as JSONParseError {
                    #expect(error.offset <= end)
                    #expect(!error.message.isEmpty)
                }
            }
        }
    }

    /// Parsing `input` either succeeds, and the value's text parses back to the same value, or
    /// fails with a message and an offset inside the input.
    static func checkOutcome(_ input: [UInt8]) {
        do {
            let value = try JSONValue.parse(input)
            let text = value.serialized()
            let again = try? JSONValue.parse(text)
            #expect(again.map { JSONGen.identical($0, value) } == true, "\(input)")
        } catch let error as JSONParseError {
            #expect(error.offset >= 0 && error.offset <= input.count, "\(error) for \(input)")
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("not a JSONParseError: \(error)")
        }
    }
}

/// Generators of JSON values whose texts exercise the parser: every string escape, Unicode
/// beyond the BMP, number literals in every form JSON allows, member order that is not sorted.
enum JSONGen {
    static let value = Generator<JSONValue, Shrink.None<JSONValue>> { rng in make(depth: 0, &rng) }
    static let container = Generator<JSONValue, Shrink.None<JSONValue>> { rng in
        Bool.random(using: &rng) ? .array(array(depth: 1, &rng)) : .object(object(depth: 1, &rng))
    }

    /// Bytes mostly from JSON's alphabet, some of any value.
    static let bytes = Generator<[UInt8], Shrink.None<[UInt8]>> { rng in
        let alphabet = Array(#"{}[]:,"\-0123456789.eE+tfnrulasb "#.utf8)
        return (0..<Int.random(in: 0...64, using: &rng)).map { _ in
            Int.random(in: 0..<4, using: &rng) == 0
                ? UInt8.random(in: 0...255, using: &rng) : alphabet.randomElement(using: &rng)!
        }
    }

    static func make(depth: Int, _ rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        switch Int.random(in: 0..<(depth >= 4 ? 4 : 6), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(JSONNumber(literal: number(&rng)))
        case 3: return .string(string(&rng))
        case 4: return .array(array(depth: depth + 1, &rng))
        default: return .object(object(depth: depth + 1, &rng))
        }
    }

    static func array(depth: Int, _ rng: inout any SeededRandomNumberGenerator) -> [JSONValue] {
        (0..<Int.random(in: 0...5, using: &rng)).map { _ in make(depth: depth, &rng) }
    }

    static func object(depth: Int, _ rng: inout any SeededRandomNumberGenerator) -> JSONObject {
        var o = JSONObject()
        for _ in 0..<Int.random(in: 0...5, using: &rng) { o[string(&rng)] = make(depth: depth, &rng) }
        return o
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, digits kept as written (`1.50`, `-0`).
    static func number(_ rng: inout any SeededRandomNumberGenerator) -> String {
        func digits(_ n: ClosedRange<Int>, _ rng: inout any SeededRandomNumberGenerator) -> String {
            String(
                (0..<Int.random(in: n, using: &rng)).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
        }
        var s = Bool.random(using: &rng) ? "-" : ""
        s += Bool.random(using: &rng) ? "0" : String(Int.random(in: 1...9, using: &rng)) + digits(0...25, &rng)
        if Bool.random(using: &rng) { s += "." + digits(1...6, &rng) }
        if Bool.random(using: &rng) {
            s += ["e", "E"].randomElement(using: &rng)! + ["", "+", "-"].randomElement(using: &rng)!
            s += digits(1...3, &rng)
        }
        return s
    }

    static let scalars: [ClosedRange<UInt32>] = [
        0x20...0x7E, 0x00...0x1F, 0x22...0x22, 0x5C...0x5C, 0x2F...0x2F, 0x7F...0x7FF, 0x800...0xD7FF,
        0xE000...0xFFFF, 0x1_0000...0x10_FFFF,
    ]

    static func string(_ rng: inout any SeededRandomNumberGenerator) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...8, using: &rng) {
            let range = scalars.randomElement(using: &rng)!
            if let u = Unicode.Scalar(UInt32.random(in: range, using: &rng)) { s.append(u) }
        }
        return String(s)
    }

    /// The value's text with random JSON whitespace between all tokens, and strings written with
    /// `\u` escapes (surrogate pairs beyond the BMP) instead of raw characters.
    static func spacedText(_ value: JSONValue) -> String {
        var out = ""
        var n = 0
        func space() {
            n = (n &* 1_103_515_245 &+ 12345) & 0x7fff_ffff
            out += ["", " ", "\n", "\t", "\r\n  "][n % 5]
        }
        func escaped(_ s: String) -> String {
            var e = "\""
            for unit in s.utf16 {
                let hex = String(unit, radix: 16)
                e += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
            return e + "\""
        }
        func write(_ v: JSONValue) {
            space()
            switch v {
            case .array(let items):
                out += "["
                for (i, item) in items.enumerated() {
                    if i > 0 { out += "," }
                    write(item)
                }
                space()
                out += "]"
            case .object(let o):
                out += "{"
                for (i, m) in o.enumerated() {
                    if i > 0 { out += "," }
                    space()
                    out += escaped(m.key)
                    space()
                    out += ":"
                    write(m.value)
                }
                space()
                out += "}"
            case .string(let s): out += escaped(s)
            default: out += v.jsonString
            }
            space()
        }
        write(value)
        return out
    }

    /// Equal values with objects' members in the same order and numbers with the same text.
    static func identical(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return x.keys == y.keys && zip(x, y).allSatisfy { identical($0.value, $1.value) }
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
        case (.number(let x), .number(let y)):
            return x.text == y.text
        default:
            return a == b
        }
    }
}
