import GlimpseCore
import Hummingbird
import OpenStackJSON

/// `/v2/images/{id}/locations` (API 2.17): add a location to a queued image, list them.
extension ImageRoutes {
    @Sendable func addLocation(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        try await images.addLocation(
            try Self.imageId(context), body: try await request.jsonBody(context), requestId: context.requestId, by: p)
        return .glanceEmpty(.accepted)
    }

    @Sendable func listLocations(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let locations = try await images.locations(of: try Self.imageId(context), by: try context.principal())
        return .json(.array(locations.map { ["url": .string($0.url), "metadata": .object($0.metadata)] }))
    }
}
