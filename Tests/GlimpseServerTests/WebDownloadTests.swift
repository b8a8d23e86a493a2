import Crypto
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenStackEncoding
import OpenStackJSON
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A web server on 127.0.0.1 for `web-download` to fetch from:
/// - `/image`: the bytes, with their length (`HEAD`: the length); `/chunked`: the same
///   without a length, in pieces;
/// - `/gated`: the bytes once `open()` is called;
/// - `/missing`: 404; `/redirect?to=URI`: 302 to `URI`.
/// It counts the requests each path received.
final class Origin: Sendable {
    let bytes: [UInt8]
    private let boundPort = Atomic<Int>(0)
    private let hits = Mutex<[String: Int]>([:])
    private let tokens = Mutex<[String: String]>([:])
    private let gate = AsyncStream.makeStream(of: Void.self)

    init(bytes: [UInt8]) { self.bytes = bytes }

    var port: Int { boundPort.load(ordering: .relaxed) }
    var base: String { "http://127.0.0.1:\(port)" }

    func hitCount(_ path: String) -> Int { hits.withLock { $0[path] ?? 0 } }

    /// The `X-Auth-Token` the last request for `path` carried.
    func token(_ path: String) -> String? { tokens.withLock { $0[path] } }

    /// Lets `/gated` answer.
    func open() { gate.continuation.finish() }

    private func count(_ path: String, _ request: Request? = nil) {
        hits.withLock { $0[path, default: 0] += 1 }
        tokens.withLock { $0[path] = request?.headers[HTTPField.Name("X-Auth-Token")!] }
    }

    private var router: Router<BasicRequestContext> {
        let router = Router()
        let bytes = bytes
        router.get("/image") { request, _ -> Response in
            self.count("/image", request)
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        // The length without the data, as a location's size is asked (counted with `/image`).
        router.head("/image") { _, _ -> Response in
            self.count("/image")
            return Response(status: .ok, headers: [.contentLength: "\(bytes.count)"])
        }
        // A server whose data changed after it was sized: HEAD says the length, GET gives twice.
        router.head("/growing") { _, _ -> Response in
            Response(status: .ok, headers: [.contentLength: "\(bytes.count)"])
        }
        router.get("/growing") { _, _ -> Response in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes + bytes)))
        }
        router.get("/chunked") { _, _ -> Response in
            self.count("/chunked")
            let pieces = stride(from: 0, to: bytes.count, by: 4096).map {
                ByteBuffer(bytes: bytes[$0..<min($0 + 4096, bytes.count)])
            }
            return Response(status: .ok, body: .init(contentsOf: pieces))
        }
        router.get("/gated") { _, _ -> Response in
            self.count("/gated")
            for await _ in self.gate.stream {}
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get("/missing") { _, _ -> Response in
            self.count("/missing")
            return Response(status: .notFound)
        }
        router.get("/redirect") { request, _ -> Response in
            self.count("/redirect", request)
            let to = request.uri.queryParameters["to"].map(String.init) ?? ""
            return Response(status: .found, headers: [.location: to])
        }
        return router
    }

    /// Runs `body` with an origin serving `bytes`, for the duration of the call.
    static func with<T: Sendable>(_ bytes: [UInt8], _ body: @Sendable (Origin) async throws -> T) async throws -> T {
        let origin = Origin(bytes: bytes)
        let (ports, cont) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: origin.router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { cont.yield($0.localAddress?.port ?? 0) },
            logger: Logger(label: "origin") { _ in SwiftLogNoOpLogHandler() })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var it = ports.makeAsyncIterator()
            origin.boundPort.store(await it.next() ?? 0, ordering: .relaxed)
            defer {
                origin.open()
                group.cancelAll()
            }
            return try await body(origin)
        }
    }
}

/// A server that may fetch from the test's origin on loopback (any port).
func fetchesFromLoopback(_ c: inout ServerConfig) {
    c.webDownload.allowPrivate = true
    c.webDownload.allowedPorts = []
}

