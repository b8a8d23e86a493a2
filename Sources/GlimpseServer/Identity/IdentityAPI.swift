import GlimpseCore
import GlimpseIdentity
import HTTPTypes
import Hummingbird
import OpenStackJSON

/// The Keystone v3 subset under `/identity`: version discovery, tokens, and the
/// administration of domains, projects, users, roles and role assignments.
struct IdentityAPI: Sendable {
    let keystone: KeystoneService
    let catalog: Catalog

    static let versionId = "v3.14"

    func versionObject(_ base: String) -> JSONValue {
        [
            "id": .string(Self.versionId), "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [["rel": "self", "href": .string(base + "/identity/v3/")]],
            "media-types": [["base": "application/json", "type": "application/vnd.openstack.identity-v3+json"]],
        ]
    }

    /// Handles `segments` below `/identity`.
    func handle(_ req: APIRequest, _ segments: [String]) async throws -> Response {
        let base = req.baseURL
        if segments.isEmpty || segments == [""] {
            guard req.method == .get || req.method == .head else { throw notAllowed("GET") }
            return req.json(["versions": ["values": [versionObject(base), versionV2(base)]]], status: .multipleChoices)
        }
        if segments[0] == "v2.0" {
            return try await handleV2(req, Array(segments.dropFirst()).filter { !$0.isEmpty })
        }
        guard segments[0] == "v3" else { throw ServiceError.notFound("The resource could not be found.") }
        let rest = Array(segments.dropFirst()).filter { !$0.isEmpty }
        switch rest.first {
        case nil:
            guard req.method == .get || req.method == .head else { throw notAllowed("GET") }
            return req.json(["version": versionObject(base)])
        case "auth": return try await auth(req, Array(rest.dropFirst()))
        case "domains": return try await domains(req, Array(rest.dropFirst()))
        case "projects": return try await projects(req, Array(rest.dropFirst()))
        case "users": return try await users(req, Array(rest.dropFirst()))
        case "roles": return try await roles(req, Array(rest.dropFirst()))
        case "role_assignments":
            guard rest.count == 1, req.method == .get else { throw notAllowed("GET") }
            return try await roleAssignments(req)
        case "services", "endpoints", "regions":
            guard rest.count == 1, req.method == .get else { throw notAllowed("GET") }
            return try await catalogResources(req, rest[0])
        default:
            throw ServiceError.notFound("The resource could not be found.")
        }
    }

    func notAllowed(_ allowed: String) -> ServiceError {
        ServiceError(.methodNotAllowed(allowed: allowed.split(separator: ",").map { $0.trimmingCharacters(in: " ") }))
    }

    func principal(_ req: APIRequest) async throws -> TokenInfo {
        guard let token = req.header(.authToken), let info = try await keystone.validate(token: token) else {
            throw ServiceError.unauthorized("The request you have made requires authentication.")
        }
        return info
    }

    func link(_ req: APIRequest, _ path: String) -> JSONValue { ["self": .string(req.baseURL + "/identity/v3/" + path)] }

    func collectionLinks(_ req: APIRequest, _ path: String) -> JSONValue {
        ["self": .string(req.baseURL + "/identity/v3/" + path), "previous": nil, "next": nil]
    }

    // MARK: Tokens

