import GlimpseCore
import HTTPTypes
import Hummingbird
import OpenStackEncoding

/// `/v2/images` and `/v2/images/{id}`.
extension ImageRoutes {
    @Sendable func list(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let query = request.queryItems
        let page = try await images.list(try ListParameters.parse(query), by: p)
        let params = query.filter { $0.0 != "marker" }
        let first = params.isEmpty ? "/v2/images" : "/v2/images?" + URLCoding.encodeQuery(params)
        var next: String?
        if page.hasMore, let last = page.images.last {
            next = "/v2/images?" + URLCoding.encodeQuery(params + [("marker", last.id)])
        }
        return .json(ImageJSON.page(page.images, view: ImageDataView(images, for: p), first: first, next: next))
    }

    @Sendable func create(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let image = try await images.create(try await request.jsonBody(context), by: p)
        var headers: HTTPFields = [.location: context.baseURL + "/v2/images/" + image.id]
        if !images.config.importMethods.isEmpty {
            headers[.importMethods] = images.config.importMethods.joined(separator: ",")
        }
        headers[.storeIds] = images.blobs.all.map(\.id).joined(separator: ",")
        return .json(ImageJSON.image(image, view: ImageDataView(images, for: p)), status: .created, headers: headers)
    }

    @Sendable func show(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let p = try context.principal()
        let image = try await images.show(try Self.imageId(context), by: p)
        return .json(ImageJSON.image(image, view: ImageDataView(images, for: p)))
    }

    @Sendable func update(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let id = try Self.imageId(context)
        let contentType = request.headers[.contentType] ?? ""
        guard let dialect = PatchDialect(contentType: contentType) else {
            throw ServiceError(
                .unsupportedMediaType(contentType: contentType),
                detail:
                    "Image PATCH expects Content-Type one of: \(PatchDialect.v20MediaType), \(PatchDialect.v21MediaType)",
                headers: [("Accept-Patch", "\(PatchDialect.v20MediaType), \(PatchDialect.v21MediaType)")])
        }
        let ops = try dialect.parse(try await request.jsonBody(context))
        return .json(ImageJSON.image(try await images.update(id, ops, by: p), view: ImageDataView(images, for: p)))
    }

    @Sendable func delete(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        try await images.delete(try Self.imageId(context), by: try context.principal())
        return .glanceEmpty()
    }
}
