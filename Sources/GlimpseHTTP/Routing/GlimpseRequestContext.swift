import GlimpseCore
import GlimpseIdentity
import Hummingbird
import HummingbirdAuth
import Logging
import Metrics
import NIOCore
import Synchronization

/// What a request carries through the middleware to its route: the caller (put there by
/// the token authenticator), the request id, the base URL links are built from, and the
/// channel (to answer `Expect: 100-continue` when the route is ready for the body).
public struct GlimpseRequestContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// The caller behind the request's token.
    public var identity: Principal?
    /// The validated token with its user and project, on the built-in identity's routes.
    public var token: TokenInfo?
    /// `x-openstack-request-id` of this request.
    public var requestId = ""
    /// `http://host:port` as the client reached the server, or the configured public URL.
    public var baseURL = ""
    let expectation = ContinueExpectation()
    /// Counts response body bytes a route sends around the body writer (files sent by the
    /// kernel), when metrics are on.
    var bytesSent: Counter?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The caller; a route behind the authenticator always has one.
    public func principal() throws -> Principal {
        guard let identity else { throw AuthenticationRequired() }
        return identity
    }

    /// The validated token, on the built-in identity's authenticated routes.
    func tokenInfo() throws -> TokenInfo {
        guard let token else { throw AuthenticationRequired() }
        return token
    }
}

/// No valid token: every API answers 401 in keystonemiddleware's form.
public struct AuthenticationRequired: Error {
    public init() {}
}

/// Whether `100 Continue` was sent for a request.
final class ContinueExpectation: Sendable {
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
