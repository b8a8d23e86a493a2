import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OpenStackJSON

/// When and how often failed requests are tried again.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// Delay before the first retry; it doubles each time, with jitter.
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 4, baseDelay: Duration = .milliseconds(250), maxDelay: Duration = .seconds(8)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public static let `default` = RetryPolicy()
    public static let none = RetryPolicy(maxAttempts: 1)

    static let retryableStatuses: Set<Int> = [429, 502, 503, 504]

    func delay(attempt: Int, retryAfter: String?) -> Duration {
        if let retryAfter, let seconds = Int(retryAfter.trimmingCharacters(in: .whitespaces)), seconds >= 0 {
            return min(.seconds(seconds), maxDelay * 4)
        }
        let exp = baseDelay * Int(1 << min(attempt - 1, 10))
        let capped = min(exp, maxDelay)
        return capped * Double.random(in: 0.5...1.0)
    }
}

/// A request body that can be sent again (for retries and re-authentication), unless it is
/// a one-shot stream.
enum RequestBody: Sendable {
    case none
    case bytes([UInt8], contentType: String)
    case upload(UploadSource, contentType: String)

    var isReplayable: Bool {
        if case .upload(let source, _) = self { return source.isReplayable }
        return true
    }
}

/// One HTTP call to a service.
struct ServiceRequest: Sendable {
    var method: HTTPMethod
    var url: String
    var headers: [(String, String)] = []
    /// The token to send, set by the authentication middleware.
    var token: String?
    var body: RequestBody = .none
    /// Safe to send twice (GET, PUT, DELETE, PATCH of this API are).
    var idempotent: Bool
    /// Send `X-Auth-Token`.
    var authenticated = true
    /// Statuses that count as success.
    var expected: Set<Int> = [200]
    /// Report upload progress.
    var progress: (@Sendable (TransferProgress) -> Void)?
    /// Hash what is sent (uploads).
    var digests: DigestSink?

    init(_ method: HTTPMethod, _ url: String, idempotent: Bool? = nil, expected: Set<Int> = [200]) {
        self.method = method
        self.url = url
        self.idempotent = idempotent ?? (method != .POST)
        self.expected = expected
    }
}

/// A response with its whole body read.
struct ServiceResponse: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]

    func json() throws -> JSONValue {
        do {
            return try JSONValue.parse(body)
        } catch {
            throw OpenStackError(
                .invalidResponse, "the response is not JSON: \(error)", status: status, requestID: requestID)
        }
    }

    var requestID: String? {
        headers.first(name: "x-openstack-request-id") ?? headers.first(name: "x-compute-request-id")
    }
}

/// One step between a service call and the HTTP client: it may change the request, send it
/// on (`next`) any number of times, and look at what comes back. A response that reaches a
/// middleware has an expected status; anything else arrives as a thrown `OpenStackError`.
protocol TransportMiddleware: Sendable {
    func handle(_ request: ServiceRequest, next: TransportNext) async throws -> HTTPClientResponse
}

typealias TransportNext = @Sendable (ServiceRequest) async throws -> HTTPClientResponse

/// Sends requests through a small chain of middleware — retries with backoff, then the token
/// (with one re-authentication on 401) — to the HTTP client, and turns unexpected statuses
/// into OpenStack-aware errors.
final class Transport: Sendable {
    let client: HTTPClient
    let tokens: TokenManager?
    let logger: Logger
    let middleware: [any TransportMiddleware]
    let userAgent = "glimpse-openstack-swift/1.0"
    /// Idle-time limit for responses of ordinary calls (transfers use the client's read timeout).
    static let callTimeout: TimeAmount = .seconds(120)

    init(client: HTTPClient, tokens: TokenManager?, retry: RetryPolicy, logger: Logger) {
        self.client = client
        self.tokens = tokens
        self.logger = logger
        var chain: [any TransportMiddleware] = [RetryMiddleware(policy: retry, logger: logger)]
        if let tokens { chain.append(AuthenticationMiddleware(tokens: tokens, logger: logger)) }
        middleware = chain
    }

    /// Sends a request and reads the whole response body.
    func send(_ request: ServiceRequest) async throws -> ServiceResponse {
        let response = try await execute(request)
        let body = try await response.body.collect(upTo: 256 << 20)
        return ServiceResponse(
            status: Int(response.status.code), headers: response.headers, body: Array(body.readableBytesView))
    }

    /// Sends a request and returns as soon as the response head arrives; the caller streams the body.
    func execute(_ request: ServiceRequest) async throws -> HTTPClientResponse {
        try await run(request, from: 0)
    }

    private func run(_ request: ServiceRequest, from index: Int) async throws -> HTTPClientResponse {
        guard index < middleware.count else { return try await attemptOnce(request) }
        return try await middleware[index].handle(request) { try await self.run($0, from: index + 1) }
    }

