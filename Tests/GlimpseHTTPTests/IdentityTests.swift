import GlimpseCore
import GlimpseTestSupport
import NIOHTTP1
import NIOPosix
import OpenStackJSON
import Testing

@Suite("Identity (Keystone v3 subset)")
struct IdentityTests {
    func passwordBody(user: JSONValue, password: String, scope: JSONValue? = nil) -> JSONValue {
        var auth: JSONObject = ["identity": ["methods": ["password"], "password": ["user": user]]]
        if case .object(var u) = user {
            u["password"] = .string(password)
            auth["identity"] = ["methods": ["password"], "password": ["user": .object(u)]]
        }
        if let scope { auth["scope"] = scope }
        return ["auth": .object(auth)]
    }

    @Test("discovery documents for /identity and /identity/v3")
    func discovery() async throws {
        try await TestApp.with { s in
            let root = try await s.request(.GET, "/identity")
            #expect(root.status == 300)
            #expect(try root.json["versions"]?["values"]?.arrayValue?.first?["id"] == "v3.14")
            let v3 = try await s.request(.GET, "/identity/v3")
            #expect(v3.status == 200)
            #expect(
                try v3.json["version"]?["links"]?.arrayValue?.first?["href"]?.stringValue == s.base + "/identity/v3/")
        }
    }

    @Test("password auth by name and domain, scoped by project name: token, roles, catalog")
    func passwordAuth() async throws {
        try await TestApp.with { s in
            let body = passwordBody(
                user: ["name": "admin", "domain": ["name": "Default"]], password: adminPassword,
                scope: ["project": ["name": "admin", "domain": ["name": "Default"]]])
            let r = try await s.json(.POST, "/identity/v3/auth/tokens", token: nil, body)
            #expect(r.status == 201)
            #expect(r.header("Content-Type") == "application/json")
            #expect(r.header("X-Subject-Token")?.isEmpty == false)
            let token = try r.json["token"]
            #expect(token?["user"]?["name"] == "admin")
            #expect(token?["user"]?["domain"]?["id"] == "default")
            #expect(token?["project"]?["domain"]?["name"] == "Default")
            let roles = Set(token?["roles"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
            #expect(roles == ["admin", "member", "reader"])
            let expires = token?["expires_at"]?.stringValue ?? ""
            #expect(expires.count == 27 && expires.hasSuffix("Z"))
            let catalog = token?["catalog"]?.arrayValue ?? []
            let image = catalog.first { $0["type"] == "image" }
            #expect(image?["name"] == "glance")
            let endpoints = image?["endpoints"]?.arrayValue ?? []
            #expect(Set(endpoints.compactMap { $0["interface"]?.stringValue }) == ["public", "internal", "admin"])
            #expect(
                endpoints.allSatisfy {
                    $0["url"]?.stringValue == s.base && $0["region"] == "RegionOne" && $0["region_id"] == "RegionOne"
                })
            #expect(catalog.contains { $0["type"] == "identity" && $0["name"] == "keystone" })
            #expect(catalog.contains { $0["type"] == "compute" && $0["name"] == "nova" })
        }
    }

    @Test("user and project by id, domain by id; unscoped tokens have no catalog")
    func idsAndUnscoped() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let info = try await s.request(
                .GET, "/identity/v3/auth/tokens", token: admin, headers: [("X-Subject-Token", admin)])
            #expect(info.status == 200)
            let userId = try info.json["token"]?["user"]?["id"]?.stringValue ?? ""
            let projectId = try info.json["token"]?["project"]?["id"]?.stringValue ?? ""
            let byId = try await s.json(
                .POST, "/identity/v3/auth/tokens", token: nil,
                passwordBody(
                    user: ["id": .string(userId)], password: adminPassword,
                    scope: ["project": ["id": .string(projectId)]]))
            #expect(byId.status == 201)
            let byDomainId = try await s.json(
                .POST, "/identity/v3/auth/tokens", token: nil,
                passwordBody(
                    user: ["name": "admin", "domain": ["id": "default"]],
                    password: adminPassword,
                    scope: ["project": ["name": "admin", "domain": ["id": "default"]]]))
            #expect(byDomainId.status == 201)
            let unscoped = try await s.json(
                .POST, "/identity/v3/auth/tokens", token: nil,
                passwordBody(user: ["id": .string(userId)], password: adminPassword))
            #expect(unscoped.status == 201)
            #expect(try unscoped.json["token"]?["catalog"] == nil)
            #expect(try unscoped.json["token"]?["project"] == nil)
        }
    }

    @Test("bad credentials, unknown users and projects get 401 with a JSON error")
    func badCredentials() async throws {
        try await TestApp.with { s in
            let cases: [JSONValue] = [
                passwordBody(user: ["name": "admin", "domain": ["name": "Default"]], password: "wrong"),
                passwordBody(user: ["name": "nobody", "domain": ["name": "Default"]], password: "x"),
                passwordBody(user: ["name": "admin", "domain": ["name": "Nowhere"]], password: adminPassword),
                passwordBody(
                    user: ["name": "admin", "domain": ["name": "Default"]], password: adminPassword,
                    scope: ["project": ["name": "no-such-project", "domain": ["name": "Default"]]]),
            ]
            for body in cases {
                let r = try await s.json(.POST, "/identity/v3/auth/tokens", token: nil, body)
                #expect(r.status == 401)
                #expect(try r.json["error"]?["code"] == 401)
                #expect(try r.json["error"]?["title"] == "Unauthorized")
                #expect(r.header("WWW-Authenticate")?.hasPrefix("Keystone uri=") == true)
            }
            let malformed = try await s.json(.POST, "/identity/v3/auth/tokens", token: nil, ["auth": [:]])
            #expect(malformed.status == 400)
            let notJSON = try await s.request(
                .POST, "/identity/v3/auth/tokens", headers: [("Content-Type", "application/json")],
                body: Array("{".utf8))
            #expect(notJSON.status == 400)
            #expect(try notJSON.json["error"]?["code"] == 400)
        }
    }

    @Test("a user without a role on the project cannot scope to it")
    func noRoleNoScope() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            _ = try await s.makeUser("carol", project: "carol-project", admin: admin)
            // carol has no role on "admin".
            let r = try await s.json(
                .POST, "/identity/v3/auth/tokens", token: nil,
                passwordBody(
                    user: ["name": "carol", "domain": ["name": "Default"]], password: "pw-carol",
                    scope: ["project": ["name": "admin", "domain": ["name": "Default"]]]))
            #expect(r.status == 401)
        }
    }

    @Test("token validation, re-scoping with a token, revocation")
    func validateAndRevoke() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let other = try await s.adminToken()
            let check = try await s.request(
                .GET, "/identity/v3/auth/tokens", token: admin, headers: [("X-Subject-Token", other)])
            #expect(check.status == 200)
            #expect(check.header("X-Subject-Token") == other)
            // token method: a new token from an existing one.
            let rescoped = try await s.json(
                .POST, "/identity/v3/auth/tokens", token: nil,
                [
                    "auth": [
                        "identity": ["methods": ["token"], "token": ["id": .string(other)]],
                        "scope": ["project": ["name": "admin", "domain": ["name": "Default"]]],
                    ]
                ])
            #expect(rescoped.status == 201)
            #expect(try rescoped.json["token"]?["methods"]?.arrayValue?.contains("token") == true)
            let revoke = try await s.request(
                .DELETE, "/identity/v3/auth/tokens", token: admin, headers: [("X-Subject-Token", other)])
            #expect(revoke.status == 204)
            let after = try await s.request(
                .GET, "/identity/v3/auth/tokens", token: admin, headers: [("X-Subject-Token", other)])
            #expect(after.status == 404)
            let images = try await s.request(.GET, "/v2/images", token: other)
            #expect(images.status == 401)
        }
    }

    @Test("only an admin, a service or the token's own user may validate or revoke it")
    func subjectTokenPolicy() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (alice, _) = try await s.makeUser("alice", project: "p-a", admin: admin)
            let (bob, _) = try await s.makeUser("bob", project: "p-b", admin: admin)
            #expect(
                try await s.json(.POST, "/identity/v3/roles", token: admin, ["role": ["name": "service"]]).status == 201
            )
            let (service, _) = try await s.makeUser("svc", project: "service", role: "service", admin: admin)
            for method in [HTTPMethod.GET, .HEAD, .DELETE] {
                let r = try await s.request(
                    method, "/identity/v3/auth/tokens", token: alice, headers: [("X-Subject-Token", bob)])
                #expect(r.status == 403, "\(method)")
            }
            let refusal = try await s.request(
                .GET, "/identity/v3/auth/tokens", token: alice, headers: [("X-Subject-Token", bob)])
            #expect(
                try refusal.json["error"]?["message"]
                    == "You are not authorized to perform the requested action: identity:validate_token.")
            for caller in [alice, service, admin] {
                let own = try await s.request(
                    .GET, "/identity/v3/auth/tokens", token: caller, headers: [("X-Subject-Token", alice)])
                #expect(own.status == 200)
            }
            // Bob's token still works after Alice's attempt to revoke it; he may revoke his own.
            #expect(try await s.request(.GET, "/v2/images", token: bob).status == 200)
            let ownRevoke = try await s.request(
                .DELETE, "/identity/v3/auth/tokens", token: bob, headers: [("X-Subject-Token", bob)])
            #expect(ownRevoke.status == 204)
            #expect(try await s.request(.GET, "/v2/images", token: bob).status == 401)
        }
    }

    @Test("tokens expire")
    func expiry() async throws {
        let clock = ManualClock()
        try await TestApp.with({
            $0.identity.tokenLifetime = 3
            $0.clock = clock
        }) { s in
            let token = try await s.adminToken()
            let before = try await s.request(.GET, "/v2/images", token: token)
            #expect(before.status == 200)
            clock.advance(seconds: 2)
            #expect(try await s.request(.GET, "/v2/images", token: token).status == 200)
            clock.advance(seconds: 2)
            let after = try await s.request(.GET, "/v2/images", token: token)
            #expect(after.status == 401)
            #expect(try after.json["error"]?["code"] == 401)
        }
    }

    @Test("admin API: projects, users, roles and assignments; members are refused")
    func adminAPI() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let (memberToken, projectId) = try await s.makeUser("dave", project: "dave-project", admin: admin)

            let list = try await s.request(.GET, "/identity/v3/projects", token: admin)
            #expect(try list.json["projects"]?.arrayValue?.contains { $0["id"]?.stringValue == projectId } == true)
            let dup = try await s.json(
                .POST, "/identity/v3/projects", token: admin, ["project": ["name": "dave-project"]])
            #expect(dup.status == 409)

            // A member may read its own project, not others, and may not list or create.
            let own = try await s.request(.GET, "/identity/v3/projects/\(projectId)", token: memberToken)
            #expect(own.status == 200)
            let foreign = try await s.request(
                .GET, "/identity/v3/projects/0123456789abcdef0123456789abcdef", token: memberToken)
            #expect(foreign.status == 403)
            let byName = try await s.request(.GET, "/identity/v3/projects?name=admin", token: memberToken)
            #expect(byName.status == 403)
            #expect(try byName.json["error"]?["code"] == 403)
            let create = try await s.json(
                .POST, "/identity/v3/projects", token: memberToken, ["project": ["name": "x"]])
            #expect(create.status == 403)

            let roles = try await s.request(.GET, "/identity/v3/roles", token: admin)
            let roleNames = try Set(roles.json["roles"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
            #expect(roleNames.isSuperset(of: ["admin", "member", "reader"]))
            let users = try await s.request(.GET, "/identity/v3/users?name=dave", token: admin)
            let userId = try users.json["users"]?.arrayValue?.first?["id"]?.stringValue ?? ""
            let assignments = try await s.request(
                .GET, "/identity/v3/role_assignments?user.id=\(userId)&include_names", token: admin)
            #expect(try assignments.json["role_assignments"]?.arrayValue?.first?["role"]?["name"] == "member")

            // Deleting the user ends its tokens.
            let del = try await s.request(.DELETE, "/identity/v3/users/\(userId)", token: admin)
            #expect(del.status == 204)
            let afterDelete = try await s.request(.GET, "/v2/images", token: memberToken)
            #expect(afterDelete.status == 401)
        }
    }

    @Test("passwords are stored only as salted slow hashes")
    func passwordStorage() async throws {
        try await TestApp.with { s in
            let user = try await s.components.metadata.user(name: "admin", domainId: "default")
            let hash = user?.passwordHash ?? ""
            #expect(hash.hasPrefix("pbkdf2-sha512$"))
            #expect(!hash.contains(adminPassword))
            let other = try await #require(s.components.keystone).config.passwordHasher.hash(
                adminPassword, on: .singleton)
            #expect(other != hash)  // a fresh salt each time
        }
    }
}
