import GlimpseCore
import HTTPTypes
import Hummingbird
import OpenStackEncoding
import OpenStackJSON

/// Glance's version negotiation, before routing: `/v2.x/…` is served as `/v2/…`, and a path
/// under no API the server knows (an unknown version) gets the version list (300). Methods
/// no route uses, and transfer codings other than `chunked` (RFC 9112: `gzip, chunked`
/// would otherwise be read as plain data), get 501. As in Glance, an image API path with an empty segment (a trailing
/// or doubled slash) names nothing (the router would ignore the empty segment).
struct VersionMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext
    /// Whether this node has an image cache (its versions include the cache API's).
    let cache: Bool
    /// Whether this node offers the locations API (an http store is configured).
    let locations: Bool
    /// Version prefixes served as `/v2`.
    let aliases: Set<String>

    init(cache: Bool, locations: Bool = false) {
        self.cache = cache
        self.locations = locations
        aliases = ImageVersions.aliases(cache: cache, locations: locations)
    }

    /// First path segments that lead to a route.
    static let routed: Set<String> = ["", "v2", "versions", "healthcheck", "identity", "compute", "openapi.yaml"]

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard APIRoutes.methods.contains(request.method) else { throw ServiceError(.notImplemented) }
        let codings = request.headers[values: .transferEncoding].flatMap { $0.split(separator: ",") }
        guard codings.allSatisfy({ String($0).trimming(" \t").lowercased() == "chunked" }) else {
            throw ServiceError(.notImplemented)
        }
        let path = request.uri.path
        let first = path.dropFirst().prefix { $0 != "/" }
        let isImageAPI = first == "v2" || aliases.contains(String(first))
        if isImageAPI, path.hasSuffix("/") || path.contains("//") { throw ServiceError.notFound() }
        if Self.routed.contains(String(first)) { return try await next(request, context) }
        guard isImageAPI else {
            return .json(
                ImageVersions.document(baseURL: context.baseURL, cache: cache, locations: locations),
                status: .multipleChoices)
        }
        var head = request.head
        let rest = path.dropFirst(1 + first.count)
        head.path = "/v2" + rest + (request.uri.query.map { "?" + $0 } ?? "")
        return try await next(Request(head: head, body: request.body), context)
    }
}

/// The image API's versions: each maps to the same `/v2/` endpoint.
///
/// As in Glance, the cache API's versions are offered only by a node with a cache: 2.14 (the
/// cache API) and 2.16 (its `PUT` answers 202), which becomes the current one. 2.17 (the
/// locations API) is offered where an http store is configured (`locations`), current unless
/// the cache's versions are. Glance's 2.18 (`POST /v2/cache/clean` and `/prune`) is not
/// implemented.
enum ImageVersions {
    /// Newest first.
    static func all(cache: Bool, locations: Bool = false) -> [(id: String, status: String)] {
        var head: [(id: String, status: String)] =
            cache
            ? [("v2.16", "CURRENT"), ("v2.15", "SUPPORTED"), ("v2.14", "SUPPORTED")] : [("v2.15", "CURRENT")]
        if locations {
            head[0].status = "SUPPORTED"
            head.insert(("v2.17", "CURRENT"), at: 0)
        }
        return head + [
            ("v2.13", "SUPPORTED"), ("v2.12", "SUPPORTED"), ("v2.9", "SUPPORTED"), ("v2.8", "SUPPORTED"),
            ("v2.7", "SUPPORTED"), ("v2.6", "SUPPORTED"), ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"),
            ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"), ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED"),
        ]
    }

    /// Path prefixes served as `/v2`.
    static func aliases(cache: Bool, locations: Bool = false) -> Set<String> {
        Set(all(cache: cache, locations: locations).map(\.id))
    }

    static func document(baseURL: String, cache: Bool, locations: Bool = false) -> JSONValue {
        let href = JSONValue.string(baseURL + "/v2/")
        return [
            "versions": .array(
                all(cache: cache, locations: locations).map { v in
                    ["id": .string(v.id), "status": .string(v.status), "links": [["rel": "self", "href": href]]]
                })
        ]
    }
}
