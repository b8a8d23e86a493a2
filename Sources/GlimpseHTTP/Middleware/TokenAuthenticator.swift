import GlimpseCore
import GlimpseIdentity
import Hummingbird
import HummingbirdAuth

/// Puts the caller behind `X-Auth-Token` into the request context, as the token validator
/// (the built-in identity, or a cloud's Keystone) sees it. A request without a valid token
/// passes on without an identity; `RequireIdentity` refuses it where one is needed.
struct TokenAuthenticator: AuthenticatorMiddleware {
    typealias Context = GlimpseRequestContext
    let validator: any TokenValidator
    /// Decides who is an admin (`context_is_admin`).
    let policy: PolicyEnforcer

    func authenticate(request: Request, context: Context) async throws -> Principal? {
        guard let token = request.headers[.authToken], !token.isEmpty else { return nil }
        return try await validator.principal(forToken: token).map(policy.applyingAdmin)
    }
}

/// On the built-in identity's routes: the validated token itself (its user, project and
/// record), besides the caller.
struct KeystoneTokenAuthenticator: RouterMiddleware {
    typealias Context = GlimpseRequestContext
    let keystone: KeystoneService

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let token = request.headers[.authToken], !token.isEmpty, let info = try await keystone.validate(token: token)
        {
            context.token = info
            context.identity = info.principal
        }
        return try await next(request, context)
    }
}

/// Refuses a request that reached an authenticated route without a valid token: 401 in
/// keystonemiddleware's form, whatever the API.
struct RequireIdentity: RouterMiddleware {
    typealias Context = GlimpseRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard context.identity != nil else { throw AuthenticationRequired() }
        return try await next(request, context)
    }
}
