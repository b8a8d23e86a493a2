import GlimpseCore
import GlimpseIdentity
import HTTPTypes
import Hummingbird
import OpenStackEncoding
import OpenStackJSON

/// The built-in Keystone under `/identity`: version discovery, v3 tokens, the
/// administration of domains, projects, users, roles, role assignments and unified limits,
/// and v2.0 tokens
/// for Rackspace-era clients.
struct IdentityRoutes {
    let keystone: KeystoneService
    let catalog: Catalog

    static let versionId = "v3.14"

    func add(to router: Router<GlimpseRequestContext>) {
        let routes = APIRoutes(middleware: [KeystoneTokenAuthenticator(keystone: keystone), RequireIdentity()])
        routes.resource("/", open: [(.get, versions), (.head, versions)])
        routes.resource("/v3", open: [(.get, versionV3), (.head, versionV3)])
        // Getting a token needs none; changing one's password needs the old one instead.
        routes.resource(
            "/v3/auth/tokens", open: [(.post, issueToken)],
            [(.get, validateToken), (.head, validateToken), (.delete, revokeToken)])
        routes.resource("/v3/auth/catalog", [(.get, authCatalog), (.head, authCatalog)])
        routes.resource("/v3/auth/projects", [(.get, authProjects), (.head, authProjects)])
        routes.resource("/v3/auth/domains", [(.get, authEmpty("domains")), (.head, authEmpty("domains"))])
        routes.resource("/v3/auth/system", [(.get, authSystem), (.head, authSystem)])
        routes.resource("/v3/domains", [(.get, listDomains), (.post, createDomain)])
        routes.resource("/v3/domains/:id", [(.get, showDomain)])
        routes.resource("/v3/projects", [(.get, listProjects), (.post, createProject)])
        routes.resource("/v3/projects/:id", [(.get, showProject), (.patch, updateProject), (.delete, deleteProject)])
        routes.resource("/v3/projects/:id/users/:user/roles", [(.get, listGrants)])
        routes.resource(
            "/v3/projects/:id/users/:user/roles/:role",
            [(.get, checkGrant), (.head, checkGrant), (.put, grant), (.delete, revokeGrant)])
        routes.resource("/v3/system/users/:user/roles", [(.get, listSystemGrants)])
        routes.resource(
            "/v3/system/users/:user/roles/:role",
            [(.get, checkSystemGrant), (.head, checkSystemGrant), (.put, grantSystem), (.delete, revokeSystemGrant)])
        routes.resource("/v3/users", [(.get, listUsers), (.post, createUser)])
        routes.resource("/v3/users/:id", [(.get, showUser), (.patch, updateUser), (.delete, deleteUser)])
        routes.resource("/v3/users/:id/projects", [(.get, userProjects)])
        routes.resource("/v3/users/:id/password", open: [(.post, changePassword)])
        routes.resource("/v3/roles", [(.get, listRoles), (.post, createRole)])
        routes.resource("/v3/roles/:id", [(.get, showRole), (.delete, deleteRole)])
        routes.resource("/v3/role_assignments", [(.get, roleAssignments)])
        routes.resource("/v3/registered_limits", [(.get, listRegisteredLimits), (.post, createRegisteredLimits)])
        routes.resource(
            "/v3/registered_limits/:id",
            [(.get, showRegisteredLimit), (.patch, updateRegisteredLimit), (.delete, deleteRegisteredLimit)])
        routes.resource("/v3/limits", [(.get, listProjectLimits), (.post, createProjectLimits)])
        routes.resource("/v3/limits/model", [(.get, limitModel)])
        routes.resource(
            "/v3/limits/:id", [(.get, showProjectLimit), (.patch, updateProjectLimit), (.delete, deleteProjectLimit)])
        routes.resource("/v3/services/:id", [(.get, showService)])
        routes.resource("/v3/regions/:id", [(.get, showRegion)])
        for kind in ["services", "endpoints", "regions"] {
            routes.resource(RouterPath("/v3/" + kind), [(.get, catalogResources(kind))])
        }
        addV2(to: routes)
        routes.add(to: router, at: "/identity")
    }

    // MARK: Versions

    func versionObject(_ base: String) -> JSONValue {
        [
            "id": .string(Self.versionId), "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [["rel": "self", "href": .string(base + "/identity/v3/")]],
            "media-types": [["base": "application/json", "type": "application/vnd.openstack.identity-v3+json"]],
        ]
    }

    @Sendable func versions(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let base = context.baseURL
        return .json(["versions": ["values": [versionObject(base), versionV2(base)]]], status: .multipleChoices)
    }

    @Sendable func versionV3(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        .json(["version": versionObject(context.baseURL)])
    }

    // MARK: Tokens

    @Sendable func issueToken(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let auth = try Self.parseAuth(try await request.jsonBody(context, limit: 64 << 10))
        let (token, info) = try await keystone.authenticate(auth, source: context.channel.remoteAddress?.ipAddress)
        var response = Response.json(
            tokenBody(info, context, withCatalog: request.query("nocatalog") == nil), status: .created)
        response.headers[.subjectToken] = token
        return response
    }

    /// The `X-Subject-Token` of a token request, if it names a valid token the caller may
    /// `action` (Keystone's rule: an admin, a service, or the token's own user).
    func subject(
        _ request: Request, _ context: GlimpseRequestContext, _ action: String
    ) async throws -> (String, TokenInfo) {
        guard let subject = request.headers[.subjectToken], let info = try await keystone.validate(token: subject)
        else {
            throw ServiceError.notFound("Could not find token.")
        }
        let caller = try context.tokenInfo()
        guard caller.principal.isAdmin || caller.principal.roles.contains("service") || caller.user.id == info.user.id
        else {
            throw ServiceError.forbidden("You are not authorized to perform the requested action: identity:\(action).")
        }
        return (subject, info)
    }

