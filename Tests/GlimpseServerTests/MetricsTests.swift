import GlimpseTestSupport
import NIOHTTP1
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Request metrics")
struct MetricsTests {
    /// A port nothing listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                bind(fd, p, len) == 0 && getsockname(fd, p, &len) == 0
            }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    @Test("requests by route and status, latency, bytes and uploads in flight, for Prometheus on a port of their own")
    func prometheus() async throws {
        let metricsPort = try Self.freePort()
        try await TestServer.with({ $0.metricsPort = metricsPort }) { s in
            let t = try await s.adminToken()
            let id = try await s.createImageId(t)
            #expect(try await s.upload(id, token: t, testBytes(5000)).status == 204)
            _ = try await s.request(.GET, "/v2/images/\(id)/file", token: t)
            _ = try await s.request(.GET, "/v2/images/not-there", token: t)
            let metrics = MetricsClient(port: metricsPort)
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

struct MetricsClient: APIClient {
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    func request(
        _ method: HTTPMethod, _ path: String, token: String?, headers: [(String, String)], body: [UInt8]?,
        chunked: Bool
    ) async throws -> Reply {
        try await TestServer.send(to: base, method, path, token: token, headers: headers, body: body, chunked: chunked)
    }
}
