import GlimpseCore
import Hummingbird

/// `/v2/images/{id}/import`, `/v2/stores/{store_id}/{image_id}`,
/// `/v2/images/{id}/actions/{deactivate,reactivate}` and `/v2/images/{id}/tags/{tag}`.
extension ImageRoutes {
    @Sendable func importImage(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let caller = request.headers[.authToken].map {
            ImportCaller(token: $0, catalog: catalog ?? LocalImageCatalog(region: region, url: context.baseURL))
        }
        try await images.importImage(
            try Self.imageId(context), body: try await request.jsonBody(context),
            storeHeader: request.headers[.imageMetaStore], requestId: context.requestId, caller: caller, by: p)
        return .glanceEmpty(.accepted)
    }

    @Sendable func deleteFromStore(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        try await images.deleteFromStore(
            context.parameters.decoded("store"), try Self.imageId(context), by: try context.principal())
        return .glanceEmpty()
    }

    @Sendable func action(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let p = try context.principal()
        let id = try Self.imageId(context)
        switch context.parameters.decoded("action") {
        case "deactivate": try await images.deactivate(id, by: p)
        case "reactivate": try await images.reactivate(id, by: p)
        default: throw ServiceError.notFound()
        }
        return .glanceEmpty()
    }

    @Sendable func addTag(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        try await images.addTag(
            try Self.imageId(context), context.parameters.decoded("tag"), by: try context.principal())
        return .glanceEmpty()
    }

    @Sendable func removeTag(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        try await images.removeTag(
            try Self.imageId(context), context.parameters.decoded("tag"), by: try context.principal())
        return .glanceEmpty()
    }
}
