import HTTPTypes
import Hummingbird
import Metrics

/// Request metrics: requests by route, method and status, a latency histogram by route,
/// bytes received and sent, and the uploads in flight. Metrics go to the factory given (the
/// server exposes them for Prometheus), not to a process-wide one.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext
    let factory: any MetricsFactory
    let uploadsInFlight: Meter
    let bytesIn: Counter
    let bytesOut: Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        uploadsInFlight = Meter(label: "glimpse_uploads_in_flight", factory: factory)
        bytesIn = Counter(label: "glimpse_http_request_body_bytes_total", factory: factory)
        bytesOut = Counter(label: "glimpse_http_response_body_bytes_total", factory: factory)
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let path = request.uri.path
        let isUpload = request.method == .put && (path.hasSuffix("/file") || path.hasSuffix("/stage"))
        if isUpload { uploadsInFlight.increment() }
        defer { if isUpload { uploadsInFlight.decrement() } }
        var request = request
        var context = context
        context.bytesSent = bytesOut
        if request.hasBody {
            let counter = bytesIn
            request.body = RequestBody(
                asyncSequence: request.body.map { buffer in
                    counter.increment(by: buffer.readableBytes)
                    return buffer
                })
        }
        var response = try await next(request, context)
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        Counter(
            label: "glimpse_http_requests_total",
            dimensions: [("method", method), ("route", route), ("status", String(response.status.code))],
            factory: factory
        ).increment()
        Timer(
            label: "glimpse_http_request_duration_seconds", dimensions: [("method", method), ("route", route)],
            preferredDisplayUnit: .seconds, factory: factory
        )
        .recordInterval(since: start)
        let body = response.body
        let counter = bytesOut
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(
                writer.map { buffer in
                    counter.increment(by: buffer.readableBytes)
                    return buffer
                })
        }
        return response
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
