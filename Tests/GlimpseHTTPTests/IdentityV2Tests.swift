import GlimpseCore
import GlimpseTestSupport
import NIOHTTP1
import OpenStackJSON
import Testing

@Suite("Identity v2.0 tokens")
struct IdentityV2Tests {
    func v2Auth(_ user: String, _ password: String, tenant: (String, String)? = nil) -> JSONValue {
        var auth: JSONObject = ["passwordCredentials": ["username": .string(user), "password": .string(password)]]
        if let tenant { auth[tenant.0] = .string(tenant.1) }
        return ["auth": .object(auth)]
    }

    @Test("version documents: /identity lists v2.0 as deprecated")
    func versions() async throws {
        try await TestApp.with { s in
            let root = try await s.request(.GET, "/identity/")
            let ids = try root.json["versions"]?["values"]?.arrayValue?.map { $0["id"] }
            #expect(ids == ["v3.14", "v2.0"])
            let v2 = try await s.request(.GET, "/identity/v2.0")
            #expect(try v2.status == 200 && v2.json["version"]?["status"] == "deprecated")
        }
    }

    @Test("password auth with tenantName or tenantId; access document and catalog")
    func passwordAuth() async throws {
        try await TestApp.with { s in
            var r = try await s.json(
                .POST, "/identity/v2.0/tokens", token: nil,
                v2Auth("admin", adminPassword, tenant: ("tenantName", "admin")))
            #expect(r.status == 200)
            let access = try r.json["access"]
            let tenantId = access?["token"]?["tenant"]?["id"]?.stringValue ?? ""
            #expect(access?["token"]?["tenant"]?["name"] == "admin")
            #expect(access?["token"]?["expires"]?.stringValue?.hasSuffix("Z") == true)
            #expect(access?["user"]?["name"] == "admin")
            #expect(access?["user"]?["roles"]?.arrayValue?.contains(["name": "admin"]) == true)
            #expect(access?["metadata"]?["roles"]?.arrayValue?.isEmpty == false)
            let catalog = access?["serviceCatalog"]?.arrayValue ?? []
            let compute = catalog.first { $0["type"] == "compute" }
            #expect(compute?["name"] == "nova")
            let endpoint = compute?["endpoints"]?.arrayValue?.first
            #expect(endpoint?["publicURL"]?.stringValue == "\(s.base)/compute/v2/\(tenantId)")
            #expect(
                endpoint?["internalURL"] != nil && endpoint?["adminURL"] != nil && endpoint?["region"] == "RegionOne")
            #expect(endpoint?["id"] != nil && endpoint?["tenantId"]?.stringValue == tenantId)
            #expect(
                catalog.first { $0["type"] == "image" }?["endpoints"]?.arrayValue?.first?["publicURL"]?.stringValue
                    == s.base)
            #expect(
                catalog.first { $0["type"] == "identity" }?["endpoints"]?.arrayValue?.first?["publicURL"]?.stringValue
                    == s.base + "/identity/v2.0")

            r = try await s.json(
                .POST, "/identity/v2.0/tokens", token: nil,
                v2Auth("admin", adminPassword, tenant: ("tenantId", tenantId)))
            #expect(r.status == 200)
            let token = try r.json["access"]?["token"]?["id"]?.stringValue ?? ""
            // The same token works on the image and compute APIs and validates through v3.
            #expect(try await s.request(.GET, "/v2/images", token: token).status == 200)
            #expect(try await s.request(.GET, "/compute/v2/\(tenantId)/images/detail", token: token).status == 200)
            let v3 = try await s.request(
                .GET, "/identity/v3/auth/tokens", token: token, headers: [("X-Subject-Token", token)])
            #expect(try v3.status == 200 && v3.json["token"]?["project"]?["id"]?.stringValue == tenantId)
            // Token for token, and the tenants the token's user may use.
            r = try await s.json(
                .POST, "/identity/v2.0/tokens", token: nil,
                ["auth": ["token": ["id": .string(token)], "tenantId": .string(tenantId)]])
            #expect(r.status == 200)
            let tenants = try await s.request(.GET, "/identity/v2.0/tenants", token: token)
            #expect(try tenants.json["tenants"]?.arrayValue?.map { $0["name"] } == ["admin"])
            let validated = try await s.request(
                .GET, "/identity/v2.0/tokens/\(token)?belongsTo=\(tenantId)", token: token)
            #expect(try validated.status == 200 && validated.json["access"]?["token"]?["id"]?.stringValue == token)
        }
    }

    @Test("bad credentials, unknown tenants and unscoped tokens")
    func failures() async throws {
        try await TestApp.with { s in
            for body in [
                v2Auth("admin", "wrong", tenant: ("tenantName", "admin")), v2Auth("nobody", "x"),
                v2Auth("admin", adminPassword, tenant: ("tenantName", "no-such-tenant")),
                v2Auth("admin", adminPassword, tenant: ("tenantId", "0123456789abcdef0123456789abcdef")),
            ] {
                let r = try await s.json(.POST, "/identity/v2.0/tokens", token: nil, body)
                #expect(try r.status == 401 && r.json["error"]?["code"] == 401)
            }
            let malformed = try await s.json(
                .POST, "/identity/v2.0/tokens", token: nil, ["auth": ["tenantName": "admin"]])
            #expect(malformed.status == 400)
            let unscoped = try await s.json(.POST, "/identity/v2.0/tokens", token: nil, v2Auth("admin", adminPassword))
            #expect(try unscoped.status == 200 && unscoped.json["access"]?["serviceCatalog"] == [])
            #expect(try unscoped.json["access"]?["token"]?["tenant"] == nil)
        }
    }

    @Test("revoking a token: 204 for a valid one, then 404 (Keystone's answer for a token it does not know)")
    func revoke() async throws {
        try await TestApp.with { s in
            let admin = try await s.adminToken()
            let other = try await s.adminToken()
            #expect(try await s.request(.DELETE, "/identity/v2.0/tokens/\(other)", token: admin).status == 204)
            #expect(try await s.request(.GET, "/v2/images", token: other).status == 401)
            for unknown in [other, "0", "no-such-token"] {
                let r = try await s.request(.DELETE, "/identity/v2.0/tokens/\(unknown)", token: admin)
                #expect(try r.status == 404 && r.json["error"]?["code"] == 404, "\(unknown): \(r.status)")
            }
        }
    }

    @Test("v2.0 tokens expire like v3 tokens")
    func expiry() async throws {
        let clock = ManualClock()
        try await TestApp.with({
            $0.identity.tokenLifetime = 3
            $0.clock = clock
        }) { s in
            let r = try await s.json(
                .POST, "/identity/v2.0/tokens", token: nil,
                v2Auth("admin", adminPassword, tenant: ("tenantName", "admin")))
            let token = try r.json["access"]?["token"]?["id"]?.stringValue ?? ""
            #expect(try await s.request(.GET, "/v2/images", token: token).status == 200)
            clock.advance(seconds: 2)
            #expect(try await s.request(.GET, "/v2/images", token: token).status == 200)
            clock.advance(seconds: 2)
            #expect(try await s.request(.GET, "/v2/images", token: token).status == 401)
        }
    }
}
