import GlimpseCore
import GlimpseIdentity
import Hummingbird
import OpenStackJSON

/// `/identity/v3/{domains,projects,users,roles,role_assignments}` and the catalog's views as
/// `/identity/v3/{services,endpoints,regions}`.
extension IdentityRoutes {
    // MARK: Domains

    @Sendable func listDomains(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let list = try await keystone.listDomains(name: request.query("name"), by: try context.principal())
        return .json([
            "domains": .array(list.map { domainJSON($0, context) }), "links": collectionLinks(context, "domains"),
        ])
    }

    @Sendable func createDomain(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let d = try await request.jsonBody(context)["domain"] ?? [:]
        let domain = try await keystone.createDomain(
            name: try Self.requireName(d), description: d["description"]?.stringValue ?? "",
            enabled: d["enabled"]?.boolValue ?? true, by: p)
        return .json(["domain": domainJSON(domain, context)], status: .created)
    }

    @Sendable func showDomain(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        .json([
            "domain": domainJSON(
                try await keystone.domain(context.parameters.decoded("id"), by: try context.principal()), context)
        ])
    }

    // MARK: Projects

    @Sendable func listProjects(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let list = try await keystone.listProjects(
            domainId: request.query("domain_id"), name: request.query("name"),
            by: try context.principal())
        return .json([
            "projects": .array(list.map { projectJSON($0, context) }), "links": collectionLinks(context, "projects"),
        ])
    }

    @Sendable func createProject(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let b = try await request.jsonBody(context)["project"] ?? [:]
        let project = try await keystone.createProject(
            name: try Self.requireName(b), domainId: b["domain_id"]?.stringValue,
            description: b["description"]?.stringValue ?? "",
            enabled: b["enabled"]?.boolValue ?? true, by: p)
        return .json(["project": projectJSON(project, context)], status: .created)
    }

    @Sendable func showProject(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        .json([
            "project": projectJSON(
                try await keystone.project(context.parameters.decoded("id"), by: try context.principal()), context)
        ])
    }

    @Sendable func updateProject(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let b = try await request.jsonBody(context)["project"] ?? [:]
        let project = try await keystone.updateProject(
            context.parameters.decoded("id"), name: b["name"]?.stringValue,
            description: b["description"]?.stringValue,
            enabled: b["enabled"]?.boolValue, by: p)
        return .json(["project": projectJSON(project, context)])
    }

    @Sendable func deleteProject(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await keystone.deleteProject(context.parameters.decoded("id"), by: try context.principal())
        return .empty()
    }

    /// The project, user and role of a grant's path.
    func grantPath(_ context: GlimpseRequestContext) -> (project: String, user: String, role: String) {
        (context.parameters.decoded("id"), context.parameters.decoded("user"), context.parameters.decoded("role"))
    }

    @Sendable func listGrants(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let (project, user, _) = grantPath(context)
        let roles = try await keystone.grants(userId: user, projectId: project, by: try context.principal())
        return .json([
            "roles": .array(roles.map { roleJSON($0, context) }),
            "links": collectionLinks(context, "projects/\(project)/users/\(user)/roles"),
        ])
    }

    @Sendable func checkGrant(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let g = grantPath(context)
        try await keystone.checkGrant(userId: g.user, projectId: g.project, roleId: g.role, by: try context.principal())
        return .empty()
    }

    @Sendable func grant(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let g = grantPath(context)
        try await keystone.grant(userId: g.user, projectId: g.project, roleId: g.role, by: try context.principal())
        return .empty()
    }

    @Sendable func revokeGrant(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let g = grantPath(context)
        try await keystone.revoke(userId: g.user, projectId: g.project, roleId: g.role, by: try context.principal())
        return .empty()
    }

    @Sendable func listSystemGrants(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let user = context.parameters.decoded("user")
        let roles = try await keystone.systemGrants(userId: user, by: try context.principal())
        return .json([
            "roles": .array(roles.map { roleJSON($0, context) }),
            "links": collectionLinks(context, "system/users/\(user)/roles"),
        ])
    }

    @Sendable func checkSystemGrant(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await keystone.checkSystemGrant(
            userId: context.parameters.decoded("user"), roleId: context.parameters.decoded("role"),
            by: try context.principal())
        return .empty()
    }

