import GlimpseCore
import NIOHTTP1
import OpenStackJSON

/// A reply to a test request.
public struct Reply: Sendable {
    public let status: Int
    public let headers: HTTPHeaders
    public let body: [UInt8]

    public init(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as JSON; a body that is not JSON fails the test (so an assertion that a key
    /// is absent cannot pass on an error page).
    public var json: JSONValue {
        get throws {
            do {
                return try JSONValue.parse(body)
            } catch {
                throw TestFailure("the reply (\(status)) is not JSON: \(text.prefix(300))")
            }
        }
    }

    public func header(_ name: String) -> String? { headers.first(name: name) }
}

/// Talks to a Glimpse application: through its router without a socket (`TestApp`), or to a
/// live server over HTTP (`TestServer`). The helpers below work with either.
public protocol APIClient: Sendable {
    /// The base URL the server sees requests arrive at (links and `Location` start with it).
    var base: String { get }

    /// Sends one request. `chunked` streams the body without a length (live servers only).
    func request(
        _ method: HTTPMethod, _ path: String, token: String?, headers: [(String, String)], body: [UInt8]?,
        chunked: Bool
    ) async throws -> Reply
}

public let adminPassword = "admin-secret"

extension APIClient {
    public func request(
        _ method: HTTPMethod, _ path: String, token: String? = nil, headers: [(String, String)] = [],
        body: [UInt8]? = nil
    ) async throws -> Reply {
        try await request(method, path, token: token, headers: headers, body: body, chunked: false)
    }

    public func json(
        _ method: HTTPMethod, _ path: String, token: String?, _ value: JSONValue,
        contentType: String = "application/json", headers: [(String, String)] = []
    ) async throws -> Reply {
        try await request(
            method, path, token: token, headers: [("Content-Type", contentType)] + headers, body: value.serialized())
    }

    public func patch(
        _ id: String, token: String, _ ops: JSONValue,
        contentType: String = "application/openstack-images-v2.1-json-patch"
    ) async throws -> Reply {
        try await json(.PATCH, "/v2/images/\(id)", token: token, ops, contentType: contentType)
    }

    // MARK: Identity

    /// A password login of a user of the Default domain (project-scoped if `project` is
    /// given), whatever the answer.
    public func passwordLogin(user: String, password: String, project: String? = nil) async throws -> Reply {
        var auth: JSONObject = [
            "identity": [
                "methods": ["password"],
                "password": [
                    "user": ["name": .string(user), "domain": ["name": "Default"], "password": .string(password)]
                ],
            ]
        ]
        if let project { auth["scope"] = ["project": ["name": .string(project), "domain": ["name": "Default"]]] }
        return try await json(
            .POST, "/identity/v3/auth/tokens", token: nil, ["auth": .object(auth)],
            headers: [("Accept", "application/json")])
    }

    /// A project-scoped token for a user in the Default domain.
    public func token(user: String, password: String, project: String) async throws -> String {
        let r = try await passwordLogin(user: user, password: password, project: project)
        guard r.status == 201, let token = r.header("X-Subject-Token") else {
            throw TestFailure("token for \(user): \(r.status) \(r.text)")
        }
        return token
    }

    public func adminToken() async throws -> String {
        try await token(user: "admin", password: adminPassword, project: "admin")
    }

    /// Creates a project and a user holding `role` on it; returns a token and the project id.
    public func makeUser(
        _ name: String, project: String, role: String = "member", admin: String
    ) async throws
        -> (token: String, projectId: String)
    {
        var r = try await json(.POST, "/identity/v3/projects", token: admin, ["project": ["name": .string(project)]])
        var projectId = try r.json["project"]?["id"]?.stringValue
        if r.status == 409 {
            r = try await request(.GET, "/identity/v3/projects?name=\(project)", token: admin)
            projectId = try r.json["projects"]?.arrayValue?.first?["id"]?.stringValue
        }
        guard let projectId else { throw TestFailure("project: \(r.status) \(r.text)") }
        r = try await json(
            .POST, "/identity/v3/users", token: admin,
            ["user": ["name": .string(name), "password": "pw-\(name)", "default_project_id": .string(projectId)]])
        guard r.status == 201, let userId = try r.json["user"]?["id"]?.stringValue else {
            throw TestFailure("user: \(r.status) \(r.text)")
        }
        r = try await request(.GET, "/identity/v3/roles?name=\(role)", token: admin)
        guard let roleId = try r.json["roles"]?.arrayValue?.first?["id"]?.stringValue else {
            throw TestFailure("role \(role)")
        }
        r = try await request(.PUT, "/identity/v3/projects/\(projectId)/users/\(userId)/roles/\(roleId)", token: admin)
        guard r.status == 204 else { throw TestFailure("grant: \(r.status)") }
        return (try await token(user: name, password: "pw-\(name)", project: project), projectId)
    }

    // MARK: Images

    /// Creates an image and returns its JSON.
    @discardableResult
    public func createImage(
        _ token: String, _ body: JSONValue = ["disk_format": "raw", "container_format": "bare"]
    ) async throws
        -> JSONValue
    {
        let r = try await json(.POST, "/v2/images", token: token, body)
        guard r.status == 201 else { throw TestFailure("create: \(r.status) \(r.text)") }
        return try r.json
    }

    /// Creates an image and returns its id.
    public func createImageId(
        _ token: String, _ body: JSONValue = ["disk_format": "raw", "container_format": "bare"]
    ) async throws
        -> String
    {
        guard let id = try await createImage(token, body)["id"]?.stringValue else { throw TestFailure("create: no id") }
        return id
    }

    /// Uploads data to an image; returns the reply.
    @discardableResult
    public func upload(_ id: String, token: String, _ data: [UInt8], chunked: Bool = false) async throws -> Reply {
        try await request(
            .PUT, "/v2/images/\(id)/file", token: token,
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
