import GlimpseTestSupport
import NIOHTTP1
import NIOPosix
import Testing

@Suite("Request metrics")
struct MetricsTests {
    @Test("requests by route and status, latency, bytes and uploads in flight, for Prometheus on a port of their own")
    func prometheus() async throws {
        let metricsPort = try RawHTTP.freePort()
        try await TestServer.with({ $0.metricsPort = metricsPort }) { s in
            let t = try await s.adminToken()
            let id = try await s.createImageId(t)
            #expect(try await s.upload(id, token: t, testBytes(5000)).status == 204)
            _ = try await s.request(.GET, "/v2/images/\(id)/file", token: t)
            _ = try await s.request(.GET, "/v2/images/not-there", token: t)
            let metrics = LiveClient(port: metricsPort)
            let text = try await metrics.request(.GET, "/metrics").text
            #expect(text.contains(#"glimpse_http_requests_total{method="POST",route="/v2/images",status="201"} 1"#))
            #expect(text.contains(#"glimpse_http_requests_total{method="GET",route="/v2/images/{id}",status="404"} 1"#))
            #expect(
                text.contains(
                    #"glimpse_http_request_duration_seconds_count{method="GET",route="/v2/images/{id}/file"} 1"#))
            #expect(text.contains("glimpse_http_request_body_bytes_total"))
            #expect(text.contains("glimpse_http_response_body_bytes_total"))
            #expect(text.contains("glimpse_uploads_in_flight 0"))
            // The image API's port does not serve them.
            #expect(try await s.request(.GET, "/metrics").status == 300)
        }
    }
}
