import GlimpseTestSupport
import NIOHTTP1
import OpenStackJSON
import Testing

@Suite("Version discovery and routing")
struct VersionsTests {
    @Test("GET / answers 300 with the version list, without a token")
    func root() async throws {
        try await TestApp.with { s in
            let r = try await s.request(.GET, "/")
            #expect(r.status == 300)
            #expect(r.header("Content-Type") == "application/json")
            let versions = try r.json["versions"]?.arrayValue ?? []
            #expect(versions.contains { $0["id"] == "v2.0" })
            #expect(versions.filter { $0["status"] == "CURRENT" }.count == 1)
            for v in versions {
                #expect(v["links"]?.arrayValue?.first?["href"]?.stringValue == s.base + "/v2/")
            }
            #expect(r.header("x-openstack-request-id")?.hasPrefix("req-") == true)
        }
    }

    @Test("GET /versions answers 200; unknown version prefixes answer 300")
    func versions() async throws {
        try await TestApp.with { s in
            let versions = try await s.request(.GET, "/versions")
            #expect(versions.status == 200)
            let v1 = try await s.request(.GET, "/v1/images")
            #expect(v1.status == 300)
            let v10 = try await s.request(.GET, "/v10/images")
            #expect(v10.status == 300)
            let health = try await s.request(.GET, "/healthcheck")
            #expect(health.text == "OK")
        }
    }

    @Test("transfer codings other than chunked are not implemented (RFC 9112), not read as plain data")
    func transferCodings() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            for coding in ["gzip, chunked", "deflate", "chunked, chunked, gzip"] {
                let r = try await s.request(
                    .POST, "/v2/images", token: t, headers: [("Transfer-Encoding", coding)], body: Array("{}".utf8))
                #expect(r.status == 501, "\(coding)")
            }
            let plain = try await s.request(
                .POST, "/v2/images", token: t,
                headers: [("Transfer-Encoding", "Chunked"), ("Content-Type", "application/json")],
                body: Array("{}".utf8))
            #expect(plain.status == 201)
        }
    }
}
