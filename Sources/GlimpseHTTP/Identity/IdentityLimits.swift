import GlimpseCore
import GlimpseIdentity
import Hummingbird
import OpenStackJSON

/// `/identity/v3/registered_limits`, `/identity/v3/limits` and `/identity/v3/limits/model`:
/// Keystone's unified limits, which the image service enforces as Glance's quotas.
extension IdentityRoutes {
    /// The catalog's services and region, which limits refer to.
    var limitTargets: KeystoneService.LimitTargets {
        .init(serviceIds: Set(catalog.services.map { Catalog.stableId($0.type) }), regionIds: [catalog.region])
    }

    static let largestLimit = 2_147_483_647

    /// A limit's value: an integer from -1 (unlimited) to 2147483647.
    static func limitValue(_ v: JSONValue?, _ field: String) throws(ServiceError) -> Int? {
        guard let v else { return nil }
        guard let n = v.intValue else {
            throw KeystoneService.invalid(field, "\(v.jsonString) is not of type 'integer'")
        }
        guard n >= -1 else { throw KeystoneService.invalid(field, "\(n) is less than the minimum of -1") }
        guard n <= largestLimit else {
            throw KeystoneService.invalid(field, "\(n) is greater than the maximum of \(largestLimit)")
        }
        return n
    }

    /// A string member: absent gives nil; present, it must be a string (of 1 to 255
    /// characters but for a description), or null where `nullable`, which gives `.some(nil)`.
    static func text(_ o: JSONObject, _ field: String, nullable: Bool = false) throws(ServiceError) -> String?? {
        guard let v = o[field] else { return nil }
        if v.isNull, nullable { return .some(nil) }
        guard let s = v.stringValue else {
            throw KeystoneService.invalid(field, "\(v.jsonString) is not of type 'string'")
        }
        if field != "description", s.isEmpty || s.unicodeScalars.count > 255 {
            throw KeystoneService.invalid(field, "'\(s)' is not a valid \(field) (1 to 255 characters)")
        }
        return s
    }

    static func missing(_ field: String) -> ServiceError {
        KeystoneService.invalid(field, "'\(field)' is a required property")
    }

    static func requiredText(_ o: JSONObject, _ field: String) throws(ServiceError) -> String {
        guard let value = try text(o, field), let value else { throw missing(field) }
        return value
    }

    static func requiredLimit(_ o: JSONObject, _ field: String) throws(ServiceError) -> Int {
        guard let value = try limitValue(o[field], field) else { throw missing(field) }
        return value
    }

    static func onlyMembers(_ o: JSONObject, _ allowed: Set<String>) throws(ServiceError) {
        if let extra = o.first(where: { !allowed.contains($0.key) }) {
            throw KeystoneService.invalid(
                extra.key, "Additional properties are not allowed ('\(extra.key)' was unexpected)")
        }
    }

    /// The non-empty array `name` of a create body, as objects.
    static func items(_ body: JSONValue, _ name: String) throws(ServiceError) -> [JSONObject] {
        guard let array = body[name]?.arrayValue, !array.isEmpty else {
            throw KeystoneService.invalid(name, "'\(name)' is a required property and must be a non-empty array")
        }
        var out: [JSONObject] = []
        for item in array {
            guard let o = item.objectValue else {
                throw KeystoneService.invalid(name, "\(item.jsonString) is not of type 'object'")
            }
            out.append(o)
        }
        return out
    }

    // MARK: Registered limits

    func registeredLimitJSON(_ r: RegisteredLimit, _ context: GlimpseRequestContext) -> JSONValue {
        [
            "id": .string(r.id), "service_id": .string(r.serviceId), "region_id": r.regionId.map { .string($0) } ?? nil,
            "resource_name": .string(r.resourceName), "default_limit": .number(JSONNumber(r.defaultLimit)),
            "description": r.description.map { .string($0) } ?? nil,
            "links": link(context, "registered_limits/" + r.id),
        ]
    }

    @Sendable func listRegisteredLimits(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        _ = try context.principal()
        let list = try await keystone.registeredLimits(
            serviceId: request.query("service_id"), regionId: request.query("region_id"),
            resourceName: request.query("resource_name"))
        return .json([
            "registered_limits": .array(list.map { registeredLimitJSON($0, context) }),
            "links": collectionLinks(context, "registered_limits"),
        ])
    }

    @Sendable func createRegisteredLimits(
        _ request: Request, _ context: GlimpseRequestContext
    ) async throws
        -> Response
    {
        let p = try context.principal()
        let fields: Set = ["service_id", "region_id", "resource_name", "default_limit", "description"]
        var limits: [RegisteredLimit] = []
        for o in try Self.items(try await request.jsonBody(context), "registered_limits") {
            try Self.onlyMembers(o, fields)
            limits.append(
                RegisteredLimit(
                    id: "", serviceId: try Self.requiredText(o, "service_id"),
                    regionId: try Self.text(o, "region_id", nullable: true) ?? nil,
                    resourceName: try Self.requiredText(o, "resource_name"),
                    defaultLimit: try Self.requiredLimit(o, "default_limit"),
                    description: try Self.text(o, "description", nullable: true) ?? nil))
        }
        let created = try await keystone.createRegisteredLimits(limits, in: limitTargets, by: p)
        return .json(
            ["registered_limits": .array(created.map { registeredLimitJSON($0, context) })], status: .created)
    }