    func auth(_ req: APIRequest, _ rest: [String]) async throws -> Response {
        switch rest {
        case ["tokens"]:
            switch req.method {
            case .post: return try await issueToken(req)
            case .get, .head:
                _ = try await principal(req)
                guard let subject = req.header(.subjectToken), let info = try await keystone.validate(token: subject) else {
                    throw ServiceError.notFound("Could not find token.")
                }
                var resp = req.json(tokenBody(info, req, withCatalog: !req.query.contains { $0.0 == "nocatalog" }))
                resp.headers[.subjectToken] = subject
                return resp
            case .delete:
                _ = try await principal(req)
                guard let subject = req.header(.subjectToken), try await keystone.validate(token: subject) != nil else {
                    throw ServiceError.notFound("Could not find token.")
                }
                try await keystone.revoke(token: subject)
                return Response(status: .noContent)
            default: throw notAllowed("GET, HEAD, POST, DELETE")
            }
        case ["catalog"]:
            let info = try await principal(req)
            return req.json(["catalog": catalog.v3(base: req.baseURL, project: info.project?.id), "links": link(req, "auth/catalog")])
        case ["projects"]:
            let info = try await principal(req)
            let projects = try await keystone.userProjects(info.user.id, by: info.principal)
            return req.json(["projects": .array(projects.map { projectJSON($0, req) }), "links": collectionLinks(req, "auth/projects")])
        case ["domains"], ["system"]:
            _ = try await principal(req)
            return req.json([rest[0]: [], "links": collectionLinks(req, "auth/" + rest[0])])
        default:
            throw ServiceError.notFound("The resource could not be found.")
        }
    }

    func issueToken(_ req: APIRequest) async throws -> Response {
        let body = try await req.jsonBody(limit: 64 << 10)
        let request = try Self.parseAuth(body)
        let (token, info) = try await keystone.authenticate(request)
        var resp = req.json(tokenBody(info, req, withCatalog: !req.query.contains { $0.0 == "nocatalog" }), status: .created)
        resp.headers[.subjectToken] = token
        return resp
    }

    static func invalid(_ message: String) -> ServiceError { .badRequest("Invalid input for field 'auth': \(message)") }

    static func domainRef(_ v: JSONValue?) throws(ServiceError) -> DomainRef {
        guard let v else { throw invalid("'domain' is a required property") }
        if let id = v["id"]?.stringValue { return .id(id) }
        if let name = v["name"]?.stringValue { return .name(name) }
        throw invalid("'id' or 'name' is required in domain")
    }

    /// Reads a v3 auth body: password (user by id, or name + domain) or token, and an
    /// optional project scope (by id, or name + domain).
    static func parseAuth(_ body: JSONValue) throws(ServiceError) -> AuthRequest {
        guard let auth = body["auth"], let identity = auth["identity"] else { throw invalid("'identity' is a required property") }
        guard let methods = identity["methods"]?.arrayValue?.compactMap(\.stringValue), !methods.isEmpty else {
            throw invalid("'methods' is a required property")
        }
        let method: AuthMethod
        if methods.contains("password") {
            guard let user = identity["password"]?["user"], let password = user["password"]?.stringValue else {
                throw invalid("'password' is a required property")
            }
            if let id = user["id"]?.stringValue {
                method = .password(.id(id), password: password)
            } else if let name = user["name"]?.stringValue {
                method = .password(.name(name, domain: try domainRef(user["domain"])), password: password)
            } else {
                throw invalid("'id' or 'name' is required in user")
            }
        } else if methods.contains("token") {
            guard let id = identity["token"]?["id"]?.stringValue else { throw invalid("'id' is a required property in token") }
            method = .token(id)
        } else {
            throw ServiceError.unauthorized("The request you have made requires authentication.")
        }
        var project: ProjectRef?
        if let scope = auth["scope"], !scope.isNull {
            if let p = scope["project"] {
                if let id = p["id"]?.stringValue {
                    project = .id(id)
                } else if let name = p["name"]?.stringValue {
                    project = .name(name, domain: try domainRef(p["domain"]))
                } else {
                    throw invalid("'id' or 'name' is required in project")
                }
            } else if scope.stringValue == nil {
                // Domain, system and trust scopes are not offered by the built-in identity.
                throw ServiceError.unauthorized("The request you have made requires authentication.")
            }
        }
        return AuthRequest(method: method, project: project)
    }

