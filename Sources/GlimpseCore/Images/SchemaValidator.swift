import OpenStackJSON

/// A small JSON Schema validator covering the keywords Glance's image, member and location
/// schemas use: `type`, `enum`, `maxLength`, `minLength`, `pattern` (UUIDs), `items`,
/// `properties`, `additionalProperties`, `required`, `dependentRequired`.
///
/// Errors read like Python's `jsonschema` ones, which is what Glance returns:
/// `'floppy' is not one of [None, 'ami', …]`, followed by the failing schema fragment.
public struct SchemaValidator: Sendable {
    public let schemaName: String
    public let schema: JSONValue
    /// Whether additional (custom) properties are checked against `additionalProperties`.
    public var checkAdditionalProperties: Bool

    public init(schemaName: String, schema: JSONValue, checkAdditionalProperties: Bool = true) {
        self.schemaName = schemaName
        self.schema = schema
        self.checkAdditionalProperties = checkAdditionalProperties
    }

    public struct Failure: Sendable {
        public var message: String
        public var keyword: String
        public var schemaPath: [JSONPathElement]
        public var instancePath: [JSONPathElement]
        public var schemaFragment: JSONValue
        public var instance: JSONValue

        /// The text Glance sends: jsonschema's error with the schema fragment and instance.
        public var longDescription: String {
            func path(_ root: String, _ p: [JSONPathElement]) -> String {
                root
                    + p.map { e in
                        switch e {
                        case .key(let k): "[\(PythonRepr.string(k))]"
                        case .index(let i): "[\(i)]"
                        }
                    }.joined()
            }
            return """
                \(message)

                Failed validating \(PythonRepr.string(keyword)) in \(path("schema", schemaPath)):
                \(PythonRepr.pformat(schemaFragment, indent: 4))

                On \(path("instance", instancePath)):
                \(PythonRepr.pformat(instance, indent: 4))
                """
        }
    }

    public enum JSONPathElement: Sendable {
        case key(String)
        case index(Int)
    }

    /// The 400 error Glance returns for a body that does not match the schema.
    public func error(for failure: Failure) -> ServiceError {
        .badRequest(
            "Provided object does not match schema \(PythonRepr.string(schemaName)): \(failure.longDescription)")
    }

    /// Validates a whole object; returns the first failure.
    public func validate(_ instance: JSONValue) -> Failure? {
        validate(instance, against: schema, schemaPath: [], instancePath: [])
    }

    /// Validates one top-level property as if it were the only member of an object
    /// (how Glance checks each JSON-Patch change).
    public func validateProperty(_ name: String, _ value: JSONValue) -> Failure? {
        if let sub = schema["properties"]?[name] {
            return validate(
                value, against: sub, schemaPath: [.key("properties"), .key(name)], instancePath: [.key(name)])
        }
        guard checkAdditionalProperties, let extra = schema["additionalProperties"], extra.objectValue != nil else {
            return nil
        }
        return validate(value, against: extra, schemaPath: [.key("additionalProperties")], instancePath: [.key(name)])
    }