extension APIClient {
    func webDownload(_ id: String, _ token: String, _ uri: String?, stores: [String]? = nil) async throws -> Reply {
        var method: JSONObject = ["name": "web-download"]
        if let uri { method["uri"] = .string(uri) }
        var body: JSONObject = ["method": .object(method)]
        if let stores { body["stores"] = .array(stores.map { .string($0) }) }
        return try await json(.POST, "/v2/images/\(id)/import", token: token, .object(body))
    }

    func image(_ id: String, _ token: String) async throws -> JSONValue {
        try await request(.GET, "/v2/images/\(id)", token: token).json
    }
}

extension TestApp {
    /// The objects the store holds, committed or pending.
    func objects(in store: String = "local") async throws -> [StoredBlob] {
        try await #require(components.blobs[store]).inventory(after: nil, limit: 100)
    }

    /// Asserts the image is back in `queued` with its import failed in `stores` and no data of
    /// it left behind, as Glance leaves an image whose web-download failed.
    func expectFailedImport(_ id: String, _ token: String, stores: String = "local") async throws {
        let image = try await image(id, token)
        #expect(image["status"] == "queued")
        #expect(image["os_glance_failed_import"]?.stringValue == stores)
        #expect(image["os_glance_importing_to_stores"] == "" && image["os_glance_import_task"] == nil)
        #expect(image["size"] == .null && image["checksum"] == .null && image["os_hash_value"] == .null)
        for store in stores.split(separator: ",") {
            // The memory store names an image's objects after the image.
            #expect(try await objects(in: String(store)).filter { $0.location.contains(id) }.isEmpty)
        }
    }
}