    /// One HTTP exchange; a status the request does not expect is thrown as an error.
    func attemptOnce(_ request: ServiceRequest) async throws -> HTTPClientResponse {
        var r = HTTPClientRequest(url: request.url)
        r.method = request.method
        r.headers.add(name: "User-Agent", value: userAgent)
        r.headers.add(name: "Accept", value: "application/json")
        if let token = request.token { r.headers.add(name: "X-Auth-Token", value: token) }
        for (k, v) in request.headers { r.headers.replaceOrAdd(name: k, value: v) }
        var deadline = NIODeadline.now() + Self.callTimeout
        switch request.body {
        case .none:
            break
        case .bytes(let bytes, let contentType):
            r.headers.replaceOrAdd(name: "Content-Type", value: contentType)
            r.body = .bytes(ByteBuffer(bytes: bytes))
        case .upload(let source, let contentType):
            r.headers.replaceOrAdd(name: "Content-Type", value: contentType)
            let stream = try await source.chunks()
            let counted = ProgressSequence(
                base: stream, total: source.length, progress: request.progress, digests: request.digests)
            if let length = source.length {
                r.headers.replaceOrAdd(name: "x-openstack-image-size", value: String(length))
                r.body = .stream(counted, length: .known(length))
            } else {
                r.body = .stream(counted, length: .unknown)
            }
            // The response head of an upload comes after the whole body: no overall deadline,
            // the client's idle timeouts apply instead.
            deadline = .distantFuture
        }
        logger.trace("request", metadata: ["method": "\(request.method.rawValue)", "url": "\(request.url)"])
        let response: HTTPClientResponse
        do {
            response = try await client.execute(r, deadline: deadline, logger: logger)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if case .upload(let source, _) = request.body, !source.isReplayable {
                throw OpenStackError(
                    .uploadInterrupted, "the upload stream failed and cannot be sent again: \(error)",
                    method: request.method.rawValue, url: request.url)
            }
            throw OpenStackError(
                .transport, Self.describe(error), method: request.method.rawValue, url: request.url,
                retryAfter: nil, connectionFailed: Self.isConnectionError(error))
        }
        let status = Int(response.status.code)
        if request.expected.contains(status) { return response }
        let body = try? await response.body.collect(upTo: 1 << 20)
        throw Self.httpError(
            status: status, headers: response.headers, body: body.map { Array($0.readableBytesView) } ?? [],
            method: request.method.rawValue, url: request.url)
    }

    static func isConnectionError(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError {
            return [.remoteConnectionClosed, .connectTimeout, .readTimeout, .writeTimeout].contains(e)
        }
        return error is ChannelError || error is IOError
    }

    /// What went wrong with a connection, in words.
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }

    /// Builds the error for an unexpected status from whatever the body holds: Glance's
    /// HTML, plain text or JSON, Keystone's and Nova's JSON.
    static func httpError(
        status: Int, headers: HTTPHeaders, body: [UInt8], method: String, url: String
    ) -> OpenStackError {
        let requestID = headers.first(name: "x-openstack-request-id") ?? headers.first(name: "x-compute-request-id")
        return OpenStackError(
            OpenStackError.kind(forStatus: status), errorMessage(body) ?? "HTTP \(status)", status: status,
            requestID: requestID, method: method, url: url, retryAfter: headers.first(name: "Retry-After"))
    }

    static func errorMessage(_ body: [UInt8]) -> String? {
        guard !body.isEmpty else { return nil }
        if let json = try? JSONValue.parse(body) {
            if let m = json["message"]?.stringValue { return clean(m) }
            if let obj = json.objectValue, obj.count == 1, let inner = obj.members.first?.value,
                let m = inner["message"]?.stringValue
            {
                return clean(m)
            }
            if let m = json["error"]?["message"]?.stringValue { return clean(m) }
        }
        let text = String(decoding: body, as: UTF8.self)
        if text.contains("<html") || text.contains("<h1>") {
            // Glance's WebOb page: the text after the <h1> title.
            var t = text
            if let r = t.range(of: "</h1>") { t = String(t[r.upperBound...]) }
            return clean(t)
        }
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if lines.count > 1, lines[0].first?.isNumber == true { return lines.dropFirst().joined(separator: " ") }
        return clean(text)
    }

    static func clean(_ s: String) -> String {
        var out = s.replacingOccurrences(of: "<br />", with: " ")
        while let open = out.range(of: "<"), let close = out.range(of: ">", range: open.upperBound..<out.endIndex) {
            out.removeSubrange(open.lowerBound..<close.upperBound)
        }
        out = out.replacingOccurrences(of: "&#x27;", with: "'").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
        return out.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}

/// Tries a failed call again, with backoff: on 429, 502, 503 and 504 and on connection
/// failures, for calls that are safe to repeat and whose body can be sent again.
struct RetryMiddleware: TransportMiddleware {
    let policy: RetryPolicy
    let logger: Logger

    func handle(_ request: ServiceRequest, next: TransportNext) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await next(request)
            } catch let error as OpenStackError {
                let retryable =
                    error.status.map { RetryPolicy.retryableStatuses.contains($0) } ?? error.connectionFailed
                guard retryable, request.idempotent, request.body.isReplayable, attempt < policy.maxAttempts else {
                    throw error
                }
                let delay = policy.delay(attempt: attempt, retryAfter: error.retryAfter)
                logger.debug(
                    "retrying",
                    metadata: [
                        "status": "\(error.status.map(String.init) ?? "none")",
                        "attempt": "\(attempt)", "delay": "\(delay)",
                    ])
                try await Task.sleep(for: delay)
            }
        }
    }
}

/// Sends the token, renewed as needed; a token the service refuses (401) is replaced once,
/// for requests that can be sent again.
struct AuthenticationMiddleware: TransportMiddleware {
    let tokens: TokenManager
    let logger: Logger

    func handle(_ request: ServiceRequest, next: TransportNext) async throws -> HTTPClientResponse {
        guard request.authenticated else { return try await next(request) }
        var request = request
        request.token = try await tokens.token().value
        do {
            return try await next(request)
        } catch let error as OpenStackError where error.status == 401 && request.body.isReplayable {
            if let refused = request.token { await tokens.invalidate(refused) }
            logger.debug("token refused; authenticating again", metadata: ["url": "\(request.url)"])
            request.token = try await tokens.token().value
            return try await next(request)
        }
    }
}
