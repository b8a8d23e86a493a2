import GlimpseCore
import OpenStack

/// Where a Swift store keeps image data, and as whom it signs in.
public struct SwiftStoreSettings: Sendable, Equatable {
    public var auth: SwiftAuth
    /// The account URL to use instead of the one the sign-in gives.
    public var storageURL: String?
    /// The container of the images; segments go to `<container>_segments`. Both are created
    /// when missing.
    public var container = "glance"
    /// Images larger than one megabyte are written in segments of this size under a Static
    /// Large Object manifest (so images over Swift's 5 GiB object limit work).
    public var segmentSize = 200 << 20
    /// With N from 1 to 32, objects are spread over containers `<container>_<first N
    /// characters of the image id>` (each with its `_segments` twin), as Glance's
    /// `swift_store_multiple_containers_seed`: container listings stay short with millions
    /// of images. 0: one container.
    public var containersSeed = 0

    public init(auth: SwiftAuth) { self.auth = auth }

    static let options = [
        "container", "segment_size_mb", "containers_seed", "storage_url", "project", "user_domain", "project_domain",
        "region",
        "interface",
    ]

    /// Reads a store URL:
    /// - `swift://USER:KEY@HOST:PORT/auth/v1.0?container=glance`: Swift's v1.0 auth (tempauth);
    /// - `swift+keystone://USER:PASSWORD@HOST:PORT/v3?project=P&container=glance`: Keystone
    ///   v3 (also `user_domain`, `project_domain`, `region`, `interface`).
    ///
    /// `+https` after either scheme speaks TLS. Options of both: `container`,
    /// `segment_size_mb` (200), `containers_seed` (0), `storage_url`.
    public init(url text: String) throws(StoreURLError) {
        var url = try StoreURL(text)
        let scheme = url.scheme.split(separator: "+").map(String.init)
        guard scheme.first == "swift" else { throw StoreURLError("'\(url.scheme)' is not a Swift store URL") }
        let tls = scheme.contains("https")
        let keystone = scheme.contains("keystone")
        guard scheme.dropFirst().allSatisfy({ ["https", "http", "keystone"].contains($0) }) else {
            throw StoreURLError("unknown Swift store scheme '\(url.scheme)' (swift, swift+https, swift+keystone, …)")
        }
        guard let user = url.user, let secret = url.secret, !url.host.isEmpty else {
            throw StoreURLError("a Swift store URL names a user, its key and a host: \(url)")
        }
        let endpoint = (tls ? "https://" : "http://") + url.hostAndPort + (url.path.isEmpty ? "/" : url.path)
        if keystone {
            guard let project = url.take("project") else {
                throw StoreURLError("a swift+keystone store URL needs ?project=NAME: \(url)")
            }
            var account = SwiftAuth.KeystoneAccount(url: endpoint, user: user, password: secret, project: project)
            account.userDomain = url.take("user_domain") ?? account.userDomain
            account.projectDomain = url.take("project_domain") ?? account.projectDomain
            account.region = url.take("region")
            if let i = url.take("interface") {
                guard let interface = Interface(rawValue: i) else {
                    throw StoreURLError("interface=\(i): public, internal or admin is expected")
                }
                account.interface = interface
            }
            auth = .keystone(account)
        } else {
            auth = .v1(url: endpoint, user: user, key: secret)
        }
        storageURL = url.take("storage_url")
        if let c = url.take("container") {
            guard Self.isValidContainer(c) else { throw StoreURLError("container=\(c): not a Swift container name") }
            container = c
        }
        if let mb = try url.takeInt("segment_size_mb", minimum: 1) { segmentSize = mb << 20 }
        if let seed = try url.takeInt("containers_seed") {
            guard seed <= 32 else { throw StoreURLError("containers_seed=\(seed): 0 to 32 is expected") }
            containersSeed = seed
        }
        try url.rejectUnknownOptions(known: Self.options)
    }

    /// Swift's rules: 1 to 256 bytes, no `/`; ours: room for the `_segments` suffix.
    static func isValidContainer(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 256 - 9 && !name.contains("/")
    }
}
