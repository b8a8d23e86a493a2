import GlimpseCore
import GlimpseIdentity
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The front door: assigns the request id, picks the API from the path (`/identity`,
/// `/compute`, everything else is the image API), renders errors in that API's format and
/// writes one access-log line per request.
struct GlimpseResponder: HTTPResponder {
    typealias Context = GlimpseRequestContext

    let imageAPI: ImageAPI
    let identityAPI: IdentityAPI
    let computeAPI: ComputeAPI
    let publicURL: String?
    let defaultBaseURL: String

    func respond(to request: Request, context: Context) async throws -> Response {
        let start = ContinuousClock.now
        let requestId = Self.requestId(from: request.headers[.requestId])
        var logger = context.logger
        logger[metadataKey: "request_id"] = .string(requestId)
        let rawPath = request.head.path ?? "/"
        let (pathPart, queryPart) = Self.split(rawPath)
        let segments = pathPart.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { URLCoding.decode($0) }
        let req = APIRequest(
            request: request, context: context, segments: segments, query: queryPart.map { URLCoding.parseQuery($0) } ?? [],
            requestId: requestId, logger: logger, baseURL: baseURL(request))
        let api: API = switch segments.first {
        case "identity": .identity
        case "compute": .compute
        default: .image
        }
        var response: Response
        do {
            response = try await route(req, api: api, segments: segments)
        } catch {
            response = render(error, req, api: api)
        }
        response.headers[.requestId] = requestId
        if req.continueUnanswered, response.status.code >= 300 {
            // The client held its body back waiting for 100 Continue; it will not send it
            // now, so this connection cannot carry another request.
            response.headers[.connection] = "close"
        }
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info("\(request.method.rawValue) \(pathPart) \(response.status.code)",
                    metadata: ["ms": .stringConvertible((ms * 10).rounded() / 10)])
        return response
    }

    enum API { case image, identity, compute }

    static let knownMethods: Set<HTTPRequest.Method> = [.get, .head, .post, .put, .delete, .patch]

    func route(_ req: APIRequest, api: API, segments: [String]) async throws -> Response {
        guard Self.knownMethods.contains(req.method) else { throw ServiceError(.notImplemented) }
        switch api {
        case .identity:
            return try await identityAPI.handle(req, Array(segments.dropFirst()))
        case .compute:
            return try await computeAPI.handle(req, Array(segments.dropFirst()))
        case .image:
            guard let first = segments.first, !first.isEmpty else {
                return req.json(ImageAPI.versionsDocument(baseURL: req.baseURL), status: .multipleChoices)
            }
            if segments == ["versions"] {
                return req.json(ImageAPI.versionsDocument(baseURL: req.baseURL))
            }
            if segments == ["healthcheck"] {
                return Response(status: .ok, headers: [.contentType: "text/plain; charset=UTF-8"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: "OK")))
            }
            guard ImageAPI.aliases.contains(first) else {
                // Unknown version: Glance answers with the version list.
                return req.json(ImageAPI.versionsDocument(baseURL: req.baseURL), status: .multipleChoices)
            }
            return try await imageAPI.handle(req, Array(segments.dropFirst()))
        }
    }

    func render(_ error: any Error, _ req: APIRequest, api: API) -> Response {
        let authURL = req.baseURL + "/identity"
        switch error {
        case is AuthenticationRequired:
            // keystonemiddleware's refusal, whatever the API.
            return KeystoneErrorFormat.response(.unauthorized("The request you have made requires authentication."), authURL: authURL)
        case let e as ServiceError:
            if e.kind == .internalError { req.logger.error("request failed", metadata: ["error": "\(e)"]) }
            switch api {
            case .identity: return KeystoneErrorFormat.response(e, authURL: authURL)
            case .compute: return NovaErrorFormat.response(e)
            case .image: return GlanceErrorFormat.response(e, accept: req.header(.accept), method: req.methodName)
            }
        default:
            req.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            let e = ServiceError.internalError()
            switch api {
            case .identity: return KeystoneErrorFormat.response(e, authURL: authURL)
            case .compute: return NovaErrorFormat.response(e)
            case .image: return GlanceErrorFormat.response(e, accept: req.header(.accept), method: req.methodName)
            }
        }
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

    static func split(_ path: String) -> (Substring, Substring?) {
        guard let q = path.firstIndex(of: "?") else { return (Substring(path), nil) }
        return (path[..<q], path[path.index(after: q)...])
    }

    /// `http://<Host header>` unless a public URL is configured.
    func baseURL(_ request: Request) -> String {
        if let publicURL { return publicURL }
        if let host = request.head.authority, !host.isEmpty,
           host.unicodeScalars.allSatisfy({ $0.isASCII && $0 != "/" && $0 != " " && $0 != "@" })
        {
            return "http://" + host
        }
        return defaultBaseURL
    }
}