    @Sendable func showRegisteredLimit(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        _ = try context.principal()
        let limit = try await keystone.registeredLimit(context.parameters.decoded("id"))
        return .json(["registered_limit": registeredLimitJSON(limit, context)])
    }

    @Sendable func updateRegisteredLimit(
        _ request: Request, _ context: GlimpseRequestContext
    ) async throws
        -> Response
    {
        let p = try context.principal()
        guard let o = try await request.jsonBody(context)["registered_limit"]?.objectValue, !o.isEmpty else {
            throw KeystoneService.invalid("registered_limit", "'registered_limit' must be a non-empty object")
        }
        try Self.onlyMembers(o, ["service_id", "region_id", "resource_name", "default_limit", "description"])
        let serviceId = try Self.text(o, "service_id") ?? nil
        let regionId = try Self.text(o, "region_id", nullable: true)
        let resourceName = try Self.text(o, "resource_name") ?? nil
        let defaultLimit = try Self.limitValue(o["default_limit"], "default_limit")
        let description = try Self.text(o, "description", nullable: true)
        let limit = try await keystone.updateRegisteredLimit(
            context.parameters.decoded("id"), in: limitTargets, by: p
        ) { l in
            if let serviceId { l.serviceId = serviceId }
            if let regionId { l.regionId = regionId }
            if let resourceName { l.resourceName = resourceName }
            if let defaultLimit { l.defaultLimit = defaultLimit }
            if let description { l.description = description }
        }
        return .json(["registered_limit": registeredLimitJSON(limit, context)])
    }

    @Sendable func deleteRegisteredLimit(
        _ request: Request, _ context: GlimpseRequestContext
    ) async throws
        -> Response
    {
        try await keystone.deleteRegisteredLimit(context.parameters.decoded("id"), by: try context.principal())
        return .empty()
    }

    // MARK: Project limits

    func projectLimitJSON(_ l: ProjectLimit, _ context: GlimpseRequestContext) -> JSONValue {
        [
            "id": .string(l.id), "project_id": .string(l.projectId), "domain_id": nil,
            "service_id": .string(l.serviceId), "region_id": l.regionId.map { .string($0) } ?? nil,
            "resource_name": .string(l.resourceName), "resource_limit": .number(JSONNumber(l.resourceLimit)),
            "description": l.description.map { .string($0) } ?? nil, "links": link(context, "limits/" + l.id),
        ]
    }

    @Sendable func listProjectLimits(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let list = try await keystone.projectLimits(
            projectId: request.query("project_id"), serviceId: request.query("service_id"),
            regionId: request.query("region_id"), resourceName: request.query("resource_name"),
            by: try context.principal())
        return .json([
            "limits": .array(list.map { projectLimitJSON($0, context) }), "links": collectionLinks(context, "limits"),
        ])
    }

    @Sendable func createProjectLimits(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let fields: Set = ["project_id", "service_id", "region_id", "resource_name", "resource_limit", "description"]
        var limits: [ProjectLimit] = []
        for o in try Self.items(try await request.jsonBody(context), "limits") {
            if o["domain_id"] != nil {
                throw ServiceError(
                    .notImplemented, explanation: "Domain limits are not supported: the enforcement model is flat.")
            }
            try Self.onlyMembers(o, fields)
            limits.append(
                ProjectLimit(
                    id: "", projectId: try Self.requiredText(o, "project_id"),
                    serviceId: try Self.requiredText(o, "service_id"),
                    regionId: try Self.text(o, "region_id", nullable: true) ?? nil,
                    resourceName: try Self.requiredText(o, "resource_name"),
                    resourceLimit: try Self.requiredLimit(o, "resource_limit"),
                    description: try Self.text(o, "description", nullable: true) ?? nil))
        }
        let created = try await keystone.createProjectLimits(limits, in: limitTargets, by: p)
        return .json(["limits": .array(created.map { projectLimitJSON($0, context) })], status: .created)
    }

    @Sendable func showProjectLimit(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let limit = try await keystone.projectLimit(context.parameters.decoded("id"), by: try context.principal())
        return .json(["limit": projectLimitJSON(limit, context)])
    }

    @Sendable func updateProjectLimit(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        guard let o = try await request.jsonBody(context)["limit"]?.objectValue, !o.isEmpty else {
            throw KeystoneService.invalid("limit", "'limit' must be a non-empty object")
        }
        try Self.onlyMembers(o, ["resource_limit", "description"])
        let limit = try await keystone.updateProjectLimit(
            context.parameters.decoded("id"), resourceLimit: try Self.limitValue(o["resource_limit"], "resource_limit"),
            description: try Self.text(o, "description", nullable: true), by: p)
        return .json(["limit": projectLimitJSON(limit, context)])
    }

    @Sendable func deleteProjectLimit(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await keystone.deleteProjectLimit(context.parameters.decoded("id"), by: try context.principal())
        return .empty()
    }

    /// `GET /v3/limits/model`: limits ignore the project hierarchy.
    @Sendable func limitModel(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        _ = try context.principal()
        return .json([
            "model": [
                "name": "flat",
                "description":
                    "Limit enforcement and validation does not take project hierarchy into consideration.",
            ]
        ])
    }
}
