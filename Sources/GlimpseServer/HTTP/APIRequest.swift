import GlimpseCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes
import OpenStackJSON
import Synchronization

/// A request as the API handlers see it: decoded path segments and query, the request id,
/// and helpers for bodies, `Expect: 100-continue` and responses.
struct APIRequest: Sendable {
    let request: Request
    let context: GlimpseRequestContext
    /// Path segments after the API's prefix, percent-decoded.
    var segments: [String]
    let query: [(String, String)]
    let requestId: String
    let logger: Logger
    /// `http://host:port` as the client reached us (or the configured public URL).
    let baseURL: String
    private let continueState = ContinueState()

    init(request: Request, context: GlimpseRequestContext, segments: [String], query: [(String, String)],
         requestId: String, logger: Logger, baseURL: String) {
        self.request = request
        self.context = context
        self.segments = segments
        self.query = query
        self.requestId = requestId
        self.logger = logger
        self.baseURL = baseURL
    }

    var method: HTTPRequest.Method { request.method }
    var methodName: String { request.method.rawValue }

    func header(_ name: HTTPField.Name) -> String? { request.headers[name] }

    /// Whether the request carries a body (a non-zero length or chunked encoding).
    var hasBody: Bool {
        if let len = header(.contentLength) { return (Int(len) ?? 0) > 0 }
        return header(.transferEncoding)?.lowercased().contains("chunked") ?? false
    }

    /// Glance refuses bodies on calls that take none.
    func requireNoBody() throws(ServiceError) {
        if hasBody { throw .badRequest("A body is not expected with this request.") }
    }

    /// Reads a JSON body of at most `limit` bytes.
    func jsonBody(limit: Int = 4 << 20) async throws -> JSONValue {
        guard hasBody else { throw ServiceError.badRequest("Body expected in request.") }
        await sendContinueIfExpected()
        var collected = ByteBuffer()
        for try await chunk in request.body {
            guard collected.readableBytes + chunk.readableBytes <= limit else {
                throw ServiceError.tooLarge("The request body is larger than \(limit) bytes.")
            }
            var c = chunk
            collected.writeBuffer(&c)
        }
        if collected.readableBytes == 0 { throw ServiceError.badRequest("Body expected in request.") }
        do {
            return try collected.withUnsafeReadableBytes { try JSONValue.parse($0) }
        } catch {
            throw ServiceError.badRequest("Malformed JSON in request body.")
        }
    }

    /// Answers `Expect: 100-continue` once, when the handler is about to read the body:
    /// after authentication and state checks, so a refused request is refused before the
    /// client sends its body.
    func sendContinueIfExpected() async {
        guard header(.expect)?.lowercased() == "100-continue", continueState.claim() else { return }
        let head = HTTPResponsePart.head(HTTPResponse(status: .continue))
        try? await context.channel.writeAndFlush(head)
    }

    /// Whether the client waits for `100 Continue` that was never sent (it will not send
    /// the body, so the connection cannot be reused).
    var continueUnanswered: Bool {
        header(.expect)?.lowercased() == "100-continue" && !continueState.claimed
    }

    /// A JSON response.
    func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        json(value.serialized(), status: status, headers: headers)
    }

    /// An empty response, typed as Glance types it.
    func empty(_ status: HTTPResponse.Status = .noContent) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=UTF-8"])
    }
}

/// Whether `100 Continue` was sent for a request.
final class ContinueState: Sendable {
    private let sent = Mutex(false)
    /// True the first time only.
    func claim() -> Bool {
        sent.withLock { s in
            defer { s = true }
            return !s
        }
    }
    var claimed: Bool { sent.withLock { $0 } }
}

extension HTTPField.Name {
    static let authToken = HTTPField.Name("X-Auth-Token")!
    static let subjectToken = HTTPField.Name("X-Subject-Token")!
    static let requestId = HTTPField.Name("x-openstack-request-id")!
    static let imageSize = HTTPField.Name("x-openstack-image-size")!
    static let contentMD5 = HTTPField.Name("Content-MD5")!
    static let acceptPatch = HTTPField.Name("Accept-Patch")!
    static let importMethods = HTTPField.Name("OpenStack-image-import-methods")!
    static let storeIds = HTTPField.Name("OpenStack-image-store-ids")!
    static let wwwAuthenticate = HTTPField.Name("WWW-Authenticate")!
}