@Suite("web-download: the server fetches a URI into the image")
struct WebDownloadTests {
    @Test("the data fetched becomes the image's: size, checksum, SHA-512, with or without a length")
    func success() async throws {
        let bytes = testBytes(300_000)
        try await Origin.with(bytes) { origin in
            try await TestApp.with(fetchesFromLoopback) { s in
                let token = try await s.adminToken()
                for path in ["/image", "/chunked"] {
                    let id = try await s.createImageId(token)
                    let r = try await s.webDownload(id, token, origin.base + path)
                    #expect(r.status == 202)
                    await s.components.images.imports.wait()
                    let image = try await s.image(id, token)
                    #expect(image["status"] == "active", "\(path)")
                    #expect(image["size"]?.intValue == bytes.count && image["virtual_size"]?.intValue == bytes.count)
                    #expect(image["checksum"]?.stringValue == Hex.encode(Insecure.MD5.hash(data: bytes)))
                    #expect(image["os_hash_algo"] == "sha512")
                    #expect(image["os_hash_value"]?.stringValue == Hex.encode(SHA512.hash(data: bytes)))
                    #expect(image["os_glance_importing_to_stores"] == "" && image["os_glance_failed_import"] == "")
                    #expect(image["os_glance_import_task"] == nil && image["stores"] == "local")
                    #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: token).body == bytes)
                    #expect(origin.hitCount(path) == 1)
                }
                // Only a queued image takes data from the web.
                let active = try await s.createImageId(token)
                _ = try await s.upload(active, token: token, [1, 2, 3])
                let again = try await s.webDownload(active, token, origin.base + "/image")
                #expect(
                    again.status == 409 && again.text.contains("Image with status active cannot be target for import"))
            }
        }
    }

    @Test("into several stores: fetched into the first, copied into the others")
    func severalStores() async throws {
        let bytes = testBytes(70_000, seed: 7)
        try await Origin.with(bytes) { origin in
            try await TestApp.with({ c in
                fetchesFromLoopback(&c)
                c.enabledBackends = [("fast", "memory"), ("cold", "memory")]
            }) { s in
                let token = try await s.adminToken()
                let id = try await s.createImageId(token)
                #expect(
                    try await s.webDownload(id, token, origin.base + "/image", stores: ["cold", "fast"]).status == 202)
                await s.components.images.imports.wait()
                let image = try await s.image(id, token)
                #expect(image["status"] == "active")
                #expect(Set(image["stores"]?.stringValue?.split(separator: ",") ?? []) == ["fast", "cold"])
                #expect(image["os_hash_value"]?.stringValue == Hex.encode(SHA512.hash(data: bytes)))
                #expect(origin.hitCount("/image") == 1)
                for store in ["fast", "cold"] { #expect(try await s.objects(in: store).count == 1) }
            }
        }
    }

    @Test("the remote answers 404: the image goes back to queued, its store listed as failed")
    func remoteNotFound() async throws {
        try await Origin.with(testBytes(1000)) { origin in
            try await TestApp.with(fetchesFromLoopback) { s in
                let token = try await s.adminToken()
                let id = try await s.createImageId(token)
                #expect(try await s.webDownload(id, token, origin.base + "/missing").status == 202)
                await s.components.images.imports.wait()
                try await s.expectFailedImport(id, token)
                #expect(origin.hitCount("/missing") == 1)
                // The image can be imported again.
                #expect(try await s.webDownload(id, token, origin.base + "/image").status == 202)
                await s.components.images.imports.wait()
                let image = try await s.image(id, token)
                #expect(image["status"] == "active" && image["os_glance_failed_import"] == "")
            }
        }
    }

    @Test("refused schemes, hosts and ports, a missing URI: 400 with Glance's message, nothing fetched")
    func refused() async throws {
        try await Origin.with(testBytes(1000)) { origin in
            let image = "127.0.0.1:\(origin.port)/image"
            let cases: [(String, @Sendable (inout ServerConfig) -> Void, String?)] = [
                ("Glance's default ports", { $0.webDownload.allowPrivate = true }, "http://" + image),
                ("a scheme not allowed", fetchesFromLoopback, "ftp://" + image),
                (
                    "a scheme disallowed",
                    {
                        fetchesFromLoopback(&$0)
                        $0.webDownload.allowedSchemes = []
                        $0.webDownload.disallowedSchemes = ["http"]
                    }, "http://" + image
                ),
                (
                    "a host disallowed",
                    {
                        fetchesFromLoopback(&$0)
                        $0.webDownload.disallowedHosts = ["127.0.0.1"]
                    }, "http://" + image
                ),
                (
                    "a host not allowed",
                    {
                        fetchesFromLoopback(&$0)
                        $0.webDownload.allowedHosts = ["images.example.com"]
                    }, "http://" + image
                ),
                (
                    "a port disallowed",
                    {
                        fetchesFromLoopback(&$0)
                        $0.webDownload.disallowedPorts = [origin.port]
                    }, "http://" + image
                ),
                ("a host that does not resolve", fetchesFromLoopback, "http://does-not.exist/no/possible/way"),
                ("no URI", fetchesFromLoopback, nil),
            ]
            for (what, configure, uri) in cases {
                try await TestApp.with(configure) { s in
                    let token = try await s.adminToken()
                    let id = try await s.createImageId(token)
                    let r = try await s.webDownload(id, token, uri)
                    #expect(r.status == 400, "\(what)")
                    #expect(
                        r.text.contains("URI for web-download does not pass filtering: \(uri ?? "None")"), "\(what)")
                    let after = try await s.image(id, token)
                    #expect(after["status"] == "queued" && after["os_glance_failed_import"] == nil, "\(what)")
                }
            }
            #expect(origin.hitCount("/image") == 0)
        }
    }

    @Test("loopback, private and link-local addresses are refused unless allowed")
    func privateAddresses() async throws {
        try await Origin.with(testBytes(1000)) { origin in
            try await TestApp.with({ $0.webDownload.allowedPorts = [] }) { s in
                let token = try await s.adminToken()
                let id = try await s.createImageId(token)
                for host in [
                    "127.0.0.1", "localhost", "[::1]", "0.0.0.0", "10.0.0.1", "192.168.1.1", "169.254.169.254",
                    "[::ffff:127.0.0.1]", "2130706433", "127.1", "0x7f000001",
                ] {
                    let uri = "http://\(host):\(origin.port)/image"
                    let r = try await s.webDownload(id, token, uri)
                    #expect(r.status == 400 && r.text.contains("does not pass filtering: \(uri)"), "\(host)")
                }
                #expect(origin.hitCount("/image") == 0)
            }
        }
    }

    @Test("each redirect is checked: a refused host, scheme or address behind an allowed URI fails the import")
    func redirects() async throws {
        try await Origin.with(testBytes(5000)) { origin in
            // The origin is allowed by its address; `localhost` (the same server) is not.
            try await TestApp.with({ c in
                fetchesFromLoopback(&c)
                c.webDownload.allowedHosts = ["127.0.0.1"]
            }) { s in
                let token = try await s.adminToken()
                let followed = try await s.createImageId(token)
                #expect(try await s.webDownload(followed, token, origin.base + "/redirect?to=/image").status == 202)
                await s.components.images.imports.wait()
                #expect(try await s.image(followed, token)["status"] == "active")
                #expect(origin.hitCount("/image") == 1)
                for target in [
                    "http://localhost:\(origin.port)/image", "ftp://127.0.0.1:\(origin.port)/image",
                    "file:///etc/passwd",
                ] {
                    let id = try await s.createImageId(token)
                    let uri = origin.base + "/redirect?to=" + URLCoding.quotePlus(target)
                    #expect(try await s.webDownload(id, token, uri).status == 202)
                    await s.components.images.imports.wait()
                    try await s.expectFailedImport(id, token)
                }
                #expect(origin.hitCount("/redirect") == 4)
                #expect(origin.hitCount("/image") == 1)
            }
            // A refused address (clouds' metadata address, disallowed here) behind an allowed URI.
            // (That loopback is allowed at all is the flag's doing: the private-address rule
            // itself, which each hop passes through as it passes the rules above, is the
            // filter's, tested in WebImportFilterTests.)
            try await TestApp.with({ c in
                fetchesFromLoopback(&c)
                c.webDownload.disallowedHosts = ["169.254.169.254"]
            }) { s in
                let token = try await s.adminToken()
                let id = try await s.createImageId(token)
                let uri = origin.base + "/redirect?to=" + URLCoding.quotePlus("http://169.254.169.254/latest/meta-data")
                #expect(try await s.webDownload(id, token, uri).status == 202)
                await s.components.images.imports.wait()
                try await s.expectFailedImport(id, token)
            }
        }
    }

    @Test("data larger than the image size cap: refused at its announced length, or when the cap is passed")
    func sizeCap() async throws {
        try await Origin.with(testBytes(50_000)) { origin in
            try await TestApp.with({ c in
                fetchesFromLoopback(&c)
                c.image.imageSizeCap = 20_000
            }) { s in
                let token = try await s.adminToken()
                for path in ["/image", "/chunked"] {
                    let id = try await s.createImageId(token)
                    #expect(try await s.webDownload(id, token, origin.base + path).status == 202)
                    await s.components.images.imports.wait()
                    try await s.expectFailedImport(id, token)
                }
            }
        }
    }

    @Test("the fetch goes on after the client that asked for it has gone")
    func clientGone() async throws {
        let bytes = testBytes(200_000, seed: 3)
        try await Origin.with(bytes) { origin in
            try await TestServer.with(fetchesFromLoopback) { s in
                let token = try await s.adminToken()
                let id = try await s.createImageId(token)
                let body = Array(#"{"method": {"name": "web-download", "uri": "\#(origin.base)/gated"}}"#.utf8)
                let head =
                    "POST /v2/images/\(id)/import HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: \(token)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                try await RawHTTP.offload {
                    let fd = try RawHTTP.connect(port: s.port)
                    try RawHTTP.send(fd, Array(head.utf8) + body)
                    close(fd)
                }
                // The import started, and waits for the origin.
                var image = try await s.image(id, token)
                for _ in 0..<300 where image["status"] != "importing" || origin.hitCount("/gated") == 0 {
                    try await Task.sleep(for: .milliseconds(20))
                    image = try await s.image(id, token)
                }
                #expect(image["status"] == "importing" && image["os_glance_importing_to_stores"] == "local")
                origin.open()
                await s.components.images.imports.wait()
                image = try await s.image(id, token)
                #expect(image["status"] == "active" && image["size"]?.intValue == bytes.count)
                #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: token).body == bytes)
            }
        }
    }
}

