import Hummingbird
import NIOCore

/// `GET /openapi.yaml`, without a token: the OpenAPI description of the image, metadefs,
/// compute and identity APIs (`openapi.yaml` beside this file, compiled in by the
/// `EmbedTextPlugin`, so that a copied binary serves it too).
struct OpenAPIRoutes {
    static let document = ByteBuffer(string: openapiYAML)

    func add(to router: Router<GlimpseRequestContext>) {
        let routes = APIRoutes(middleware: [])
        routes.resource("/openapi.yaml", open: [(.get, serve)])
        routes.add(to: router, at: "")
    }

    @Sendable func serve(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/yaml"],
            body: ResponseBody(byteBuffer: Self.document))
    }
}
