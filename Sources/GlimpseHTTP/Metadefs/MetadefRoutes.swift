import GlimpseCore
import HTTPTypes
import Hummingbird
import OpenStackEncoding
import OpenStackJSON

/// The metadata definitions API under `/v2/metadefs`, and its schemas under
/// `/v2/schemas/metadefs`.
struct MetadefRoutes {
    let metadefs: MetadefService

    static let collections: [(path: String, kind: MetadefKind)] = [
        ("objects", .object), ("properties", .property), ("tags", .tag), ("resource_types", .resourceType),
    ]

    func add(to routes: APIRoutes) {
        routes.resource("/metadefs/resource_types", [(.get, resourceTypes)])
        routes.resource("/metadefs/namespaces", [(.get, namespaces), (.post, createNamespace)])
        routes.resource(
            "/metadefs/namespaces/:ns", [(.get, namespace), (.put, updateNamespace), (.delete, deleteNamespace)])
        for (path, kind) in Self.collections {
            let collection = "/metadefs/namespaces/:ns/" + path
            var handlers: [(HTTPRequest.Method, Handler)] = [(.get, items(kind)), (.post, create(kind))]
            if kind != .resourceType { handlers.append((.delete, deleteItems(kind))) }
            routes.resource(RouterPath(collection), handlers)
            let member = RouterPath(collection + "/:name")
            switch kind {
            case .resourceType: routes.resource(member, [(.delete, deleteItem(kind))])
            case .tag:
                routes.resource(
                    member,
                    [(.get, item(kind)), (.put, updateItem(kind)), (.post, createTag), (.delete, deleteItem(kind))])
            default:
                routes.resource(member, [(.get, item(kind)), (.put, updateItem(kind)), (.delete, deleteItem(kind))])
            }
        }
    }

    @Sendable func resourceTypes(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let types = try await metadefs.resourceTypes(by: try context.principal())
        return .json([
            "resource_types": .array(
                types.map { t in
                    [
                        "name": .string(t.name), "created_at": .string(t.createdAt.iso8601),
                        "updated_at": .string(t.updatedAt.iso8601),
                    ]
                })
        ])
    }

    @Sendable func namespaces(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let query = request.queryItems
        let list = try await metadefs.namespaces(
            visibility: query.last { $0.0 == "visibility" }?.1,
            resourceTypes: query.filter { $0.0 == "resource_types" }.flatMap {
                $0.1.split(separator: ",").map(String.init)
            },
            by: try context.principal())
        var out: [JSONValue] = []
        for ns in list { out.append(try await namespaceJSON(ns, detail: false)) }
        return .json([
            "namespaces": .array(out), "first": "/v2/metadefs/namespaces", "schema": "/v2/schemas/metadefs/namespaces",
        ])
    }

    @Sendable func createNamespace(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let ns = try await metadefs.createNamespace(try await request.jsonBody(context), by: p)
        return .json(try await namespaceJSON(ns, detail: true), status: .created)
    }

    @Sendable func namespace(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let ns = try await metadefs.namespace(context.parameters.decoded("ns"), by: try context.principal())
        return .json(try await namespaceJSON(ns, detail: true))
    }

    @Sendable func updateNamespace(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let ns = try await metadefs.updateNamespace(
            context.parameters.decoded("ns"), try await request.jsonBody(context), by: p)
        return .json(try await namespaceJSON(ns, detail: false))
    }

    @Sendable func deleteNamespace(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await metadefs.deleteNamespace(context.parameters.decoded("ns"), by: try context.principal())
        return .empty()
    }

    func items(_ kind: MetadefKind) -> Handler {
        { request, context in
            let ns = context.parameters.decoded("ns")
            let items = try await metadefs.items(ns, kind, by: try context.principal())
            return .json(listJSON(kind, items, namespace: ns))
        }
    }

    func create(_ kind: MetadefKind) -> Handler {
        { request, context in
            let p = try context.principal()
            let ns = context.parameters.decoded("ns")
            if kind == .tag {
                let append = request.headers[.openStackAppend]?.lowercased() == "true"
                let tags = try await metadefs.createTags(ns, try await request.jsonBody(context), append: append, by: p)
                return .json(["tags": .array(tags.map { itemJSON($0) })], status: .created)
            }
            let body = try await request.jsonBody(context)
            try Self.check(body, as: kind)
            let item = try await metadefs.createItem(ns, kind, body, by: p)
            return .json(itemJSON(item), status: .created)
        }
    }

