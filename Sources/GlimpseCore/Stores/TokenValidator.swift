/// Turns a token from `X-Auth-Token` into the caller it stands for: the built-in identity
/// service, or a delegate that asks a real Keystone.
public protocol TokenValidator: Sendable {
    /// The caller, or nil if the token is unknown, revoked or expired.
    func principal(forToken token: String) async throws -> Principal?
}