    @Sendable func validateToken(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let (subject, info) = try await self.subject(request, context, "validate_token")
        var response = Response.json(tokenBody(info, context, withCatalog: request.query("nocatalog") == nil))
        response.headers[.subjectToken] = subject
        return response
    }

    @Sendable func revokeToken(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let (subject, _) = try await self.subject(request, context, "revoke_token")
        try await keystone.revoke(token: subject)
        return .empty()
    }

    @Sendable func authCatalog(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let info = try context.tokenInfo()
        return .json([
            "catalog": catalog.v3(base: context.baseURL, project: info.project?.id),
            "links": link(context, "auth/catalog"),
        ])
    }

    @Sendable func authProjects(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let info = try context.tokenInfo()
        let projects = try await keystone.userProjects(info.user.id, by: info.principal)
        return .json([
            "projects": .array(projects.map { projectJSON($0, context) }),
            "links": collectionLinks(context, "auth/projects"),
        ])
    }

    /// `GET /v3/auth/system`: `[{"all": true}]` if the caller holds a role on the system.
    @Sendable func authSystem(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let info = try context.tokenInfo()
        let held = try await !keystone.effectiveSystemRoles(userId: info.user.id).isEmpty
        return .json(["system": held ? [["all": true]] : [], "links": collectionLinks(context, "auth/system")])
    }

    func authEmpty(_ name: String) -> Handler {
        { _, context in .json([.init(stringLiteral: name): [], "links": collectionLinks(context, "auth/" + name)]) }
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
        guard let auth = body["auth"], let identity = auth["identity"] else {
            throw invalid("'identity' is a required property")
        }
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
            guard let id = identity["token"]?["id"]?.stringValue else {
                throw invalid("'id' is a required property in token")
            }
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
            } else if scope["system"]?["all"]?.boolValue == true {
                return AuthRequest(method: method, project: nil, system: true)
            } else if scope.stringValue == nil {
                // Domain and trust scopes are not offered by the built-in identity.
                throw ServiceError.unauthorized("The request you have made requires authentication.")
            }
        }
        return AuthRequest(method: method, project: project)
    }

    func tokenBody(_ info: TokenInfo, _ context: GlimpseRequestContext, withCatalog: Bool) -> JSONValue {
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
            if withCatalog { token["catalog"] = catalog.v3(base: context.baseURL, project: project.id) }
        } else if info.record.system {
            token["system"] = ["all": true]
            token["roles"] = .array(info.roles.map { ["id": .string($0.id), "name": .string($0.name)] })
            if withCatalog { token["catalog"] = catalog.v3(base: context.baseURL, project: nil) }
        }
        token["audit_ids"] = .array(info.record.auditIds.map { .string($0) })
        token["issued_at"] = .string(info.record.issuedAt.iso8601Microseconds)
        token["expires_at"] = .string(info.record.expiresAt.iso8601Microseconds)
        return ["token": .object(token)]
    }

    // MARK: JSON

    func link(_ context: GlimpseRequestContext, _ path: String) -> JSONValue {
        ["self": .string(context.baseURL + "/identity/v3/" + path)]
    }

    func collectionLinks(_ context: GlimpseRequestContext, _ path: String) -> JSONValue {
        ["self": .string(context.baseURL + "/identity/v3/" + path), "previous": nil, "next": nil]
    }

    func domainJSON(_ d: Domain, _ context: GlimpseRequestContext) -> JSONValue {
        [
            "id": .string(d.id), "name": .string(d.name), "description": .string(d.description),
            "enabled": .bool(d.enabled),
            "tags": [], "options": [:], "links": link(context, "domains/" + d.id),
        ]
    }

    func projectJSON(_ p: Project, _ context: GlimpseRequestContext) -> JSONValue {
        [
            "id": .string(p.id), "name": .string(p.name), "domain_id": .string(p.domainId),
            "description": .string(p.description), "enabled": .bool(p.enabled), "parent_id": .string(p.domainId),
            "is_domain": false, "tags": [], "options": [:], "links": link(context, "projects/" + p.id),
        ]
    }

    func userJSON(_ u: User, _ context: GlimpseRequestContext) -> JSONValue {
        var o: JSONObject = [
            "id": .string(u.id), "name": .string(u.name), "domain_id": .string(u.domainId), "enabled": .bool(u.enabled),
            "password_expires_at": nil, "options": [:], "links": link(context, "users/" + u.id),
        ]
        if let p = u.defaultProjectId { o["default_project_id"] = .string(p) }
        if let e = u.email { o["email"] = .string(e) }
        if let d = u.description { o["description"] = .string(d) }
        return .object(o)
    }

    func roleJSON(_ r: Role, _ context: GlimpseRequestContext) -> JSONValue {
        var o: JSONObject = [
            "id": .string(r.id), "name": .string(r.name), "domain_id": nil, "options": [:],
            "links": link(context, "roles/" + r.id),
        ]
        if let d = r.description { o["description"] = .string(d) }
        return .object(o)
    }

    static func requireName(_ body: JSONValue) throws(ServiceError) -> String {
        guard let name = body["name"]?.stringValue else {
            throw .badRequest("Invalid input for field 'name': 'name' is a required property")
        }
        return name
    }
}