    func tokenBody(_ info: TokenInfo, _ req: APIRequest, withCatalog: Bool) -> JSONValue {
        var token = JSONObject()
        token["methods"] = .array(info.record.methods.map { .string($0) })
        token["user"] = [
            "id": .string(info.user.id), "name": .string(info.user.name),
            "domain": ["id": .string(info.userDomain.id), "name": .string(info.userDomain.name)],
            "password_expires_at": nil,
        ]
        if let project = info.project, let domain = info.projectDomain {
            token["project"] = [
                "id": .string(project.id), "name": .string(project.name),
                "domain": ["id": .string(domain.id), "name": .string(domain.name)],
            ]
            token["is_domain"] = false
            token["roles"] = .array(info.roles.map { ["id": .string($0.id), "name": .string($0.name)] })
            if withCatalog { token["catalog"] = catalog.v3(base: req.baseURL, project: project.id) }
        }
        token["audit_ids"] = .array(info.record.auditIds.map { .string($0) })
        token["issued_at"] = .string(info.record.issuedAt.iso8601Microseconds)
        token["expires_at"] = .string(info.record.expiresAt.iso8601Microseconds)
        return ["token": .object(token)]
    }

    // MARK: Resources

    func domainJSON(_ d: Domain, _ req: APIRequest) -> JSONValue {
        [
            "id": .string(d.id), "name": .string(d.name), "description": .string(d.description), "enabled": .bool(d.enabled),
            "tags": [], "options": [:], "links": link(req, "domains/" + d.id),
        ]
    }

    func projectJSON(_ p: Project, _ req: APIRequest) -> JSONValue {
        [
            "id": .string(p.id), "name": .string(p.name), "domain_id": .string(p.domainId),
            "description": .string(p.description), "enabled": .bool(p.enabled), "parent_id": .string(p.domainId),
            "is_domain": false, "tags": [], "options": [:], "links": link(req, "projects/" + p.id),
        ]
    }

    func userJSON(_ u: User, _ req: APIRequest) -> JSONValue {
        var o: JSONObject = [
            "id": .string(u.id), "name": .string(u.name), "domain_id": .string(u.domainId), "enabled": .bool(u.enabled),
            "password_expires_at": nil, "options": [:], "links": link(req, "users/" + u.id),
        ]
        if let p = u.defaultProjectId { o["default_project_id"] = .string(p) }
        if let e = u.email { o["email"] = .string(e) }
        if let d = u.description { o["description"] = .string(d) }
        return .object(o)
    }

    func roleJSON(_ r: Role, _ req: APIRequest) -> JSONValue {
        var o: JSONObject = [
            "id": .string(r.id), "name": .string(r.name), "domain_id": nil, "options": [:], "links": link(req, "roles/" + r.id),
        ]
        if let d = r.description { o["description"] = .string(d) }
        return .object(o)
    }

    func query(_ req: APIRequest, _ name: String) -> String? { req.query.last { $0.0 == name }?.1 }

    func domains(_ req: APIRequest, _ rest: [String]) async throws -> Response {
        let p = try await principal(req).principal
        switch (rest.count, req.method) {
        case (0, .get):
            let list = try await keystone.listDomains(name: query(req, "name"), by: p)
            return req.json(["domains": .array(list.map { domainJSON($0, req) }), "links": collectionLinks(req, "domains")])
        case (0, .post):
            let d = try await req.jsonBody()["domain"] ?? [:]
            guard let name = d["name"]?.stringValue else { throw ServiceError.badRequest("Invalid input for field 'name': 'name' is a required property") }
            let domain = try await keystone.createDomain(name: name, description: d["description"]?.stringValue ?? "",
                                                         enabled: d["enabled"]?.boolValue ?? true, by: p)
            return req.json(["domain": domainJSON(domain, req)], status: .created)
        case (0, _): throw notAllowed("GET, POST")
        case (1, .get): return req.json(["domain": domainJSON(try await keystone.domain(rest[0], by: p), req)])
        case (1, _): throw notAllowed("GET")
        default: throw ServiceError.notFound("The resource could not be found.")
        }
    }

