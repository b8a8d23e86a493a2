import OpenStackEncoding
import OpenStackJSON

/// One change of an image PATCH (a JSON-Patch operation on a top-level attribute).
public struct PatchOperation: Sendable, Equatable {
    public enum Op: String, Sendable {
        case add, remove, replace
    }
    public var op: Op
    /// The attribute the pointer names (`/name` → `name`).
    public var attribute: String
    public var value: JSONValue?
    /// The second segment of a `/locations/N` or `/locations/-` pointer.
    public var position: String?

    public init(_ op: Op, _ attribute: String, _ value: JSONValue? = nil, position: String? = nil) {
        self.op = op
        self.attribute = attribute
        self.value = value
        self.position = position
    }
}

/// The two JSON-Patch dialects of the image API.
public enum PatchDialect: Sendable {
    /// `application/openstack-images-v2.1-json-patch`: RFC 6902 `{"op", "path", "value"}`.
    case v21
    /// `application/openstack-images-v2.0-json-patch`: `{"replace": "/name", "value": …}`.
    case v20

    public static let v21MediaType = "application/openstack-images-v2.1-json-patch"
    public static let v20MediaType = "application/openstack-images-v2.0-json-patch"

    /// The dialect for a request `Content-Type`, ignoring parameters; nil if unsupported.
    public init?(contentType: String) {
        let base = contentType.split(separator: ";").first.map { $0.trimming(" \t").lowercased() } ?? ""
        switch base {
        case Self.v21MediaType: self = .v21
        case Self.v20MediaType: self = .v20
        default: return nil
        }
    }

    /// Parses a PATCH body into operations, with Glance's messages for malformed ones.
    public func parse(_ body: JSONValue) throws(ServiceError) -> [PatchOperation] {
        guard case .array(let items) = body else {
            throw .badRequest("Request body must be a JSON array of operation objects.")
        }
        var ops: [PatchOperation] = []
        for item in items {
            guard case .object(let o) = item else { throw .badRequest("Operations must be JSON objects.") }
            let op: PatchOperation.Op
            let pointer: String
            switch self {
            case .v21:
                guard let opText = o["op"] else {
                    throw .badRequest(
                        "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace."
                    )
                }
                guard let name = opText.stringValue, let parsed = PatchOperation.Op(rawValue: name) else {
                    let shown = opText.stringValue ?? PythonRepr.repr(opText)
                    throw .badRequest(
                        "Invalid operation: `\(shown)`. It must be one of the following: add, remove, replace.")
                }
                op = parsed
                guard let path = o["path"] else { throw .badRequest("Unable to find 'path' in JSON Schema change") }
                guard let p = path.stringValue else {
                    throw .badRequest("Pointer `\(PythonRepr.repr(path))` does not start with \"/\".")
                }
                pointer = p
            case .v20:
                let present = PatchOperation.Op.allCases.filter { o[$0.rawValue] != nil }
                guard present.count == 1, let only = present.first, let p = o[only.rawValue]?.stringValue else {
                    throw .badRequest(
                        "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")
                }
                op = only
                pointer = p
            }
            let (attribute, position) = try Self.attribute(fromPointer: pointer)
            var value: JSONValue?
            if op != .remove {
                guard let v = o["value"] else {
                    throw .badRequest("Operation \"\(op.rawValue)\" requires a member named \"value\".")
                }
                value = v
            }
            ops.append(PatchOperation(op, attribute, value, position: position))
        }
        return ops
    }

    /// Decodes a JSON pointer that must name one top-level attribute, or a position in
    /// `locations` (`/locations/N`, `/locations/-`).
    static func attribute(fromPointer pointer: String) throws(ServiceError) -> (String, position: String?) {
        guard pointer.hasPrefix("/") else { throw .badRequest("Pointer `\(pointer)` does not start with \"/\".") }
        if pointer.contains("//") { throw .badRequest("Pointer `\(pointer)` contains adjacent \"/\".") }
        if pointer.count > 1, pointer.hasSuffix("/") { throw .badRequest("Pointer `\(pointer)` end with \"/\".") }
        var segments: [String] = []
        for raw in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            var out = ""
            var it = raw.makeIterator()
            while let c = it.next() {
                if c == "~" {
                    switch it.next() {
                    case "0": out.append("~")
                    case "1": out.append("/")
                    default:
                        throw .badRequest(
                            "Pointer `\(pointer)` contains \"~\" not part of a recognized escape sequence.")
                    }
                } else {
                    out.append(c)
                }
            }
            segments.append(out.trimming(" \t"))
        }
        // `/locations/N` is the one deeper pointer Glance knows.
        if segments.count == 2, segments[0] == "locations" { return ("locations", segments[1]) }
        guard segments.count == 1, let only = segments.first, !only.isEmpty else {
            throw .badRequest("Invalid JSON pointer for this resource: '\(pointer)'")
        }
        return (only, nil)
    }
}

extension PatchOperation.Op: CaseIterable {}
