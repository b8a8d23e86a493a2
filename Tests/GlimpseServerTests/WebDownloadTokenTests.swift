import GlimpseCore
import GlimpseTestSupport
import Logging
import Testing

@testable import GlimpseServer

@Suite("web-download client: a caller's token")
struct WebDownloadTokenTests {
    @Test("goes to the URI's origin, through a redirect within it, and never to another origin")
    func tokenStaysWithItsOrigin() async throws {
        try await Origin.with(testBytes(100)) { origin in
            var filter = ServerConfig().webDownload
            filter.allowPrivate = true
            filter.allowedPorts = []
            let client = WebDownloadClient(
                filter: filter, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            for (target, kept) in [
                ("http://127.0.0.1:\(origin.port)/image", true), ("http://localhost:\(origin.port)/image", false),
            ] {
                let download = try await client.open(origin.base + "/redirect?to=" + target, token: "secret")
                for try await _ in download.body {}
                #expect(origin.token("/redirect") == "secret")
                #expect(origin.token("/image") == (kept ? "secret" : nil), "\(target)")
            }
            let plain = try await client.open(origin.base + "/image")
            for try await _ in plain.body {}
            #expect(origin.token("/image") == nil)
        }
    }
}
