import AsyncHTTPClient
import GlimpseCore
import GlimpseIdentity
import GlimpseServer
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import OpenStackJSON

#if canImport(Glibc)
import Glibc
#endif

/// A real Glimpse server on an ephemeral port with a fresh data directory, and helpers to
/// talk to it over HTTP.
public struct TestServer: Sendable {
    public let port: Int
    public let server: GlimpseServer
    public let dataDir: String
    public static let adminPassword = "admin-secret"

    public var base: String { "http://127.0.0.1:\(port)" }

    /// Runs `body` against a server that lives for the duration of the call.
    public static func with<T: Sendable>(
        _ configure: (inout ServerConfig) -> Void = { _ in },
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        var template = [UInt8]("/tmp/glimpse-test-XXXXXX".utf8CString.map { UInt8(bitPattern: $0) })
        let dir = template.withUnsafeMutableBufferPointer { buf in
            String(cString: mkdtemp(UnsafeMutableRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self))!)
        }
        defer { _ = system("rm -rf '\(dir)'") }
        var config = ServerConfig()
        config.port = 0
        config.dataDir = dir
        config.adminPassword = adminPassword
        config.identity.passwordHasher = PasswordHasher(rounds: 1000)
        configure(&config)
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let server = try GlimpseServer(config: config, logger: logger)
        _ = try await server.prepare()
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = server.makeApplication { port in continuation.yield(port) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var it = ports.makeAsyncIterator()
            guard let port = await it.next() else { throw TestFailure("server did not start") }
            let ts = TestServer(port: port, server: server, dataDir: dir)
            do {
                let result = try await body(ts)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    // MARK: HTTP

    public struct Reply: Sendable {
        public let status: Int
        public let headers: HTTPHeaders
        public let body: [UInt8]

        public var text: String { String(decoding: body, as: UTF8.self) }
        public var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
        public func header(_ name: String) -> String? { headers.first(name: name) }
    }

    /// Sends one request. `body` as bytes; `chunked` streams it without a length.
    public func request(
        _ method: HTTPMethod, _ path: String, token: String? = nil, headers: [(String, String)] = [],
        body: [UInt8]? = nil, chunked: Bool = false
    ) async throws -> Reply {
        var req = HTTPClientRequest(url: base + path)
        req.method = method
        if let token { req.headers.add(name: "X-Auth-Token", value: token) }
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body {
            if chunked {
                let chunks = stride(from: 0, to: body.count, by: 7000).map { ByteBuffer(bytes: body[$0..<min($0 + 7000, body.count)]) }
                req.body = .stream(chunks.async, length: .unknown)
            } else {
                req.body = .bytes(ByteBuffer(bytes: body))
            }
        }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(60))
        let buffer = try await resp.body.collect(upTo: 1 << 30)
        return Reply(status: Int(resp.status.code), headers: resp.headers, body: Array(buffer.readableBytesView))
    }

    public func json(_ method: HTTPMethod, _ path: String, token: String?, _ value: JSONValue,
              contentType: String = "application/json", headers: [(String, String)] = []) async throws -> Reply {
        try await request(method, path, token: token, headers: [("Content-Type", contentType)] + headers, body: value.serialized())
    }

    public func patch(_ id: String, token: String, _ ops: JSONValue,
               contentType: String = "application/openstack-images-v2.1-json-patch") async throws -> Reply {
        try await json(.PATCH, "/v2/images/\(id)", token: token, ops, contentType: contentType)
    }

    // MARK: Identity

    /// A project-scoped token for a user in the Default domain.
    public func token(user: String, password: String, project: String) async throws -> String {
        let body: JSONValue = ["auth": [
            "identity": ["methods": ["password"], "password": ["user": [
                "name": .string(user), "domain": ["name": "Default"], "password": .string(password)]]],
            "scope": ["project": ["name": .string(project), "domain": ["name": "Default"]]],
        ]]
        let r = try await json(.POST, "/identity/v3/auth/tokens", token: nil, body)
        guard r.status == 201, let token = r.header("X-Subject-Token") else {
            throw TestFailure("token for \(user): \(r.status) \(r.text)")
        }
        return token
    }

    public func adminToken() async throws -> String {
        try await token(user: "admin", password: Self.adminPassword, project: "admin")
    }

    /// Creates a project and a user holding `role` on it; returns a token and the project id.
    public func makeUser(_ name: String, project: String, role: String = "member", admin: String) async throws -> (token: String, projectId: String) {
        var r = try await json(.POST, "/identity/v3/projects", token: admin, ["project": ["name": .string(project)]])
        var projectId = r.json["project"]?["id"]?.stringValue
        if r.status == 409 {
            r = try await request(.GET, "/identity/v3/projects?name=\(project)", token: admin)
            projectId = r.json["projects"]?.arrayValue?.first?["id"]?.stringValue
        }
        guard let projectId else { throw TestFailure("project: \(r.status) \(r.text)") }
        r = try await json(.POST, "/identity/v3/users", token: admin,
                           ["user": ["name": .string(name), "password": "pw-\(name)", "default_project_id": .string(projectId)]])
        guard r.status == 201, let userId = r.json["user"]?["id"]?.stringValue else { throw TestFailure("user: \(r.status) \(r.text)") }
        r = try await request(.GET, "/identity/v3/roles?name=\(role)", token: admin)
        guard let roleId = r.json["roles"]?.arrayValue?.first?["id"]?.stringValue else { throw TestFailure("role \(role)") }
        r = try await request(.PUT, "/identity/v3/projects/\(projectId)/users/\(userId)/roles/\(roleId)", token: admin)
        guard r.status == 204 else { throw TestFailure("grant: \(r.status)") }
        return (try await token(user: name, password: "pw-\(name)", project: project), projectId)
    }

    // MARK: Images

    /// Creates an image and returns its JSON.
    @discardableResult
    public func createImage(_ token: String, _ body: JSONValue = ["disk_format": "raw", "container_format": "bare"]) async throws -> JSONValue {
        let r = try await json(.POST, "/v2/images", token: token, body)
        guard r.status == 201 else { throw TestFailure("create: \(r.status) \(r.text)") }
        return r.json
    }

    /// Uploads data to an image; returns the reply.
    @discardableResult
    public func upload(_ id: String, token: String, _ data: [UInt8], chunked: Bool = false) async throws -> Reply {
        try await request(.PUT, "/v2/images/\(id)/file", token: token,
                          headers: [("Content-Type", "application/octet-stream")], body: data, chunked: chunked)
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

extension Array where Element: Sendable {
    /// The elements as an async sequence.
    public var async: AsyncStream<Element> {
        AsyncStream { c in
            for e in self { c.yield(e) }
            c.finish()
        }
    }
}

/// Deterministic pseudo-random bytes.
public func testBytes(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
    var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}
