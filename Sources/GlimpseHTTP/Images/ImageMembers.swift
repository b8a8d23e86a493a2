import GlimpseCore
import Hummingbird

/// `/v2/images/{id}/members` and `/v2/images/{id}/members/{member}`.
extension ImageRoutes {
    @Sendable func members(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        return .json(
            ImageJSON.members(try await images.members(try Self.imageId(context), by: try context.principal())))
    }

    @Sendable func addMember(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let id = try Self.imageId(context)
        return .json(ImageJSON.member(try await images.addMember(id, body: try await request.jsonBody(context), by: p)))
    }

    @Sendable func member(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let member = try await images.member(
            try Self.imageId(context), context.parameters.decoded("member"), by: try context.principal())
        return .json(ImageJSON.member(member))
    }

    @Sendable func updateMember(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let (id, member) = (try Self.imageId(context), context.parameters.decoded("member"))
        return .json(
            ImageJSON.member(
                try await images.updateMember(id, member, body: try await request.jsonBody(context), by: p)))
    }

    @Sendable func removeMember(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        try await images.removeMember(
            try Self.imageId(context), context.parameters.decoded("member"), by: try context.principal())
        return .glanceEmpty()
    }
}
