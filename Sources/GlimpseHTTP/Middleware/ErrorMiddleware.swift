import GlimpseCore
import HTTPTypes
import Hummingbird
import Logging
import NIOHTTP1

/// Renders every error as the API the request went to renders it: the image API as Glance
/// (HTML, JSON or text by `Accept`), `/identity` as Keystone, `/compute` as Nova. A missing
/// or bad token is keystonemiddleware's 401 everywhere; a database that cannot be reached
/// is 503, one whose disk is full 507 (not 503: every node on that database would fail
/// alike until an operator makes room); anything unexpected is logged and answered 500.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext
    /// The cloud's Keystone, named in 401s; the built-in identity's URL if nil.
    let identityURL: String?

    static func format(forPath path: String) -> ErrorFormat {
        if path == "/identity" || path.hasPrefix("/identity/") { return .keystone }
        if path == "/compute" || path.hasPrefix("/compute/") { return .nova }
        return .glance
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let format = Self.format(forPath: request.uri.path)
        do {
            let response = try await next(request, context)
            // The router answers an unknown path itself; give it the API's own 404.
            if context.endpointPath == "NotFound", response.status == .notFound {
                let message: String? = format == .glance ? nil : "The resource could not be found."
                return format.response(.notFound(message), request: request, baseURL: context.baseURL)
            }
            return response
        } catch is AuthenticationRequired {
            return ErrorFormat.keystone(
                .unauthorized("The request you have made requires authentication."),
                authURL: identityURL ?? context.baseURL + "/identity")
        } catch let error as ServiceError {
            if error.kind == .internalError { context.logger.error("request failed", metadata: ["error": "\(error)"]) }
            return format.response(error, request: request, baseURL: context.baseURL)
        } catch StoreError.unavailable(let reason) {
            context.logger.error("database unavailable", metadata: ["error": "\(reason)"])
            return format.response(.init(.serviceUnavailable), request: request, baseURL: context.baseURL)
        } catch StoreError.full(let reason) {
            context.logger.error("database full", metadata: ["error": "\(reason)"])
            return format.response(.init(.insufficientStorage), request: request, baseURL: context.baseURL)
        } catch let error as HTTPParserError {
            // The body broke off or was malformed mid-request: the client's fault, not ours.
            context.logger.notice("request body malformed or cut off", metadata: ["error": "\(error)"])
            let failure = ServiceError(.badRequest, detail: "The request body was malformed or cut off: \(error).")
            var response = format.response(failure, request: request, baseURL: context.baseURL)
            response.headers[.connection] = "close"
            return response
        } catch let error as HTTPError {
            let kind: ServiceError.Kind =
                switch error.status.code {
                case 400: .badRequest
                case 404: .notFound
                case 413: .payloadTooLarge
                default: .internalError
                }
            return format.response(ServiceError(kind, detail: error.body), request: request, baseURL: context.baseURL)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            return format.response(.internalError(), request: request, baseURL: context.baseURL)
        }
    }
}
