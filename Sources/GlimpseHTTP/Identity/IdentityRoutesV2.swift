import GlimpseCore
import GlimpseIdentity
import HTTPTypes
import Hummingbird
import OpenStackEncoding
import OpenStackJSON

/// Keystone's v2.0 token API, for Rackspace-era clients (php-opencloud 1.x, fog, jclouds,
/// novaclient-era scripts). Tokens are the same as v3's: a v2.0 token works on every API
/// and validates through v3.
extension IdentityRoutes {
    func versionV2(_ base: String) -> JSONValue {
        [
            "id": "v2.0", "status": "deprecated", "updated": "2016-08-04T00:00:00Z",
            "links": [
                ["rel": "self", "href": .string(base + "/identity/v2.0/")],
                ["rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"],
            ],
            "media-types": [["base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"]],
        ]
    }

    func addV2(to routes: APIRoutes) {
        routes.resource("/v2.0", open: [(.get, versionV2Document), (.head, versionV2Document)])
        routes.resource("/v2.0/tokens", open: [(.post, issueTokenV2)])
        routes.resource(
            "/v2.0/tokens/:token", [(.get, validateTokenV2), (.head, validateTokenV2), (.delete, revokeTokenV2)])
        routes.resource("/v2.0/tenants", [(.get, tenants)])
    }

    @Sendable func versionV2Document(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        .json(["version": versionV2(context.baseURL)])
    }

    @Sendable func issueTokenV2(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let (token, info) = try await keystone.authenticate(
            try Self.parseV2Auth(try await request.jsonBody(context, limit: 64 << 10)),
            source: context.channel.remoteAddress?.ipAddress)
        return .json(accessBody(token: token, info, context))
    }

    @Sendable func validateTokenV2(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let id = context.parameters.decoded("token")
        guard try context.principal().isAdmin else {
            throw ServiceError.forbidden(
                "You are not authorized to perform the requested action: identity:validate_token.")
        }
        guard let info = try await keystone.validate(token: id) else {
            throw ServiceError.notFound("Could not find token: \(id).")
        }
        if let belongsTo = request.query("belongsTo"), info.project?.id != belongsTo {
            throw ServiceError.notFound("Could not find token: \(id).")
        }
        return .json(accessBody(token: id, info, context))
    }

    @Sendable func revokeTokenV2(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let id = context.parameters.decoded("token")
        let caller = try context.tokenInfo()
        let target = try await keystone.validate(token: id)
        guard caller.principal.isAdmin || caller.record.hash == target?.record.hash else {
            throw ServiceError.forbidden(
                "You are not authorized to perform the requested action: identity:revoke_token.")
        }
        guard target != nil else { throw ServiceError.notFound("Could not find token: \(id).") }
        try await keystone.revoke(token: id)
        return .empty()
    }

    @Sendable func tenants(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let info = try context.tokenInfo()
        let projects = try await keystone.userProjects(info.user.id, by: info.principal)
        return .json(["tenants": .array(projects.map(tenantJSON)), "tenants_links": []])
    }

    static func invalidV2(_ message: String) -> ServiceError {
        .badRequest("Invalid input for field 'auth': \(message)")
    }

    /// `{"auth": {"passwordCredentials": {"username", "password"}, "tenantId" | "tenantName"}}`
    /// or `{"auth": {"token": {"id"}, …}}`. v2.0 knows no domains: users and projects are
    /// looked up in the default domain.
    static func parseV2Auth(_ body: JSONValue) throws(ServiceError) -> AuthRequest {
        guard let auth = body["auth"], auth.objectValue != nil else { throw invalidV2("'auth' is a required property") }
        let method: AuthMethod
        if let credentials = auth["passwordCredentials"] {
            guard let password = credentials["password"]?.stringValue else {
                throw invalidV2("'password' is a required property")
            }
            if let name = credentials["username"]?.stringValue {
                method = .password(.name(name, domain: .id(Domain.default.id)), password: password)
            } else if let id = credentials["userId"]?.stringValue {
                method = .password(.id(id), password: password)
            } else {
                throw invalidV2("'username' is a required property")
            }
        } else if let token = auth["token"]?["id"]?.stringValue {
            method = .token(token)
        } else {
            throw invalidV2("'passwordCredentials' or 'token' is required")
        }
        var project: ProjectRef?
        if let id = auth["tenantId"]?.stringValue, !id.isEmpty {
            project = .id(id)
        } else if let name = auth["tenantName"]?.stringValue, !name.isEmpty {
            project = .name(name, domain: .id(Domain.default.id))
        }
        return AuthRequest(method: method, project: project)
    }

    func tenantJSON(_ p: Project) -> JSONValue {
        [
            "id": .string(p.id), "name": .string(p.name), "description": .string(p.description),
            "enabled": .bool(p.enabled),
        ]
    }

    /// The v2.0 `access` document: token, catalog (compute URLs carry the tenant id),
    /// user and metadata.
    func accessBody(token: String, _ info: TokenInfo, _ context: GlimpseRequestContext) -> JSONValue {
        var tokenObject: JSONObject = [
            "id": .string(token), "issued_at": .string(info.record.issuedAt.iso8601Microseconds),
            "expires": .string(info.record.expiresAt.iso8601),
            "audit_ids": .array(info.record.auditIds.map { .string($0) }),
        ]
        var catalogJSON: [JSONValue] = []
        if let project = info.project {
            tokenObject["tenant"] = tenantJSON(project)
            for service in catalog.services {
                let url =
                    service.type == "compute"
                    ? context.baseURL + "/compute/v2/" + project.id
                    : service.path(context.baseURL, project.id).replacingAll("/identity/v3", with: "/identity/v2.0")
                catalogJSON.append([
                    "type": .string(service.type), "name": .string(service.name),
                    "endpoints": [
                        [
                            "id": .string(Catalog.stableId(service.type, "v2.0")), "region": .string(catalog.region),
                            "publicURL": .string(url), "internalURL": .string(url), "adminURL": .string(url),
                            "tenantId": .string(project.id),
                        ]
                    ],
                    "endpoints_links": [],
                ])
            }
        }
        return [
            "access": [
                "token": .object(tokenObject),
                "serviceCatalog": .array(catalogJSON),
                "user": [
                    "id": .string(info.user.id), "name": .string(info.user.name), "username": .string(info.user.name),
                    "roles": .array(info.roles.map { ["name": .string($0.name)] }), "roles_links": [],
                ],
                "metadata": ["is_admin": 0, "roles": .array(info.roles.map { .string($0.id) })],
            ]
        ]
    }
}