    @Sendable func grantSystem(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await keystone.grantSystem(
            userId: context.parameters.decoded("user"), roleId: context.parameters.decoded("role"),
            by: try context.principal())
        return .empty()
    }

    @Sendable func revokeSystemGrant(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await keystone.revokeSystem(
            userId: context.parameters.decoded("user"), roleId: context.parameters.decoded("role"),
            by: try context.principal())
        return .empty()
    }

    // MARK: Users

    static func userFields(_ b: JSONValue) -> KeystoneService.UserFields {
        var f = KeystoneService.UserFields()
        f.name = b["name"]?.stringValue
        f.domainId = b["domain_id"]?.stringValue
        f.password = b["password"]?.stringValue
        f.enabled = b["enabled"]?.boolValue
        f.defaultProjectId = b["default_project_id"]?.stringValue
        f.email = b["email"]?.stringValue
        f.description = b["description"]?.stringValue
        return f
    }

    @Sendable func listUsers(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let list = try await keystone.listUsers(
            domainId: request.query("domain_id"), name: request.query("name"),
            by: try context.principal())
        return .json(["users": .array(list.map { userJSON($0, context) }), "links": collectionLinks(context, "users")])
    }

    @Sendable func createUser(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let user = try await keystone.createUser(
            Self.userFields(try await request.jsonBody(context)["user"] ?? [:]), by: p)
        return .json(["user": userJSON(user, context)], status: .created)
    }

    @Sendable func showUser(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        .json([
            "user": userJSON(
                try await keystone.user(context.parameters.decoded("id"), by: try context.principal()), context)
        ])
    }

    @Sendable func updateUser(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let fields = Self.userFields(try await request.jsonBody(context)["user"] ?? [:])
        let user = try await keystone.updateUser(context.parameters.decoded("id"), fields, by: p)
        return .json(["user": userJSON(user, context)])
    }

    @Sendable func deleteUser(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await keystone.deleteUser(context.parameters.decoded("id"), by: try context.principal())
        return .empty()
    }

    @Sendable func userProjects(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let id = context.parameters.decoded("id")
        let list = try await keystone.userProjects(id, by: try context.principal())
        return .json([
            "projects": .array(list.map { projectJSON($0, context) }),
            "links": collectionLinks(context, "users/\(id)/projects"),
        ])
    }

    /// `POST /v3/users/{id}/password`: proven by the old password, not a token.
    @Sendable func changePassword(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let b = try await request.jsonBody(context)["user"] ?? [:]
        guard let original = b["original_password"]?.stringValue, let new = b["password"]?.stringValue else {
            throw ServiceError.badRequest(
                "Invalid input for field 'user': 'original_password' and 'password' are required")
        }
        try await keystone.changePassword(context.parameters.decoded("id"), original: original, new: new, by: nil)
        return .empty()
    }

    // MARK: Roles

    @Sendable func listRoles(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let list = try await keystone.listRoles(name: request.query("name"), by: try context.principal())
        return .json(["roles": .array(list.map { roleJSON($0, context) }), "links": collectionLinks(context, "roles")])
    }

    @Sendable func createRole(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let b = try await request.jsonBody(context)["role"] ?? [:]
        let role = try await keystone.createRole(
            name: try Self.requireName(b), description: b["description"]?.stringValue, by: p)
        return .json(["role": roleJSON(role, context)], status: .created)
    }

    @Sendable func showRole(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        .json([
            "role": roleJSON(
                try await keystone.role(context.parameters.decoded("id"), by: try context.principal()), context)
        ])
    }

    @Sendable func deleteRole(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await keystone.deleteRole(context.parameters.decoded("id"), by: try context.principal())
        return .empty()
    }

