import Foundation
import GlimpseTestSupport
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenStack
import OpenStackEncoding
import Synchronization
import Testing

/// A scripted cloud for transport behaviour the real server does not show on demand
/// (503s, counting token requests).
struct FakeCloud {
    final class State: Sendable {
        let tokenRequests = Mutex(0)
        let imageRequests = Mutex(0)
        let listRequests = Mutex(0)
        let failuresLeft: Mutex<Int>
        /// How long the tokens handed out last.
        let tokenSeconds: Int64
        /// While closed, token requests after the first wait.
        let renewalsOpen = Mutex(true)
        init(failures: Int, tokenSeconds: Int64) {
            failuresLeft = Mutex(failures)
            self.tokenSeconds = tokenSeconds
        }
    }

    static func with<T: Sendable>(
        failures: Int, status: HTTPResponse.Status = .serviceUnavailable, tokenSeconds: Int64 = 86_400,
        _ body: @Sendable (String, State) async throws -> T
    ) async throws -> T {
        let state = State(failures: failures, tokenSeconds: tokenSeconds)
        let (ports, cont) = AsyncStream.makeStream(of: Int.self)
        let port = Mutex(0)
        let router = Router()
        router.post("/v3/auth/tokens") { _, _ -> Response in
            let n = state.tokenRequests.withLock { n in
                n += 1
                return n
            }
            try await Task.sleep(for: .milliseconds(50))
            while n > 1, !state.renewalsOpen.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            let base = "http://127.0.0.1:\(port.withLock { $0 })"
            let expires = Timestamp.now().adding(seconds: state.tokenSeconds).iso8601Microseconds
            let body = """
                {"token": {"expires_at": "\(expires)", "user": {"id": "u", "name": "u"},
                 "project": {"id": "p", "name": "p"}, "roles": [{"name": "member"}],
                 "catalog": [{"type": "image", "name": "glance", "endpoints": [
                    {"interface": "public", "region": "R1", "region_id": "R1", "url": "\(base)"}]}]}}
                """
            return Response(
                status: .created,
                headers: [.contentType: "application/json", HTTPField.Name("X-Subject-Token")!: "tok-\(n)"],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/v2/images/{id}") { _, ctx -> Response in
            state.imageRequests.withLock { $0 += 1 }
            let fail = state.failuresLeft.withLock { n -> Bool in
                defer { n -= 1 }
                return n > 0
            }
            if fail { return Response(status: status, headers: [.retryAfter: "0"]) }
            let id = ctx.parameters.get("id") ?? ""
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(
                    byteBuffer: ByteBuffer(string: #"{"id": "\#(id)", "status": "active", "visibility": "public"}"#)))
        }
        // A server that ignores the marker: every page links to the same next page.
        router.get("/v2/images") { request, _ -> Response in
            let n = state.listRequests.withLock { n in
                n += 1
                return n
            }
            let body =
                #"{"images": [{"id": "i\#(n)", "status": "active", "visibility": "public"}], "next": "/v2/images?marker=i1"}"#
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { cont.yield($0.localAddress?.port ?? 0) },
            logger: Logger(label: "fake-cloud") { _ in SwiftLogNoOpLogHandler() })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var it = ports.makeAsyncIterator()
            let p = await it.next() ?? 0
            port.withLock { $0 = p }
            defer { group.cancelAll() }
            return try await body("http://127.0.0.1:\(p)", state)
        }
    }
}

@Suite("SDK: authentication, catalog and transport")
struct AuthAndTransportTests {
    @Test("one token request for many concurrent callers; retries on 503 with backoff")
    func singleFlightAndRetry() async throws {
        try await FakeCloud.with(failures: 2) { base, state in
            let os = try OpenStack(
                authURL: base + "/v3", region: "R1", user: .id("u", password: "p"), scope: .project(id: "p"),
                retry: RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(10)))
            let images = os.imagesV2()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<8 { group.addTask { _ = try await images.getImage("i\(i)") } }
                try await group.waitForAll()
            }
            #expect(state.tokenRequests.withLock { $0 } == 1)
            #expect(state.imageRequests.withLock { $0 } == 10)  // 8 + the 2 refused attempts
        }
    }

