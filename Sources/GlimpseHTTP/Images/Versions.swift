import GlimpseCore
import HTTPTypes
import Hummingbird
import NIOCore
import OpenStackJSON

extension ImageRoutes {
    /// `/` (300) and `/versions` (200): the image API's versions, without a token.
    func versions(status: HTTPResponse.Status) -> Handler {
        let (cache, locations) = (images.cache != nil, images.blobs.http != nil)
        return { _, context in
            .json(
                ImageVersions.document(baseURL: context.baseURL, cache: cache, locations: locations), status: status)
        }
    }

    /// `/healthcheck`: 200 `OK` when the database and every image store answer, else 503
    /// with what failed, so that a load balancer sends requests elsewhere. With `?detail`,
    /// each probe as JSON (backend, time taken, failure).
    @Sendable func healthcheck(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let results = await health.run()
        let healthy = results.allSatisfy(\.healthy)
        let status: HTTPResponse.Status = healthy ? .ok : .serviceUnavailable
        if request.uri.queryParameters["detail"] != nil {
            let checks: [JSONValue] = results.map { r in
                var o: JSONObject = [
                    "name": .string(r.probe.name), "kind": .string(r.probe.kind), "backend": .string(r.probe.backend),
                    "status": .string(r.healthy ? "ok" : "unavailable"),
                    "milliseconds": .number(JSONNumber(literal: format3(r.milliseconds))),
                ]
                if let failure = r.failure { o["reason"] = .string(failure) }
                return .object(o)
            }
            let doc: JSONValue = ["status": .string(healthy ? "ok" : "unavailable"), "checks": .array(checks)]
            return .json(doc, status: status)
        }
        let failures = results.compactMap { r in r.failure.map { "\(r.probe.name): \($0)" } }
        let text = healthy ? "OK" : failures.joined(separator: "\n")
        return Response(
            status: status, headers: [.contentType: "text/plain; charset=UTF-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Milliseconds with three decimals.
    func format3(_ ms: Double) -> String {
        let micros = Int((ms * 1000).rounded())
        let frac = String(micros % 1000)
        return "\(micros / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }
}