    @Sendable func roleAssignments(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        var scope = KeystoneService.AssignmentScope.any
        if let project = request.query("scope.project.id") {
            scope = .project(project)
        } else if request.query("scope.system") != nil {
            scope = .system
        }
        let (project, system) = try await keystone.roleAssignments(
            userId: request.query("user.id"), scope: scope, roleId: request.query("role.id"),
            by: try context.principal())
        let names = request.queryItems.contains { $0.0 == "include_names" && $0.1 != "false" && $0.1 != "0" }
        func named(userId: String, roleId: String) async throws -> (user: JSONObject, role: JSONObject) {
            var user: JSONObject = ["id": .string(userId)]
            var role: JSONObject = ["id": .string(roleId)]
            if names {
                if let u = try await keystone.store.user(id: userId) {
                    user["name"] = .string(u.name)
                    user["domain"] = ["id": .string(u.domainId)]
                }
                if let r = try await keystone.store.role(id: roleId) { role["name"] = .string(r.name) }
            }
            return (user, role)
        }
        var items: [JSONValue] = []
        for a in project {
            let (user, role) = try await named(userId: a.userId, roleId: a.roleId)
            var project: JSONObject = ["id": .string(a.projectId)]
            if names, let pr = try await keystone.store.project(id: a.projectId) {
                project["name"] = .string(pr.name)
                project["domain"] = ["id": .string(pr.domainId)]
            }
            items.append([
                "user": .object(user), "scope": ["project": .object(project)], "role": .object(role),
                "links": [
                    "assignment": .string(
                        context.baseURL
                            + "/identity/v3/projects/\(a.projectId)/users/\(a.userId)/roles/\(a.roleId)")
                ],
            ])
        }
        for a in system {
            let (user, role) = try await named(userId: a.userId, roleId: a.roleId)
            items.append([
                "user": .object(user), "scope": ["system": ["all": true]], "role": .object(role),
                "links": [
                    "assignment": .string(context.baseURL + "/identity/v3/system/users/\(a.userId)/roles/\(a.roleId)")
                ],
            ])
        }
        return .json(["role_assignments": .array(items), "links": collectionLinks(context, "role_assignments")])
    }

    /// A catalog service as Keystone's `/v3/services` shows it.
    func serviceJSON(_ s: JSONValue) -> JSONValue {
        ["id": s["id"] ?? nil, "type": s["type"] ?? nil, "name": s["name"] ?? nil, "enabled": true, "description": ""]
    }

    /// `GET /v3/services/{id}` (clients look a service up by id before they try its name).
    @Sendable func showService(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let id = context.parameters.decoded("id")
        let services = catalog.v3(base: context.baseURL, project: nil).arrayValue ?? []
        guard let service = services.first(where: { $0["id"]?.stringValue == id }) else {
            throw KeystoneService.notFound("service", id)
        }
        return .json(["service": serviceJSON(service)])
    }

    /// `GET /v3/regions/{id}`: the catalog's one region.
    @Sendable func showRegion(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let id = context.parameters.decoded("id")
        guard id == catalog.region else { throw KeystoneService.notFound("region", id) }
        return .json(["region": regionJSON(context)])
    }

    func regionJSON(_ context: GlimpseRequestContext) -> JSONValue {
        [
            "id": .string(catalog.region), "description": "", "parent_region_id": nil,
            "links": link(context, "regions/" + catalog.region),
        ]
    }

    /// Read-only views of the catalog as Keystone's services (filtered by `name` and `type`),
    /// endpoints and regions.
    func catalogResources(_ kind: String) -> Handler {
        { request, context in
            let services = catalog.v3(base: context.baseURL, project: nil).arrayValue ?? []
            switch kind {
            case "services":
                let matching = services.filter { s in
                    ["name", "type"].allSatisfy { key in request.query(key).map { s[key]?.stringValue == $0 } ?? true }
                }
                return .json(["services": .array(matching.map(serviceJSON)), "links": collectionLinks(context, kind)])
            case "endpoints":
                var out: [JSONValue] = []
                for s in services {
                    for e in s["endpoints"]?.arrayValue ?? [] {
                        out.append([
                            "id": e["id"] ?? nil, "interface": e["interface"] ?? nil, "region": e["region"] ?? nil,
                            "region_id": e["region_id"] ?? nil, "url": e["url"] ?? nil, "service_id": s["id"] ?? nil,
                            "enabled": true,
                        ])
                    }
                }
                return .json(["endpoints": .array(out), "links": collectionLinks(context, kind)])
            default:
                return .json(["regions": [regionJSON(context)], "links": collectionLinks(context, kind)])
            }
        }
    }
}