    @Test("a token close to its expiry is renewed in the background while callers go on using it")
    func refreshAhead() async throws {
        // Tokens that last five minutes: less than the ten minutes before expiry when renewal starts.
        try await FakeCloud.with(failures: 0, tokenSeconds: 300) { base, state in
            let os = try OpenStack(authURL: base + "/v3", user: .id("u", password: "p"), scope: .project(id: "p"))
            #expect(try await os.token().value == "tok-1")
            state.renewalsOpen.withLock { $0 = false }
            // The renewal is held at the server, yet callers get the current token at once.
            #expect(try await os.token().value == "tok-1")
            #expect(try await os.imagesV2().getImage("x").id == "x")
            #expect(state.tokenRequests.withLock { $0 } == 2)
            state.renewalsOpen.withLock { $0 = true }
            var renewed = ""
            for _ in 0..<200 {
                renewed = try await os.token(minValidity: .seconds(1)).value
                if renewed != "tok-1" { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(renewed == "tok-2")
            #expect(state.tokenRequests.withLock { $0 } == 2)
        }
    }

    @Test("listing stops when the server links to a page already fetched")
    func repeatedNextLink() async throws {
        try await FakeCloud.with(failures: 0) { base, state in
            let os = try OpenStack(
                authURL: base + "/v3", region: "R1", user: .id("u", password: "p"), scope: .project(id: "p"))
            let images = try await os.imagesV2().listImages().collect()
            #expect(images.map(\.id) == ["i1", "i2"])
            #expect(state.listRequests.withLock { $0 } == 2)
        }
    }

    @Test("retries stop after the policy's attempts and the error says why")
    func retryGivesUp() async throws {
        try await FakeCloud.with(failures: 100) { base, state in
            let os = try OpenStack(
                authURL: base + "/v3", user: .id("u", password: "p"),
                retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(5)))
            do {
                _ = try await os.imagesV2().getImage("x")
                Issue.record("no error")
            } catch let e as OpenStackError {
                #expect(e.kind == .serverError && e.status == 503)
            }
            #expect(state.imageRequests.withLock { $0 } == 3)
        }
    }

    @Test("a revoked token is replaced once, transparently")
    func reauthentication() async throws {
        try await TestServer.with { s in
            let os = try admin(s)
            let images = os.imagesV2()
            _ = try await images.listImages().collect()
            let token = try await os.token().value
            let revoke = try await s.request(
                .DELETE, "/identity/v3/auth/tokens", token: token, headers: [("X-Subject-Token", token)])
            #expect(revoke.status == 204)
            _ = try await images.listImages().collect()
            #expect(try await os.token().value != token)
        }
    }

    @Test("v2.0 and unversioned auth URLs; compute endpoints carry the tenant")
    func identityVersions() async throws {
        try await TestServer.with { s in
            for url in [s.base + "/identity/v2.0", s.base + "/identity", s.base + "/identity/"] {
                let os = try OpenStack(
                    authURL: url, user: .name("admin", domain: .default, password: adminPassword),
                    scope: .project(name: "admin"))
                let image = try await os.imagesV2().createImage(ImageCreate(name: "via \(url)"))
                let computeImage = try await os.computeV2().image(image.id)
                #expect(computeImage.status == .saving)
            }
        }
    }

    @Test("endpoint selection: region and interface must match; an override skips the catalog")
    func endpoints() async throws {
        try await TestServer.with { s in
            let os = try OpenStack(
                authURL: s.base + "/identity/v3", region: "Elsewhere",
                user: .name("admin", domain: .default, password: adminPassword), scope: .project(name: "admin"))
            do {
                _ = try await os.imagesV2().listImages().collect()
                Issue.record("no error")
            } catch let e as OpenStackError {
                #expect(e.kind == .endpointNotFound)
            }
            _ = try await os.imagesV2(endpoint: s.base).listImages().collect()
            _ = try await os.imagesV2(region: "RegionOne", interface: .internal).listImages().collect()
            let catalog = try await os.token().catalog
            #expect(try catalog.url(type: "image", region: "RegionOne", interface: .admin) == s.base)
            #expect(throws: OpenStackError.self) { try catalog.url(type: "image", name: "not-glance") }
        }
    }

    @Test("bad credentials fail with the identity service's message")
    func badCredentials() async throws {
        try await TestServer.with { s in
            let os = try OpenStack(
                authURL: s.base + "/identity/v3", user: .name("admin", domain: .default, password: "wrong"),
                scope: .project(name: "admin"))
            do {
                _ = try await os.token()
                Issue.record("no error")
            } catch let e as OpenStackError {
                #expect(e.kind == .unauthorized && e.message.contains("requires authentication"))
            }
        }
        #expect(throws: OpenStackError.self) { try OpenStack(authURL: "keystone:5000", user: .token("t")) }
    }

    @Test("an identity service that refuses the connection is reported as refused, once, in plain words")
    func refused() async throws {
        // A port nothing listens on: bound, then closed.
        let port = try await TestServer.with { s in URL(string: s.base)!.port! }
        let os = try OpenStack(
            authURL: "http://127.0.0.1:\(port)/v3", user: .name("a", domain: .default, password: "p"),
            scope: .project(name: "p"))
        do {
            _ = try await os.token()
            Issue.record("no error")
        } catch let e as OpenStackError {
            #expect(e.message.contains("Connection refused"), "\(e.message)")
            #expect(!e.message.contains("reset") && !e.message.contains("errno"), "\(e.message)")
            #expect(e.message.filter { $0 == "(" }.count == e.message.filter { $0 == ")" }.count, "\(e.message)")
        }
    }

    @Test("settings from OS_* variables and clouds.yaml, as the openstack CLI reads them")
    func cloudConfig() throws {
        var env = [
            "OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "ann", "OS_PASSWORD": "pw", "OS_PROJECT_NAME": "demo",
            "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_ID": "default", "OS_REGION_NAME": "R",
            "OS_INTERFACE": "internal",
        ]
        var c = try CloudConfig.resolve(environment: env)
        #expect(c.authURL == "http://k/v3" && c.region == "R" && c.interface == .internal)
        #expect(c.user == .name("ann", domain: .name("Default"), password: "pw"))
        #expect(c.scope == .project(name: "demo", domain: .id("default")))

        let dir = NSTemporaryDirectory() + "clouds-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        clouds:
          prod:
            auth:
              auth_url: https://keystone.example.com/v3
              username: bob
              project_id: 0123
              user_domain_name: Users
            region_name: RegionTwo
            interface: publicURL
          apps:
            auth_type: v3applicationcredential
            auth:
              auth_url: https://keystone.example.com/v3
              application_credential_id: ac1
              application_credential_secret: s3
        """.write(toFile: dir + "/clouds.yaml", atomically: true, encoding: .utf8)
        try """
        clouds:
          prod:
            auth:
              password: from-secure
        """.write(toFile: dir + "/secure.yaml", atomically: true, encoding: .utf8)
        env = ["OS_CLIENT_CONFIG_FILE": dir + "/clouds.yaml", "HOME": dir]
        c = try CloudConfig.resolve(cloud: "prod", environment: env)
        #expect(c.user == .name("bob", domain: .name("Users"), password: "from-secure"))
        #expect(c.scope == .project(id: "0123") && c.region == "RegionTwo" && c.interface == .public)
        c = try CloudConfig.resolve(environment: env.merging(["OS_CLOUD": "apps"]) { $1 })
        #expect(c.user == .applicationCredential(id: "ac1", secret: "s3"))
        #expect(throws: OpenStackError.self) { try CloudConfig.resolve(cloud: "missing", environment: env) }
        // OS_CLIENT_CONFIG_FILE naming one of the usual places: the error names it once.
        let usual = dir + "/.config/openstack/clouds.yaml"
        try FileManager.default.createDirectory(atPath: dir + "/.config/openstack", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/clouds.yaml", toPath: usual)
        do {
            _ = try CloudConfig.resolve(cloud: "missing", environment: ["OS_CLIENT_CONFIG_FILE": usual, "HOME": dir])
            Issue.record("no error")
        } catch let e as OpenStackError {
            #expect(e.message.components(separatedBy: usual).count == 2, "\(e.message)")
        }
        #expect(throws: OpenStackError.self) { try CloudConfig.resolve(environment: [:]) }
    }

    @Test("JSON-Patch encoding and diffs")
    func patches() throws {
        #expect(ImagePatch.add("a/b~c", 1).json.jsonString == #"{"op":"add","path":"/a~1b~0c","value":1}"#)
        #expect(ImagePatch.remove("x").json.jsonString == #"{"op":"remove","path":"/x"}"#)
        #expect(
            ImagePatch.replace("/tags", ["a"]).json.jsonString == #"{"op":"replace","path":"/tags","value":["a"]}"#)
        var old = try Image(json: [
            "id": "i", "status": "active", "visibility": "private", "name": "a", "p1": "1", "p2": [1], "size": 5,
        ])
        old.properties["keep"] = "k"
        var new = old
        new.name = "b"
        new.properties["p1"] = "2"
        new.properties["p2"] = nil
        new.properties["p3"] = ["deep": true]
        new.size = 99  // read-only: never patched
        let ops = ImagePatch.diff(from: old, to: new)
        #expect(ops == [.replace("name", "b"), .add("p1", "2"), .add("p3", ["deep": true]), .remove("p2")])
        // Codable round trip keeps properties flat and exact.
        let data = try JSONEncoder().encode(new)
        let back = try JSONDecoder().decode(Image.self, from: data)
        #expect(back.properties == new.properties && back.name == "b")
        let weird = try Image(json: [
            "id": "i", "status": "brand_new_status", "visibility": "public", "os_hidden": "True",
            "size": "12", "properties": "a key named properties",
        ])
        #expect(weird.status.rawValue == "brand_new_status" && weird.isHidden && weird.size == 12)
        #expect(weird.properties["properties"] == "a key named properties")
    }
}
