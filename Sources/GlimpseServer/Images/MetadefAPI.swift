import GlimpseCore
import HTTPTypes
import Hummingbird
import OpenStackJSON

/// The metadata definitions API under `/v2/metadefs`, and its schemas under
/// `/v2/schemas/metadefs`.
struct MetadefAPI: Sendable {
    let metadefs: MetadefService

    static let collections: [String: MetadefKind] = [
        "objects": .object, "properties": .property, "tags": .tag, "resource_types": .resourceType,
    ]

    func handle(_ req: APIRequest, _ rest: [String], principal p: Principal) async throws -> Response {
        let m = req.method
        switch rest.count {
        case 1 where rest[0] == "resource_types":
            guard m == .get else { throw notAllowed("GET") }
            let types = try await metadefs.resourceTypes(by: p)
            return req.json(["resource_types": .array(types.map { t in
                ["name": .string(t.name), "created_at": .string(t.createdAt.iso8601), "updated_at": .string(t.updatedAt.iso8601)]
            })])
        case 1 where rest[0] == "namespaces":
            switch m {
            case .get:
                let list = try await metadefs.namespaces(
                    visibility: req.query.last { $0.0 == "visibility" }?.1,
                    resourceTypes: req.query.filter { $0.0 == "resource_types" }.flatMap { $0.1.split(separator: ",").map(String.init) },
                    by: p)
                var out: [JSONValue] = []
                for ns in list { out.append(try await namespaceJSON(ns, detail: false)) }
                return req.json(["namespaces": .array(out), "first": "/v2/metadefs/namespaces", "schema": "/v2/schemas/metadefs/namespaces"])
            case .post:
                let ns = try await metadefs.createNamespace(try await req.jsonBody(), by: p)
                return req.json(try await namespaceJSON(ns, detail: true), status: .created)
            default: throw notAllowed("GET, POST")
            }
        case 2 where rest[0] == "namespaces":
            let name = rest[1]
            switch m {
            case .get: return req.json(try await namespaceJSON(try await metadefs.namespace(name, by: p), detail: true))
            case .put:
                let ns = try await metadefs.updateNamespace(name, try await req.jsonBody(), by: p)
                return req.json(try await namespaceJSON(ns, detail: false))
            case .delete:
                try await metadefs.deleteNamespace(name, by: p)
                return Response(status: .noContent)
            default: throw notAllowed("GET, PUT, DELETE")
            }
        case 3 where rest[0] == "namespaces":
            guard let kind = Self.collections[rest[2]] else { throw ServiceError.notFound() }
            let ns = rest[1]
            switch m {
            case .get:
                let items = try await metadefs.items(ns, kind, by: p)
                return req.json(listJSON(kind, items, namespace: ns))
            case .post where kind == .tag:
                let append = req.header(HTTPField.Name("X-Openstack-Append")!)?.lowercased() == "true"
                let tags = try await metadefs.createTags(ns, try await req.jsonBody(), append: append, by: p)
                return req.json(["tags": .array(tags.map { itemJSON($0) })], status: .created)
            case .post:
                let item = try await metadefs.createItem(ns, kind, try await req.jsonBody(), by: p)
                return req.json(itemJSON(item), status: .created)
            case .delete where kind != .resourceType:
                try await metadefs.deleteItems(ns, kind, by: p)
                return Response(status: .noContent)
            default: throw notAllowed(kind == .resourceType ? "GET, POST" : "GET, POST, DELETE")
            }
        case 4 where rest[0] == "namespaces":
            guard let kind = Self.collections[rest[2]] else { throw ServiceError.notFound() }
            let (ns, name) = (rest[1], rest[3])
            switch m {
            case .get where kind != .resourceType: return req.json(itemJSON(try await metadefs.item(ns, kind, name, by: p)))
            case .put where kind != .resourceType:
                return req.json(itemJSON(try await metadefs.updateItem(ns, kind, name, try await req.jsonBody(), by: p)))
            case .post where kind == .tag:
                return req.json(itemJSON(try await metadefs.createItem(ns, .tag, ["name": .string(name)], by: p)), status: .created)
            case .delete:
                try await metadefs.deleteItem(ns, kind, name, by: p)
                return Response(status: .noContent)
            default: throw notAllowed(kind == .resourceType ? "DELETE" : "GET, PUT, DELETE")
            }
        default:
            throw ServiceError.notFound()
        }
    }