    func validate(
        _ instance: JSONValue, against node: JSONValue, schemaPath: [JSONPathElement], instancePath: [JSONPathElement]
    ) -> Failure? {
        func failure(_ message: String, _ keyword: String) -> Failure {
            Failure(
                message: message, keyword: keyword, schemaPath: schemaPath, instancePath: instancePath,
                schemaFragment: node, instance: instance)
        }
        if let type = node["type"] {
            let types: [String] = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !types.contains(where: { Self.instance(instance, isOfType: $0) }) {
                let list = types.map { PythonRepr.string($0) }.joined(separator: ", ")
                return failure("\(PythonRepr.repr(instance)) is not of type \(list)", "type")
            }
        }
        if let options = node["enum"]?.arrayValue, !options.contains(where: { Self.equal($0, instance) }) {
            return failure("\(PythonRepr.repr(instance)) is not one of \(PythonRepr.repr(.array(options)))", "enum")
        }
        if case .string(let s) = instance {
            if let max = node["maxLength"]?.intValue, s.unicodeScalars.count > max {
                return failure("\(PythonRepr.repr(instance)) is too long", "maxLength")
            }
            if let min = node["minLength"]?.intValue, s.unicodeScalars.count < min {
                return failure("\(PythonRepr.repr(instance)) is too short", "minLength")
            }
            if let pattern = node["pattern"]?.stringValue, pattern == uuidPattern, !isUUID(s) {
                return failure("\(PythonRepr.repr(instance)) does not match \(PythonRepr.string(pattern))", "pattern")
            }
        }
        if case .array(let items) = instance, let itemSchema = node["items"], itemSchema.objectValue != nil {
            for (i, item) in items.enumerated() {
                if let f = validate(
                    item, against: itemSchema, schemaPath: schemaPath + [.key("items")],
                    instancePath: instancePath + [.index(i)])
                {
                    return f
                }
            }
        }
        if case .object(let object) = instance {
            if let required = node["required"]?.arrayValue {
                for r in required.compactMap(\.stringValue) where object[r] == nil {
                    return failure("\(PythonRepr.string(r)) is a required property", "required")
                }
            }
            for dependency in node["dependentRequired"]?.objectValue ?? JSONObject() where object[dependency.key] != nil
            {
                for r in dependency.value.arrayValue?.compactMap(\.stringValue) ?? [] where object[r] == nil {
                    return failure(
                        "\(PythonRepr.string(r)) is a dependency of \(PythonRepr.string(dependency.key))",
                        "dependentRequired")
                }
            }
            let properties = node["properties"]?.objectValue ?? JSONObject()
            for p in properties {
                if let value = object[p.key],
                    let f = validate(
                        value, against: p.value, schemaPath: schemaPath + [.key("properties"), .key(p.key)],
                        instancePath: instancePath + [.key(p.key)])
                {
                    return f
                }
            }
            if let extra = node["additionalProperties"] {
                let extras = object.filter { properties[$0.key] == nil }
                if extra == .bool(false), let first = extras.first {
                    return failure(
                        "Additional properties are not allowed (\(PythonRepr.string(first.key)) was unexpected)",
                        "additionalProperties")
                }
                if extra.objectValue != nil, schemaPath.isEmpty ? checkAdditionalProperties : true {
                    for m in extras {
                        if let f = validate(
                            m.value, against: extra, schemaPath: schemaPath + [.key("additionalProperties")],
                            instancePath: instancePath + [.key(m.key)])
                        {
                            return f
                        }
                    }
                }
            }
        }
        return nil
    }

    static func instance(_ v: JSONValue, isOfType type: String) -> Bool {
        switch (type, v) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): true
        case ("number", .number): true
        case ("integer", .number(let n)): n.isInteger
        default: false
        }
    }

    /// JSON equality where 1 and 1.0 are the same number.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if case .number(let x) = a, case .number(let y) = b { return x.doubleValue == y.doubleValue }
        return a == b
    }
}

/// The UUID pattern Glance's schemas use for `id`, `kernel_id`, `ramdisk_id`, `image_id`.
public let uuidPattern = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"

/// Whether a string is a UUID in 8-4-4-4-12 hex form (either case).
public func isUUID(_ s: String) -> Bool {
    let u = Array(s.utf8)
    guard u.count == 36 else { return false }
    for (i, c) in u.enumerated() {
        if i == 8 || i == 13 || i == 18 || i == 23 {
            if c != UInt8(ascii: "-") { return false }
        } else if !((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)) {
            return false
        }
    }
    return true
}

/// Python `repr` and `pprint.pformat(width=72)` of JSON values, for messages that match
/// what Python services print.
public enum PythonRepr {
    public static func string(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(u) == quote {
                    out += "\\" + String(quote)
                } else if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + hex(u.value, 2)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out.append(quote)
        return out
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    public static func repr(_ v: JSONValue) -> String {
        switch v {
        case .null: "None"
        case .bool(let b): b ? "True" : "False"
        case .number(let n): n.text
        case .string(let s): string(s)
        case .array(let a): "[" + a.map(repr).joined(separator: ", ") + "]"
        case .object(let o): "{" + o.map { string($0.key) + ": " + repr($0.value) }.joined(separator: ", ") + "}"
        }
    }

    /// `pprint.pformat(v, width=72)`, every line indented by `indent` spaces.
    public static func pformat(_ v: JSONValue, indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        return pad + format(v, column: indent, width: 72 + indent)
    }

    static func format(_ v: JSONValue, column: Int, width: Int) -> String {
        let flat = repr(v)
        if column + flat.count <= width { return flat }
        switch v {
        case .array(let a) where !a.isEmpty:
            let inner = a.map { format($0, column: column + 1, width: width - 1) }
            return "[" + inner.joined(separator: ",\n" + String(repeating: " ", count: column + 1)) + "]"
        case .object(let o) where !o.isEmpty:
            let inner = o.map { m -> String in
                let k = string(m.key) + ": "
                return k + format(m.value, column: column + 1 + k.count, width: width - 1)
            }
            return "{" + inner.joined(separator: ",\n" + String(repeating: " ", count: column + 1)) + "}"
        default:
            return flat
        }
    }
}
