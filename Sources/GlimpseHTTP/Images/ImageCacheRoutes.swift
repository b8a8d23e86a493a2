import GlimpseCore
import HTTPTypes
import Hummingbird
import OpenStackEncoding
import OpenStackJSON

/// The cache API (`/v2/cache`, `/v2/cache/{image_id}`, API 2.14+): this node's image cache,
/// for admins.
extension ImageRoutes {
    /// `GET /v2/cache`: `{"cached_images": [...], "queued_images": [ids]}`, times as seconds
    /// since the epoch (with microseconds), as Glance's cache drivers give them.
    @Sendable func cacheState(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let state = try await images.cacheState(by: try context.principal())
        let cached: [JSONValue] = state.cached.map { entry in
            [
                "image_id": .string(entry.imageId), "hits": .number(JSONNumber(entry.hits)),
                "last_accessed": .number(Self.epochSeconds(entry.lastAccessed)),
                "last_modified": .number(Self.epochSeconds(entry.lastModified)),
                "size": .number(JSONNumber(entry.size)),
            ]
        }
        return .json(["cached_images": .array(cached), "queued_images": .array(state.queued.map { .string($0) })])
    }

    /// `DELETE /v2/cache`, emptying what `x-image-cache-clear-target` names (both if absent).
    @Sendable func clearCache(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let target = try ImageService.CacheClearTarget(header: request.headers[.imageCacheClearTarget])
        try await images.clearCache(target, by: p)
        return .glanceEmpty()
    }

    /// `PUT /v2/cache/{image_id}`: 202, the prefetcher caches the image in the background.
    @Sendable func queueForCache(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await images.queueForCache(try Self.imageId(context), by: try context.principal())
        return .glanceEmpty(.accepted)
    }

    @Sendable func removeFromCache(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await images.removeFromCache(try Self.imageId(context), by: try context.principal())
        return .glanceEmpty()
    }

    /// Seconds since the epoch with six decimals.
    static func epochSeconds(_ t: Timestamp) -> JSONNumber {
        let micros = String(t.microseconds % 1_000_000)
        return JSONNumber(literal: "\(t.seconds).\(String(repeating: "0", count: 6 - micros.count))\(micros)")
    }
}
