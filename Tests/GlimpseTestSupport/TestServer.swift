import AsyncHTTPClient
import GlimpseCore
import GlimpseIdentity
import GlimpseServer
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real Glimpse server on an ephemeral port with a fresh data directory (SQLite and local
/// files), for what needs a socket: streaming, `Expect: 100-continue`, the SDK and processes
/// sharing a data directory.
public struct TestServer: APIClient {
    public let port: Int
    public let components: Components
    public let dataDir: String

    public var base: String { "http://127.0.0.1:\(port)" }

    /// A new temporary directory.
    public static func temporaryDirectory() -> String {
        var template = Array("/tmp/glimpse-test-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    /// The configuration of a test server on `dir`.
    public static func configuration(dataDir dir: String) -> ServerConfig {
        var config = ServerConfig()
        config.port = 0
        config.dataDir = dir
        config.adminPassword = adminPassword
        config.identity.passwordHasher = PasswordHasher(rounds: 1000)
        return config
    }

    public static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Runs `body` against a server that lives for the duration of the call, on a new
    /// temporary data directory, or on `dataDir` (which the caller owns and removes).
    /// - Parameter logger: where the server logs (nowhere by default).
    @discardableResult
    public static func with<T: Sendable>(
        dataDir: String? = nil,
        _ configure: (inout ServerConfig) -> Void = { _ in }, logger: Logger = TestServer.logger,
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        let dir = dataDir ?? temporaryDirectory()
        defer { if dataDir == nil { _ = system("rm -rf '\(dir)'") } }
        var config = configuration(dataDir: dir)
        configure(&config)
        let components = try Components(config, logger: logger, exclusive: true)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = buildApplication(components) { port in continuation.yield(port) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var it = ports.makeAsyncIterator()
            guard let port = await it.next() else { throw TestFailure("server did not start") }
            let server = TestServer(port: port, components: components, dataDir: dir)
            do {
                let result = try await body(server)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    public func request(
        _ method: HTTPMethod, _ path: String, token: String?, headers: [(String, String)], body: [UInt8]?,
        chunked: Bool
    ) async throws -> Reply {
        try await Self.send(to: base, method, path, token: token, headers: headers, body: body, chunked: chunked)
    }

    /// One request over HTTP to the server at `base`.
    public static func send(
        to base: String, _ method: HTTPMethod, _ path: String, token: String?, headers: [(String, String)],
        body: [UInt8]?, chunked: Bool
    ) async throws -> Reply {
        var req = HTTPClientRequest(url: base + path)
        req.method = method
        if let token { req.headers.add(name: "X-Auth-Token", value: token) }
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body {
            if chunked {
                let chunks = stride(from: 0, to: body.count, by: 7000).map {
                    ByteBuffer(bytes: body[$0..<min($0 + 7000, body.count)])
                }
                req.body = .stream(chunks.async, length: .unknown)
            } else {
                req.body = .bytes(ByteBuffer(bytes: body))
            }
        }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(60))
        let buffer = try await resp.body.collect(upTo: 1 << 30)
        return Reply(status: Int(resp.status.code), headers: resp.headers, body: Array(buffer.readableBytesView))
    }
}

/// HTTP to a server on a loopback port that this process does not run (a `glimpse serve`
/// process, the metrics port).
public struct LiveClient: APIClient {
    public let port: Int
    public var base: String { "http://127.0.0.1:\(port)" }

    public init(port: Int) { self.port = port }

    public func request(
        _ method: HTTPMethod, _ path: String, token: String?, headers: [(String, String)], body: [UInt8]?,
        chunked: Bool
    ) async throws -> Reply {
        try await TestServer.send(to: base, method, path, token: token, headers: headers, body: body, chunked: chunked)
    }
}
