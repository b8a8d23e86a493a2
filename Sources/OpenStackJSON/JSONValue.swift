/// A JSON value that keeps what it was given: object member order, and numbers as their
/// literal text, so a value read from the wire and written back is byte-for-byte the
/// same JSON (no float rounding, no reordering).
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// A string, or `null` for nil.
    public static func optionalString(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }

    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The boolean, if this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The number as a 64-bit integer, if this is an integer literal that fits.
    public var intValue: Int? {
        if case .number(let n) = self { return n.intValue }
        return nil
    }

    /// The number as a double, if this is a number.
    public var doubleValue: Double? {
        if case .number(let n) = self { return n.doubleValue }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The members, if this is an object.
    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// True for `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Member lookup on objects; `nil` for other values or a missing key.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The JSON type name as JSON Schema spells it.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n.isInteger ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONValue: ExpressibleByStringInterpolation {
    public init(stringInterpolation: DefaultStringInterpolation) {
        self = .string(String(stringInterpolation: stringInterpolation))
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(floatLiteral value: Double) { self = .number(JSONNumber(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var o = JSONObject()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
}

/// A JSON number kept as its literal text.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number exactly as written, e.g. `12`, `-0.5`, `1e100`.
    public let text: String

    /// Wraps literal text. The caller guarantees it is a valid JSON number.
    public init(literal: String) { self.text = literal }
    public init(_ value: Int) { self.text = String(value) }
    public init(_ value: Int64) { self.text = String(value) }
    public init(_ value: Double) {
        if value.rounded() == value, abs(value) < 1e15 {
            self.text = String(Int64(value)) + ".0"
        } else {
            self.text = "\(value)"
        }
    }

    /// True if the literal has no fraction or exponent.
    public var isInteger: Bool {
        !text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") })
    }
    /// The value as an integer, if the literal is an integer that fits in `Int`.
    public var intValue: Int? { isInteger ? Int(text) : nil }
    /// The value as a double.
    public var doubleValue: Double? { Double(text) }
    public var description: String { text }
}

/// A JSON object that keeps member order. Setting an existing key replaces its value in place.
///
/// Small objects are searched member by member; past `indexThreshold` members the object
/// also keeps a key → position index, so lookups, updates and building an object from
/// many members cost constant time per key, never quadratic time in all.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public private(set) var members: [Member]
    /// Positions of the keys in `members`; kept only for large objects.
    private var index: [String: Int]?
    static let indexThreshold = 16

    public init() { members = [] }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements.map { Member(key: $0.0, value: $0.1) })
    }

    /// An object of these members; for a repeated key the first position and the last value count.
    public init(_ members: [Member]) {
        self.members = []
        self.members.reserveCapacity(members.count)
        if members.count > Self.indexThreshold { index = Dictionary(minimumCapacity: members.count) }
        for m in members { self[m.key] = m.value }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    /// Where `key` is in `members`.
    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return members.firstIndex { $0.key == key }
    }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { members[$0].value } }
        set {
            if let i = position(of: key) {
                if let newValue { members[i].value = newValue } else { remove(at: i) }
            } else if let newValue {
                members.append(Member(key: key, value: newValue))
                if index != nil {
                    index![key] = members.count - 1
                } else if members.count > Self.indexThreshold {
                    index = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.key, $0) })
                }
            }
        }
    }

    /// Removes a key and returns its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = position(of: key) else { return nil }
        return remove(at: i)
    }

    @discardableResult
    private mutating func remove(at i: Int) -> JSONValue {
        let removed = members.remove(at: i)
        if index != nil {
            index![removed.key] = nil
            for j in i..<members.count { index![members[j].key] = j }
        }
        return removed.value
    }

    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }

    /// Objects are equal when they have the same members, in any order (member order is
    /// kept for writing, but does not change what the object means).
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.members.count == b.members.count else { return false }
        if a.members == b.members { return true }
        return a.members.allSatisfy { m in b[m.key] == m.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.count)
        var combined = 0
        for m in members { combined ^= m.hashValue }
        hasher.combine(combined)
    }
}