    func projects(_ req: APIRequest, _ rest: [String]) async throws -> Response {
        let p = try await principal(req).principal
        switch (rest.count, req.method) {
        case (0, .get):
            let list = try await keystone.listProjects(domainId: query(req, "domain_id"), name: query(req, "name"), by: p)
            return req.json(["projects": .array(list.map { projectJSON($0, req) }), "links": collectionLinks(req, "projects")])
        case (0, .post):
            let b = try await req.jsonBody()["project"] ?? [:]
            guard let name = b["name"]?.stringValue else { throw ServiceError.badRequest("Invalid input for field 'name': 'name' is a required property") }
            let project = try await keystone.createProject(
                name: name, domainId: b["domain_id"]?.stringValue, description: b["description"]?.stringValue ?? "",
                enabled: b["enabled"]?.boolValue ?? true, by: p)
            return req.json(["project": projectJSON(project, req)], status: .created)
        case (0, _): throw notAllowed("GET, POST")
        case (1, .get): return req.json(["project": projectJSON(try await keystone.project(rest[0], by: p), req)])
        case (1, .patch):
            let b = try await req.jsonBody()["project"] ?? [:]
            let project = try await keystone.updateProject(rest[0], name: b["name"]?.stringValue, description: b["description"]?.stringValue,
                                                           enabled: b["enabled"]?.boolValue, by: p)
            return req.json(["project": projectJSON(project, req)])
        case (1, .delete):
            try await keystone.deleteProject(rest[0], by: p)
            return Response(status: .noContent)
        case (1, _): throw notAllowed("GET, PATCH, DELETE")
        case (4, _) where rest[1] == "users" && rest[3] == "roles":
            guard req.method == .get else { throw notAllowed("GET") }
            let roles = try await keystone.grants(userId: rest[2], projectId: rest[0], by: p)
            return req.json(["roles": .array(roles.map { roleJSON($0, req) }), "links": collectionLinks(req, rest.joined(separator: "/"))])
        case (5, _) where rest[1] == "users" && rest[3] == "roles":
            let (project, user, role) = (rest[0], rest[2], rest[4])
            switch req.method {
            case .put: try await keystone.grant(userId: user, projectId: project, roleId: role, by: p)
            case .delete: try await keystone.revoke(userId: user, projectId: project, roleId: role, by: p)
            case .get, .head: try await keystone.checkGrant(userId: user, projectId: project, roleId: role, by: p)
            default: throw notAllowed("GET, HEAD, PUT, DELETE")
            }
            return Response(status: .noContent)
        default:
            throw ServiceError.notFound("The resource could not be found.")
        }
    }

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

    func users(_ req: APIRequest, _ rest: [String]) async throws -> Response {
        if rest.count == 2, rest[1] == "password", req.method == .post {
            // Changing one's own password needs the old one, not a token.
            let b = try await req.jsonBody()["user"] ?? [:]
            guard let original = b["original_password"]?.stringValue, let new = b["password"]?.stringValue else {
                throw ServiceError.badRequest("Invalid input for field 'user': 'original_password' and 'password' are required")
            }
            try await keystone.changePassword(rest[0], original: original, new: new, by: nil)
            return Response(status: .noContent)
        }
        let p = try await principal(req).principal
        switch (rest.count, req.method) {
        case (0, .get):
            let list = try await keystone.listUsers(domainId: query(req, "domain_id"), name: query(req, "name"), by: p)
            return req.json(["users": .array(list.map { userJSON($0, req) }), "links": collectionLinks(req, "users")])
        case (0, .post):
            let user = try await keystone.createUser(Self.userFields(try await req.jsonBody()["user"] ?? [:]), by: p)
            return req.json(["user": userJSON(user, req)], status: .created)
        case (0, _): throw notAllowed("GET, POST")
        case (1, .get): return req.json(["user": userJSON(try await keystone.user(rest[0], by: p), req)])
        case (1, .patch):
            let user = try await keystone.updateUser(rest[0], Self.userFields(try await req.jsonBody()["user"] ?? [:]), by: p)
            return req.json(["user": userJSON(user, req)])
        case (1, .delete):
            try await keystone.deleteUser(rest[0], by: p)
            return Response(status: .noContent)
        case (1, _): throw notAllowed("GET, PATCH, DELETE")
        case (2, .get) where rest[1] == "projects":
            let list = try await keystone.userProjects(rest[0], by: p)
            return req.json(["projects": .array(list.map { projectJSON($0, req) }), "links": collectionLinks(req, rest.joined(separator: "/"))])
        default:
            throw ServiceError.notFound("The resource could not be found.")
        }
    }

