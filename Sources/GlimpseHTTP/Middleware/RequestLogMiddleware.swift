import GlimpseCore
import HTTPTypes
import Hummingbird
import Logging

/// The outermost middleware: gives the request its id (the client's, if it sent a usable
/// one) and its base URL, answers with `x-openstack-request-id`, and writes one access-log
/// line per request.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext
    /// The URL clients reach the server at, when configured (behind a proxy).
    let publicURL: String?
    /// Used when the request names no usable host.
    let defaultBaseURL: String

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        context.requestId = Self.requestId(from: request.headers[.requestId])
        context.baseURL = baseURL(request)
        context.logger[metadataKey: "request_id"] = .string(context.requestId)
        var response = try await next(request, context)
        response.headers[.requestId] = context.requestId
        if request.expectsContinue, !context.expectation.claimed, response.status.code >= 300 {
            // The client held its body back waiting for 100 Continue; it will not send it
            // now, so this connection cannot carry another request.
            response.headers[.connection] = "close"
        }
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info(
            "\(request.method.rawValue) \(request.uri.path) \(response.status.code)",
            metadata: ["ms": .stringConvertible((ms * 10).rounded() / 10)])
        return response
    }

    /// The client's request id if it sent a usable one (Glance: `req-` prefixed, at most 64
    /// characters), else a new one.
    static func requestId(from header: String?) -> String {
        if let header, !header.isEmpty, header.count <= 64,
            header.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value < 127 })
        {
            return header.hasPrefix("req-") ? header : "req-" + header
        }
        return "req-" + Identifiers.uuid()
    }

    /// `<scheme>://<Host header>` unless a public URL is configured; the scheme is the
    /// default base URL's (`https` when the server speaks TLS).
    func baseURL(_ request: Request) -> String {
        if let publicURL { return publicURL }
        if let host = request.head.authority, !host.isEmpty,
            host.unicodeScalars.allSatisfy({ $0.isASCII && $0 != "/" && $0 != " " && $0 != "@" })
        {
            return (defaultBaseURL.hasPrefix("https:") ? "https://" : "http://") + host
        }
        return defaultBaseURL
    }
}
