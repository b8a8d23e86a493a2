import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import Testing

/// `identity = keystone`: tokens come from another Keystone (here a second Glimpse's
/// built-in one, which answers `GET /v3/auth/tokens` as Keystone does).
@Suite("The cloud's Keystone")
struct ExternalKeystoneTests {
    /// A server whose tokens `keystone` issues, validated as the `admin` service user.
    func delegating(
        to keystone: TestServer, clock: ManualClock = ManualClock(), cacheTime: Int = 60,
        configure: @escaping (inout ServerConfig) -> Void = { _ in },
        _ body: @Sendable @escaping (TestApp) async throws -> Void
    ) async throws {
        try await TestApp.with({
            configure(&$0)
            $0.identityMode = .keystone
            $0.keystone.url = keystone.base + "/identity/v3"
            $0.keystone.serviceUser = "admin"
            $0.keystone.servicePassword = adminPassword
            $0.keystone.serviceProject = "admin"
            $0.keystone.tokenCacheTime = cacheTime
            $0.clock = clock
        }) { app in try await body(app) }
    }

    @Test("tokens are validated by Keystone: project, roles, no built-in identity, 401s name Keystone")
    func validation() async throws {
        try await TestServer.with { keystone in
            let admin = try await keystone.adminToken()
            let demo = try await keystone.makeUser("demo", project: "demo", admin: admin)
            let reader = try await keystone.makeUser("viewer", project: "demo", role: "reader", admin: admin)
            try await delegating(to: keystone) { app in
                let created = try await app.createImage(demo.token, ["name": "x", "disk_format": "raw"])
                #expect(created["owner"]?.stringValue == demo.projectId)
                let list = try await app.request(.GET, "/v2/images", token: reader.token)
                #expect(try list.status == 200 && list.json["images"]?.arrayValue?.count == 1)
                let refused = try await app.json(.POST, "/v2/images", token: reader.token, ["name": "y"])
                #expect(refused.status == 403)

                let none = try await app.request(.GET, "/v2/images", token: nil)
                #expect(none.status == 401)
                #expect(none.header("WWW-Authenticate") == "Keystone uri=\"\(keystone.base)/identity/v3\"")
                #expect(try await app.request(.GET, "/v2/images", token: "not-a-token").status == 401)
                // The built-in identity is not served, nor bootstrapped.
                #expect(try await app.request(.GET, "/identity/v3", token: nil).status == 404)
                #expect(try await app.components.metadata.user(name: "admin", domainId: "default") == nil)
            }
        }
    }

    @Test("a revoked token works until its cached answer is older than token_cache_time")
    func revocation() async throws {
        try await TestServer.with { keystone in
            let admin = try await keystone.adminToken()
            let demo = try await keystone.makeUser("demo", project: "demo", admin: admin)
            let clock = ManualClock()
            try await delegating(to: keystone, clock: clock, cacheTime: 30) { app in
                #expect(try await app.request(.GET, "/v2/images", token: demo.token).status == 200)
                let revoke = try await keystone.request(
                    .DELETE, "/identity/v3/auth/tokens", token: admin, headers: [("X-Subject-Token", demo.token)])
                #expect(revoke.status == 204)
                #expect(try await app.request(.GET, "/v2/images", token: demo.token).status == 200)
                clock.advance(seconds: 31)
                #expect(try await app.request(.GET, "/v2/images", token: demo.token).status == 401)
            }
        }
    }

    @Test("glance-download finds the region's image service in the catalog Keystone gives the caller's token")
    func glanceDownloadThroughTheCatalog() async throws {
        try await TestServer.with { keystone in
            // The Keystone's own Glimpse is the image service its catalog names.
            let demo = try await keystone.makeUser("demo", project: "demo", admin: try await keystone.adminToken())
            let bytes = testBytes(50_000, seed: 11)
            let source = try await keystone.createImageId(demo.token)
            #expect(try await keystone.upload(source, token: demo.token, bytes).status == 204)
            try await delegating(to: keystone, configure: offersGlanceDownload) { app in
                let id = try await app.createImageId(demo.token)
                #expect(try await app.glanceDownload(id, demo.token, from: source).status == 202)
                await app.components.images.imports.wait()
                let image = try await app.image(id, demo.token)
                #expect(image["status"] == "active" && image["size"]?.intValue == bytes.count)
                #expect(try await app.request(.GET, "/v2/images/\(id)/file", token: demo.token).body == bytes)
                // Another region than the catalog's: the task fails, the image is queued.
                let other = try await app.createImageId(demo.token)
                #expect(
                    try await app.glanceDownload(other, demo.token, from: source, region: "RegionTwo").status == 202)
                await app.components.images.imports.wait()
                #expect(try await app.image(other, demo.token)["status"] == "queued")
            }
        }
    }

    @Test("Keystone unreachable: 503, not 401")
    func unreachable() async throws {
        let port = try RawHTTP.freePort()
        try await TestApp.with({
            $0.identityMode = .keystone
            $0.keystone.url = "http://127.0.0.1:\(port)/v3"
            $0.keystone.serviceUser = "glance"
            $0.keystone.servicePassword = "secret"
        }) { app in
            let r = try await app.request(.GET, "/v2/images", token: "some-token")
            #expect(r.status == 503)
        }
    }

    @Test("quotas come from Keystone's unified limits, read as oslo.limit does and cached for a while")
    func limits() async throws {
        try await TestServer.with { keystone in
            let admin = try await keystone.adminToken()
            let demo = try await keystone.makeUser("demo", project: "demo", admin: admin)
            let image = try await keystone.request(.GET, "/identity/v3/services?type=image", token: admin)
            let service = try #require(try image.json["services"]?.arrayValue?.first?["id"])
            let registered = try await keystone.json(
                .POST, "/identity/v3/registered_limits", token: admin,
                [
                    "registered_limits": [
                        ["service_id": service, "resource_name": "image_count_total", "default_limit": 1]
                    ]
                ])
            #expect(registered.status == 201)
            let clock = ManualClock()
            try await delegating(to: keystone, clock: clock) { app in
                _ = try await app.createImage(demo.token)
                let refused = try await app.json(.POST, "/v2/images", token: demo.token, ["name": "two"])
                #expect(refused.status == 413)
                #expect(refused.text.contains("Resource image_count_total is over limit of 1"))
                let own = try await keystone.json(
                    .POST, "/identity/v3/limits", token: admin,
                    [
                        "limits": [
                            [
                                "project_id": .string(demo.projectId), "service_id": service,
                                "resource_name": "image_count_total", "resource_limit": 2,
                            ]
                        ]
                    ])
                #expect(own.status == 201)
                // Until the cached answer is older than keystone_limits_cache_time (60 s).
                #expect(try await app.json(.POST, "/v2/images", token: demo.token, ["name": "two"]).status == 413)
                clock.advance(seconds: 61)
                #expect(try await app.json(.POST, "/v2/images", token: demo.token, ["name": "two"]).status == 201)
                let usage = try await app.request(.GET, "/v2/info/usage", token: demo.token).json["usage"]
                #expect(usage?["image_count_total"] == ["limit": 2, "usage": 2])
            }
        }
    }
}
