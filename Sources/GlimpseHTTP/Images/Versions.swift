import GlimpseCore
import HTTPTypes
import Hummingbird
import NIOCore

extension ImageRoutes {
    /// `/` (300) and `/versions` (200): the image API's versions, without a token.
    func versions(status: HTTPResponse.Status) -> Handler {
        { _, context in .json(ImageVersions.document(baseURL: context.baseURL), status: status) }
    }

    /// `/healthcheck`.
    @Sendable func healthcheck(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; charset=UTF-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: "OK")))
    }
}
