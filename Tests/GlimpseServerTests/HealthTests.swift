import Foundation
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import Testing

@Suite("Health check")
struct HealthTests {
    @Test("/healthcheck answers OK while the database and stores work, 503 naming the failure when one does not")
    func storeFailure() async throws {
        try await TestServer.with { s in
            let ok = try await s.request(.GET, "/healthcheck", token: nil)
            #expect(ok.status == 200 && ok.text == "OK")
            let detail = try await s.request(.GET, "/healthcheck?detail", token: nil)
            let checks = try detail.json["checks"]?.arrayValue ?? []
            #expect(try detail.json["status"] == "ok")
            #expect(checks.map { $0["name"]?.stringValue } == ["database", "local"])
            #expect(checks.map { $0["backend"]?.stringValue } == ["sqlite", "file"])
            #expect(checks.allSatisfy { $0["status"] == "ok" && $0["milliseconds"]?.doubleValue != nil })

            // The store's directory for incoming data disappears.
            let tmp = s.dataDir + "/images/.tmp"
            try FileManager.default.removeItem(atPath: tmp)
            let down = try await s.request(.GET, "/healthcheck", token: nil)
            #expect(down.status == 503 && down.text.hasPrefix("local: ") && down.text.contains(".tmp"))
            let downDetail = try await s.request(.GET, "/healthcheck?detail", token: nil)
            #expect(try downDetail.status == 503 && downDetail.json["status"] == "unavailable")
            #expect(try downDetail.json["checks"]?.arrayValue?.last?["status"] == "unavailable")
            #expect(try await s.request(.HEAD, "/healthcheck", token: nil).status == 503)
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: false)
            #expect(try await s.request(.GET, "/healthcheck", token: nil).status == 200)
        }
    }

    @Test("a database that cannot be reached fails its probe within the probe's timeout")
    func databaseDown() async throws {
        var config = ServerConfig()
        config.databaseURL = "postgres://glimpse:pw@127.0.0.1:\(try RawHTTP.freePort())/glimpse?sslmode=disable"
        config.metadataBackend = .postgresql
        config.enabledBackends = [("local", "memory")]
        let components = try Components(config, logger: TestServer.logger, exclusive: false)
        let start = Date()
        let results = await components.health.run()
        // The probe gives up at its timeout (3 s), not when the pool does (60 s); the margin
        // is for a busy machine, where tests in parallel hold the cooperative threads.
        #expect(Date().timeIntervalSince(start) < 55)
        #expect(results.map(\.probe.name) == ["database", "local"])
        #expect(results[0].failure != nil && results[1].healthy)
        try await components.close()
    }
}