    func roles(_ req: APIRequest, _ rest: [String]) async throws -> Response {
        let p = try await principal(req).principal
        switch (rest.count, req.method) {
        case (0, .get):
            let list = try await keystone.listRoles(name: query(req, "name"), by: p)
            return req.json(["roles": .array(list.map { roleJSON($0, req) }), "links": collectionLinks(req, "roles")])
        case (0, .post):
            let b = try await req.jsonBody()["role"] ?? [:]
            guard let name = b["name"]?.stringValue else { throw ServiceError.badRequest("Invalid input for field 'name': 'name' is a required property") }
            let role = try await keystone.createRole(name: name, description: b["description"]?.stringValue, by: p)
            return req.json(["role": roleJSON(role, req)], status: .created)
        case (0, _): throw notAllowed("GET, POST")
        case (1, .get): return req.json(["role": roleJSON(try await keystone.role(rest[0], by: p), req)])
        case (1, .delete):
            try await keystone.deleteRole(rest[0], by: p)
            return Response(status: .noContent)
        case (1, _): throw notAllowed("GET, DELETE")
        default: throw ServiceError.notFound("The resource could not be found.")
        }
    }

    func roleAssignments(_ req: APIRequest) async throws -> Response {
        let p = try await principal(req).principal
        let list = try await keystone.roleAssignments(
            userId: query(req, "user.id"), projectId: query(req, "scope.project.id"), roleId: query(req, "role.id"), by: p)
        let names = req.query.contains { $0.0 == "include_names" && $0.1 != "false" && $0.1 != "0" }
        var items: [JSONValue] = []
        for a in list {
            var user: JSONObject = ["id": .string(a.userId)]
            var project: JSONObject = ["id": .string(a.projectId)]
            var role: JSONObject = ["id": .string(a.roleId)]
            if names {
                if let u = try? await keystone.store.user(id: a.userId) {
                    user["name"] = .string(u.name)
                    user["domain"] = ["id": .string(u.domainId)]
                }
                if let pr = try? await keystone.store.project(id: a.projectId) {
                    project["name"] = .string(pr.name)
                    project["domain"] = ["id": .string(pr.domainId)]
                }
                if let r = try? await keystone.store.role(id: a.roleId) { role["name"] = .string(r.name) }
            }
            items.append([
                "user": .object(user), "scope": ["project": .object(project)], "role": .object(role),
                "links": ["assignment": .string(req.baseURL + "/identity/v3/projects/\(a.projectId)/users/\(a.userId)/roles/\(a.roleId)")],
            ])
        }
        return req.json(["role_assignments": .array(items), "links": collectionLinks(req, "role_assignments")])
    }

    /// Read-only views of the catalog as Keystone's services, endpoints and regions.
    func catalogResources(_ req: APIRequest, _ kind: String) async throws -> Response {
        _ = try await principal(req)
        let services = catalog.v3(base: req.baseURL, project: nil).arrayValue ?? []
        switch kind {
        case "services":
            return req.json(["services": .array(services.map { s in
                ["id": s["id"] ?? nil, "type": s["type"] ?? nil, "name": s["name"] ?? nil, "enabled": true, "description": ""]
            }), "links": collectionLinks(req, kind)])
        case "endpoints":
            var out: [JSONValue] = []
            for s in services {
                for e in s["endpoints"]?.arrayValue ?? [] {
                    out.append(["id": e["id"] ?? nil, "interface": e["interface"] ?? nil, "region": e["region"] ?? nil,
                                "region_id": e["region_id"] ?? nil, "url": e["url"] ?? nil, "service_id": s["id"] ?? nil,
                                "enabled": true])
                }
            }
            return req.json(["endpoints": .array(out), "links": collectionLinks(req, kind)])
        default:
            return req.json(["regions": [["id": .string(catalog.region), "description": "", "parent_region_id": nil]],
                             "links": collectionLinks(req, kind)])
        }
    }
}