    func notAllowed(_ allowed: String) -> ServiceError {
        ServiceError(.methodNotAllowed(allowed: allowed.split(separator: ",").map { $0.trimmingCharacters(in: " ") }))
    }

    func itemJSON(_ item: MetadefItem) -> JSONValue {
        var o = JSONObject()
        o["name"] = .string(item.name)
        for m in item.body { o[m.key] = m.value }
        switch item.kind {
        case .object:
            if o["required"] == nil { o["required"] = [] }
            if o["properties"] == nil { o["properties"] = [:] }
            o["created_at"] = .string(item.createdAt.iso8601)
            o["updated_at"] = .string(item.updatedAt.iso8601)
            o["schema"] = "/v2/schemas/metadefs/object"
            o["self"] = .string("/v2/metadefs/namespaces/\(item.namespace)/objects/\(item.name)")
        case .tag, .resourceType:
            o["created_at"] = .string(item.createdAt.iso8601)
            o["updated_at"] = .string(item.updatedAt.iso8601)
        case .property:
            break
        }
        return .object(o)
    }

    func listJSON(_ kind: MetadefKind, _ items: [MetadefItem], namespace: String) -> JSONValue {
        switch kind {
        case .property:
            var props = JSONObject()
            for item in items {
                var o = itemJSON(item).objectValue ?? [:]
                o["name"] = nil
                props[item.name] = .object(o)
            }
            return ["properties": .object(props)]
        case .object:
            return ["objects": .array(items.map(itemJSON)), "schema": "v2/schemas/metadefs/objects"]
        case .tag:
            return ["tags": .array(items.map(itemJSON))]
        case .resourceType:
            return ["resource_type_associations": .array(items.map(itemJSON))]
        }
    }

    func namespaceJSON(_ ns: MetadefNamespace, detail: Bool) async throws -> JSONValue {
        var o = JSONObject()
        o["namespace"] = .string(ns.namespace)
        if let d = ns.displayName { o["display_name"] = .string(d) }
        if let d = ns.description { o["description"] = .string(d) }
        o["visibility"] = .string(ns.visibility)
        o["protected"] = .bool(ns.isProtected)
        if let owner = ns.owner { o["owner"] = .string(owner) }
        o["created_at"] = .string(ns.createdAt.iso8601)
        o["updated_at"] = .string(ns.updatedAt.iso8601)
        o["schema"] = "/v2/schemas/metadefs/namespace"
        o["self"] = .string("/v2/metadefs/namespaces/\(ns.namespace)")
        let associations = try await metadefs.store.metadefItems(ns.namespace, .resourceType)
        if !associations.isEmpty { o["resource_type_associations"] = .array(associations.map(itemJSON)) }
        if detail {
            let properties = try await metadefs.store.metadefItems(ns.namespace, .property)
            if !properties.isEmpty { o["properties"] = listJSON(.property, properties, namespace: ns.namespace)["properties"] }
            let objects = try await metadefs.store.metadefItems(ns.namespace, .object)
            if !objects.isEmpty { o["objects"] = .array(objects.map(itemJSON)) }
            let tags = try await metadefs.store.metadefItems(ns.namespace, .tag)
            if !tags.isEmpty { o["tags"] = .array(tags.map(itemJSON)) }
        }
        return .object(o)
    }

    // MARK: Schemas

    static let propertyDefinition: JSONValue = [
        "type": "object",
        "properties": [
            "name": ["type": "string", "maxLength": 255],
            "title": ["type": "string"],
            "description": ["type": "string"],
            "operators": ["type": "array", "items": ["type": "string"]],
            "type": ["type": "string", "enum": ["array", "boolean", "integer", "number", "object", "string", nil]],
            "required": ["type": "array", "items": ["type": "string"]],
            "minimum": ["type": "number"], "maximum": ["type": "number"],
            "maxLength": ["type": "integer"], "minLength": ["type": "integer"],
            "pattern": ["type": "string", "format": "regex"],
            "enum": ["type": "array"], "readonly": ["type": "boolean"], "default": [:],
            "items": ["type": "object"], "maxItems": ["type": "integer"], "minItems": ["type": "integer"],
            "uniqueItems": ["type": "boolean", "default": false],
            "additionalItems": ["type": "boolean"],
        ],
        "required": ["title", "type"],
    ]

