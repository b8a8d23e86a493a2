import Synchronization

/// Where a service lives: found in the token's catalog (by type, optional name, region and
/// interface) or given outright, then remembered.
final class ServiceEndpoint: Sendable {
    let type: String
    let name: String?
    let region: String?
    let interface: Interface
    let override: String?
    let tokens: TokenManager?
    private let cached = Mutex<String?>(nil)

    init(type: String, name: String?, region: String?, interface: Interface, override: String?, tokens: TokenManager?) {
        self.type = type
        self.name = name
        self.region = region
        self.interface = interface
        self.override = override
        self.tokens = tokens
    }

    /// The endpoint URL without a trailing slash.
    func url() async throws -> String {
        if let url = cached.withLock({ $0 }) { return url }
        var url: String
        if let override {
            url = override
        } else {
            guard let tokens else {
                throw OpenStackError(.configuration, "no endpoint for \(type): give one or an auth URL")
            }
            url = try await tokens.token().catalog.url(type: type, name: name, region: region, interface: interface)
        }
        while url.hasSuffix("/") { url.removeLast() }
        let resolved = url
        cached.withLock { $0 = resolved }
        return resolved
    }
}
