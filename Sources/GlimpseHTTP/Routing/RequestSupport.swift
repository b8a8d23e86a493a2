import GlimpseCore
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes
import OpenStackEncoding
import OpenStackJSON

extension Request {
    /// The query string as decoded (name, value) pairs, in order, repeats kept.
    var queryItems: [(String, String)] { uri.query.map { URLCoding.parseQuery($0) } ?? [] }

    /// The last value of a query parameter.
    func query(_ name: String) -> String? { queryItems.last { $0.0 == name }?.1 }

    func header(_ name: HTTPField.Name) -> String? { headers[name] }

    /// Whether the request carries a body (a non-zero length or chunked encoding).
    var hasBody: Bool {
        if let len = headers[.contentLength] { return (Int(len) ?? 0) > 0 }
        return headers[.transferEncoding]?.lowercased().contains("chunked") ?? false
    }

    /// Glance refuses bodies on calls that take none.
    func requireNoBody() throws(ServiceError) {
        if hasBody { throw .badRequest("A body is not expected with this request.") }
    }

    var expectsContinue: Bool { headers[.expect]?.lowercased() == "100-continue" }

    /// Answers `Expect: 100-continue` once, when the route is about to read the body: after
    /// authentication and the checks, so a refused request is refused before the client
    /// sends its body.
    func sendContinueIfExpected(_ context: GlimpseRequestContext) async {
        guard expectsContinue, context.expectation.claim() else { return }
        try? await context.channel.writeAndFlush(HTTPResponsePart.head(HTTPResponse(status: .continue)))
    }

    /// Reads a JSON body of at most `limit` bytes.
    func jsonBody(_ context: GlimpseRequestContext, limit: Int = 4 << 20) async throws -> JSONValue {
        guard hasBody else { throw ServiceError.badRequest("Body expected in request.") }
        await sendContinueIfExpected(context)
        var collected = ByteBuffer()
        for try await chunk in body {
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
}

extension Parameters {
    /// A path parameter, percent-decoded.
    func decoded(_ name: String) -> String { URLCoding.decode(get(name) ?? "") }
}

extension Response {
    /// A JSON response.
    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        json(value.serialized(), status: status, headers: headers)
    }

    /// An empty answer of the image API, typed as Glance types it.
    static func glanceEmpty(_ status: HTTPResponse.Status = .noContent) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=UTF-8"])
    }

    /// An empty answer.
    static func empty(_ status: HTTPResponse.Status = .noContent) -> Response {
        Response(status: status)
    }
}

extension HTTPField.Name {
    static let authToken = HTTPField.Name("X-Auth-Token")!
    static let subjectToken = HTTPField.Name("X-Subject-Token")!
    /// Internal: marks a response whose body `FileSender` sends; never leaves the server.
    static let sendFile = HTTPField.Name(FileSender.mark)!
    static let requestId = HTTPField.Name("x-openstack-request-id")!
    static let imageSize = HTTPField.Name("x-openstack-image-size")!
    static let contentMD5 = HTTPField.Name("Content-MD5")!
    static let importMethods = HTTPField.Name("OpenStack-image-import-methods")!
    static let storeIds = HTTPField.Name("OpenStack-image-store-ids")!
    static let imageMetaStore = HTTPField.Name("X-Image-Meta-Store")!
    static let imageCacheClearTarget = HTTPField.Name("x-image-cache-clear-target")!
    static let wwwAuthenticate = HTTPField.Name("WWW-Authenticate")!
    static let openStackAPIVersion = HTTPField.Name("OpenStack-API-Version")!
    static let novaAPIVersion = HTTPField.Name("X-OpenStack-Nova-API-Version")!
    static let openStackAppend = HTTPField.Name("X-Openstack-Append")!
}

extension StringProtocol {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return String(self) }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }
}
