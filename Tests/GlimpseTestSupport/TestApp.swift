import GlimpseCore
import GlimpseIdentity
import GlimpseServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1

/// The Glimpse application on in-memory stores, driven through its router: no socket, no
/// disk, milliseconds per test. For routes, policy and validation.
public struct TestApp: APIClient {
    let client: any TestClientProtocol
    /// The stores and services behind the application.
    public let components: Components
    public var base: String { "http://localhost" }

    /// Runs `body` against an application that lives for the duration of the call.
    @discardableResult
    public static func with<T: Sendable>(
        _ configure: (inout ServerConfig) -> Void = { _ in },
        _ body: @Sendable (TestApp) async throws -> T
    ) async throws -> T {
        var config = ServerConfig()
        config.metadataBackend = .memory
        config.enabledBackends = [("local", "memory")]
        config.adminPassword = adminPassword
        config.identity.passwordHasher = PasswordHasher(rounds: 1000)
        configure(&config)
        let components = try Components(
            config, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, exclusive: false)
        return try await buildApplication(components).test(.router) { client in
            try await body(TestApp(client: client, components: components))
        }
    }

    public func request(
        _ method: HTTPMethod, _ path: String, token: String?, headers: [(String, String)], body: [UInt8]?,
        chunked: Bool
    ) async throws -> Reply {
        var fields = HTTPFields()
        if let token { fields[HTTPField.Name("X-Auth-Token")!] = token }
        for (k, v) in headers { fields.append(HTTPField(name: HTTPField.Name(k)!, value: v)) }
        let response = try await client.executeRequest(
            uri: path, method: HTTPRequest.Method(rawValue: method.rawValue)!,
            headers: fields, body: body.map { ByteBuffer(bytes: $0) })
        var out = HTTPHeaders()
        for field in response.headers { out.add(name: field.name.rawName, value: field.value) }
        return Reply(status: Int(response.status.code), headers: out, body: Array(response.body.readableBytesView))
    }
}