    static func collection(_ name: String, _ item: JSONValue, key: String) -> JSONValue {
        [
            "name": .string(name),
            "properties": [
                .init(stringLiteral: key): ["type": "array", "items": item],
                "first": ["type": "string"], "next": ["type": "string"], "schema": ["type": "string"],
            ],
            "links": [["rel": "first", "href": "{first}"], ["rel": "next", "href": "{next}"], ["rel": "describedby", "href": "{schema}"]],
        ]
    }

    static let timestamps: [(String, JSONValue)] = [
        ("created_at", ["type": "string", "readOnly": true, "description": "Date and time of creation", "format": "date-time"]),
        ("updated_at", ["type": "string", "readOnly": true, "description": "Date and time of the last modification", "format": "date-time"]),
    ]

    static func withTimestamps(_ props: JSONObject) -> JSONValue {
        var p = props
        for (k, v) in timestamps { p[k] = v }
        return .object(p)
    }

    static let association: JSONValue = [
        "name": "resource_type_association",
        "properties": withTimestamps([
            "name": ["type": "string", "maxLength": 80, "description": "Resource type names should be aligned with Heat resource types"],
            "prefix": ["type": "string", "maxLength": 80, "description": "Prefix of the properties of this namespace in the resource"],
            "properties_target": ["type": "string", "maxLength": 80, "description": "Some resource types allow more than one key/value pair per instance"],
        ]),
        "required": ["name"], "additionalProperties": false,
    ]

    static let tag: JSONValue = [
        "name": "tag",
        "properties": withTimestamps(["name": ["type": "string", "maxLength": 255]]),
        "required": ["name"], "additionalProperties": false,
    ]

    static let object: JSONValue = [
        "name": "object",
        "properties": withTimestamps([
            "name": ["type": "string", "maxLength": 255], "description": ["type": "string"],
            "required": ["type": "array", "items": ["type": "string"]],
            "properties": ["type": "object", "additionalProperties": propertyDefinition],
            "schema": ["type": "string", "readOnly": true], "self": ["type": "string", "readOnly": true],
        ]),
        "required": ["name"], "additionalProperties": false,
    ]

    static let property: JSONValue = {
        var p = propertyDefinition.objectValue ?? [:]
        p["name"] = "property"
        p["required"] = ["type", "title", "name"]
        p["additionalProperties"] = false
        return .object(p)
    }()

    static let namespace: JSONValue = [
        "name": "namespace",
        "properties": withTimestamps([
            "namespace": ["type": "string", "maxLength": 80, "description": "The unique namespace text."],
            "display_name": ["type": "string", "maxLength": 80, "description": "The user friendly name for the namespace."],
            "description": ["type": "string", "maxLength": 500, "description": "Provides a user friendly description of the namespace."],
            "visibility": ["type": "string", "enum": ["public", "private"], "description": "Scope of namespace accessibility."],
            "protected": ["type": "boolean", "description": "If true, namespace will not be deletable."],
            "owner": ["type": "string", "maxLength": 255, "description": "Owner of the namespace."],
            "schema": ["type": "string", "readOnly": true], "self": ["type": "string", "readOnly": true],
            "resource_type_associations": ["type": "array", "items": association],
            "properties": ["type": "object", "additionalProperties": propertyDefinition],
            "objects": ["type": "array", "items": object],
            "tags": ["type": "array", "items": tag],
        ]),
        "required": ["namespace"], "additionalProperties": false,
        "links": [["rel": "self", "href": "{self}"], ["rel": "describedby", "href": "{schema}"]],
    ]

    /// `/v2/schemas/metadefs/<name>`.
    static let schemas: [String: JSONValue] = [
        "namespace": namespace,
        "namespaces": collection("namespaces", namespace, key: "namespaces"),
        "resource_type": association,
        "resource_types": collection("resource_type_associations", association, key: "resource_type_associations"),
        "object": object,
        "objects": collection("objects", object, key: "objects"),
        "property": property,
        "properties": ["name": "properties", "properties": ["properties": ["type": "object", "additionalProperties": propertyDefinition]],
                       "links": [["rel": "first", "href": "{first}"], ["rel": "next", "href": "{next}"], ["rel": "describedby", "href": "{schema}"]]],
        "tag": tag,
        "tags": collection("tags", tag, key: "tags"),
    ]
}
