import GlimpseTestSupport
import NIOHTTP1
import Testing
import Yams

/// `GET /openapi.yaml`: the published description of the APIs, served without a token, and
/// in step with the routes (every documented method is served, every other one is a 405).
@Suite("OpenAPI document")
struct OpenAPITests {
    /// The served document's `paths`: path → methods.
    func paths(_ s: TestApp) async throws -> [String: Set<String>] {
        let r = try await s.request(.GET, "/openapi.yaml")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "application/yaml")
        let document = try #require(try Yams.load(yaml: r.text) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "head", "post", "put", "patch", "delete"]
        return paths.mapValues { Set($0.keys).intersection(methods) }
    }

    @Test("is served without a token as YAML that lists the APIs' main paths")
    func served() async throws {
        try await TestApp.with { s in
            let paths = try await paths(s)
            for path in [
                "/v2/images", "/v2/images/{image_id}", "/v2/images/{image_id}/file", "/v2/images/{image_id}/members",
                "/v2/metadefs/namespaces", "/compute/v2.1/images/detail", "/compute/v2/{tenant_id}/images/{image_id}",
                "/identity/v3/auth/tokens", "/identity/v3/users", "/openapi.yaml",
            ] {
                #expect(paths[path] != nil, "\(path) is not documented")
            }
            #expect(paths["/v2/images/{image_id}"] == ["get", "patch", "delete"])
        }
    }

    @Test("every documented method of every path is served, and every other method is a 405")
    func inStepWithRoutes() async throws {
        try await TestApp.with { s in
            // The version documents and the health check answer every method.
            let anyMethod: Set<String> = ["/", "/versions", "/healthcheck"]
            for (template, documented) in try await paths(s) where !anyMethod.contains(template) {
                let path = template.split(separator: "/", omittingEmptySubsequences: false).map { segment in
                    switch segment {
                    case "{image_id}": "00000000-0000-0000-0000-000000000000"
                    case _ where segment.hasPrefix("{"): "x"
                    default: String(segment)
                    }
                }.joined(separator: "/")
                for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
                    let r = try await s.request(HTTPMethod(rawValue: method), path)
                    if documented.contains(method.lowercased()) {
                        #expect(r.status != 405 && r.status != 501, "\(method) \(path): \(r.status)")
                    } else {
                        #expect(r.status == 405, "\(method) \(path) is served (\(r.status)) but not documented")
                    }
                }
            }
        }
    }
}