@Suite("The legacy import task: POST /v2/tasks")
struct LegacyImportTaskTests {
    @Test("an image made of image_properties and fetched from import_from; the task ends with it or why not")
    func importTask() async throws {
        let bytes = testBytes(50_000, seed: 3)
        try await Origin.with(bytes) { origin in
            try await TestApp.with(fetchesFromLoopback) { s in
                let token = try await s.adminToken()
                func input(_ path: String) -> JSONValue {
                    [
                        "import_from": .string(origin.base + path), "import_from_format": "raw",
                        "image_properties": ["name": "from-task", "disk_format": "raw", "container_format": "bare"],
                    ]
                }
                func create(_ body: JSONValue, _ token: String) async throws -> Reply {
                    try await s.json(.POST, "/v2/tasks", token: token, body)
                }
                let r = try await create(["type": "import", "input": input("/image")], token)
                #expect(r.status == 201)
                let id = try #require(try r.json["id"]?.stringValue)
                #expect(r.headers.first(name: "location") == "/v2/tasks/\(id)")
                #expect(try r.json["type"] == "import" && r.json["status"] == "pending")
                #expect(try r.json["input"] == input("/image"))
                await s.components.images.imports.wait()
                let done = try await s.request(.GET, "/v2/tasks/\(id)", token: token).json
                #expect(done["status"] == "success" && done["expires_at"] != nil)
                let imageId = try #require(done["result"]?["image_id"]?.stringValue)
                let image = try await s.image(imageId, token)
                #expect(image["status"] == "active" && image["name"] == "from-task" && image["disk_format"] == "raw")
                #expect(try await s.request(.GET, "/v2/images/\(imageId)/file", token: token).body == bytes)
                // A remote that answers 404: the task fails, and says why.
                let missing = try await create(["type": "import", "input": input("/missing")], token)
                let missingId = try #require(try missing.json["id"]?.stringValue)
                await s.components.images.imports.wait()
                let failed = try await s.request(.GET, "/v2/tasks/\(missingId)", token: token).json
                #expect(failed["status"] == "failure" && failed["message"]?.stringValue?.isEmpty == false)
                // Its image is gone, as Glance reverts the flow: only the first task's is left.
                let listed = try await s.request(.GET, "/v2/images", token: token).json["images"]?.arrayValue ?? []
                #expect(listed.compactMap { $0["id"]?.stringValue } == [imageId])
                // Glance's 400s, and its policy: admins only.
                let cases: [(JSONValue, String)] = [
                    (["input": input("/image")], "Task 'type' is required"),
                    (["type": "import"], "Task 'input' is required"),
                    (["type": "export", "input": input("/image")], "Invalid type value: export"),
                    (["type": "import", "input": ["import_from": "x"]], "Input does not contain 'import_from_format'"),
                    (
                        [
                            "type": "import",
                            "input": [
                                "import_from": "ftp://127.0.0.1/x", "import_from_format": "raw",
                                "image_properties": [:],
                            ],
                        ],
                        "does not pass filtering"
                    ),
                ]
                for (body, message) in cases {
                    let bad = try await create(body, token)
                    #expect(bad.status == 400 && bad.text.contains(message), "\(body): \(bad.text)")
                }
                let (bob, _) = try await s.makeUser("bob", project: "p-bob", admin: token)
                let refused = try await create(["type": "import", "input": input("/image")], bob)
                #expect(refused.status == 403 && refused.text.contains("tasks_api_access"))
                #expect(origin.hitCount("/image") == 1)
            }
        }
    }
}
