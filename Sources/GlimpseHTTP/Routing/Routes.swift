import GlimpseCore
import HTTPTypes
import Hummingbird

/// A route's handler.
typealias Handler = @Sendable (Request, GlimpseRequestContext) async throws -> Response

/// The routes of one API, declared a path at a time: each path gets its handlers, and
/// every other method gets Glance's 405 with an `Allow` header naming the path's methods.
/// Handlers go behind the API's middleware (the token authenticator); 405s and open routes
/// (version documents, getting a token) do not, so a wrong method is named without a token.
struct APIRoutes {
    let open = RouteCollection(context: GlimpseRequestContext.self)
    let authenticated = RouteCollection(context: GlimpseRequestContext.self)

    /// The methods a path answers 405 to when it lacks them (others get 501 before
    /// routing), in the order `Allow` lists them.
    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]

    init(middleware: [any MiddlewareProtocol<Request, Response, GlimpseRequestContext>]) {
        for m in middleware { authenticated.add(middleware: m) }
    }

    /// Routes `path`: `handlers` behind the middleware, `open` handlers without it.
    func resource(
        _ path: RouterPath, open openHandlers: [(HTTPRequest.Method, Handler)] = [],
        _ handlers: [(HTTPRequest.Method, Handler)] = []
    ) {
        for (method, handler) in openHandlers { open.on(path, method: method, use: handler) }
        for (method, handler) in handlers { authenticated.on(path, method: method, use: handler) }
        let present = Set((openHandlers + handlers).map(\.0))
        let allowed = Self.methods.filter(present.contains)
        let error = ServiceError(.methodNotAllowed(allowed: allowed.map(\.rawValue)))
        for method in Self.methods where !present.contains(method) {
            open.on(path, method: method) { _, _ -> Response in throw error }
        }
    }

    /// Adds the routes to a router under `prefix`.
    func add(to router: Router<GlimpseRequestContext>, at prefix: RouterPath) {
        router.addRoutes(open, atPath: prefix)
        router.addRoutes(authenticated, atPath: prefix)
    }
}