    func deleteItems(_ kind: MetadefKind) -> Handler {
        { request, context in
            try await metadefs.deleteItems(context.parameters.decoded("ns"), kind, by: try context.principal())
            return .empty()
        }
    }

    func item(_ kind: MetadefKind) -> Handler {
        { request, context in
            let (ns, name) = (context.parameters.decoded("ns"), context.parameters.decoded("name"))
            return .json(itemJSON(try await metadefs.item(ns, kind, name, by: try context.principal())))
        }
    }

    func updateItem(_ kind: MetadefKind) -> Handler {
        { request, context in
            let p = try context.principal()
            let (ns, name) = (context.parameters.decoded("ns"), context.parameters.decoded("name"))
            let body = try await request.jsonBody(context)
            try Self.check(body, as: kind)
            return .json(itemJSON(try await metadefs.updateItem(ns, kind, name, body, by: p)))
        }
    }

    @Sendable func createTag(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let (ns, name) = (context.parameters.decoded("ns"), context.parameters.decoded("name"))
        let item = try await metadefs.createItem(ns, .tag, ["name": .string(name)], by: try context.principal())
        return .json(itemJSON(item), status: .created)
    }

    func deleteItem(_ kind: MetadefKind) -> Handler {
        { request, context in
            let (ns, name) = (context.parameters.decoded("ns"), context.parameters.decoded("name"))
            try await metadefs.deleteItem(ns, kind, name, by: try context.principal())
            return .empty()
        }
    }

    /// `/v2/schemas/metadefs/{name}`.
    @Sendable static func schema(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        guard let schema = schemas[context.parameters.decoded("name")] else { throw ServiceError.notFound() }
        return .json(schema)
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
            if !properties.isEmpty {
                o["properties"] = listJSON(.property, properties, namespace: ns.namespace)["properties"]
            }
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
            "links": [
                ["rel": "first", "href": "{first}"], ["rel": "next", "href": "{next}"],
                ["rel": "describedby", "href": "{schema}"],
            ],
        ]
    }

    static let timestamps: [(String, JSONValue)] = [
        (
            "created_at",
            ["type": "string", "readOnly": true, "description": "Date and time of creation", "format": "date-time"]
        ),
        (
            "updated_at",
            [
                "type": "string", "readOnly": true, "description": "Date and time of the last modification",
                "format": "date-time",
            ]
        ),
    ]

    static func withTimestamps(_ props: JSONObject) -> JSONValue {
        var p = props
        for (k, v) in timestamps { p[k] = v }
        return .object(p)
    }

    static let association: JSONValue = [
        "name": "resource_type_association",
        "properties": withTimestamps([
            "name": [
                "type": "string", "maxLength": 80,
                "description": "Resource type names should be aligned with Heat resource types",
            ],
            "prefix": [
                "type": "string", "maxLength": 80,
                "description": "Prefix of the properties of this namespace in the resource",
            ],
            "properties_target": [
                "type": "string", "maxLength": 80,
                "description": "Some resource types allow more than one key/value pair per instance",
            ],
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
            "display_name": [
                "type": "string", "maxLength": 80, "description": "The user friendly name for the namespace.",
            ],
            "description": [
                "type": "string", "maxLength": 500,
                "description": "Provides a user friendly description of the namespace.",
            ],
            "visibility": [
                "type": "string", "enum": ["public", "private"], "description": "Scope of namespace accessibility.",
            ],
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

    /// Glance's check of an item's body against the schema served for its kind: 400 with
    /// the schema's complaint.
    static func check(_ body: JSONValue, as kind: MetadefKind) throws(ServiceError) {
        guard let validator = validators[kind], let failure = validator.validate(body) else { return }
        throw validator.error(for: failure)
    }

    static let validators: [MetadefKind: SchemaValidator] = [
        .object: SchemaValidator(schemaName: "object", schema: object),
        .property: SchemaValidator(schemaName: "property", schema: property),
        .tag: SchemaValidator(schemaName: "tag", schema: tag),
        .resourceType: SchemaValidator(schemaName: "resource_type", schema: association),
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
        "properties": [
            "name": "properties",
            "properties": ["properties": ["type": "object", "additionalProperties": propertyDefinition]],
            "links": [
                ["rel": "first", "href": "{first}"], ["rel": "next", "href": "{next}"],
                ["rel": "describedby", "href": "{schema}"],
            ],
        ],
        "tag": tag,
        "tags": collection("tags", tag, key: "tags"),
    ]
}
