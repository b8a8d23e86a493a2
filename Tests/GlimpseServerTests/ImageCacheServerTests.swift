import Crypto
import Foundation
import GlimpseCore
import GlimpseServer
import GlimpseTestSupport
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A server whose store is not local files (in memory, standing for Swift, S3 or RBD) with an
/// image cache (`image_cache_dir`): downloads through the cache, and the cache API.
@Suite("Image cache over HTTP")
struct ImageCacheServerTests {
    @Test("a cache directory that overlaps a file store's is refused at start, and nothing is removed")
    func overlapRefused() throws {
        let dir = TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for cacheDir in [dir + "/images", dir + "/images/cache", dir] {
            var config = ServerConfig()
            config.dataDir = dir
            config.metadataBackend = .memory
            config.imageCacheDir = cacheDir
            try FileManager.default.createDirectory(atPath: dir + "/images/ab", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: dir + "/images/ab/image-data", contents: Data([1, 2, 3]))
            #expect(throws: ServerConfig.ConfigError.self, "\(cacheDir)") {
                _ = try Components(config, logger: TestServer.logger, exclusive: true)
            }
            #expect(FileManager.default.fileExists(atPath: dir + "/images/ab/image-data"))
        }
    }

    static func withCachingServer(_ body: @Sendable (TestServer, String) async throws -> Void) async throws {
        try await TestServer.with({ config in
            config.enabledBackends = [("remote", "memory")]
            config.imageCacheDir = config.dataDir + "/image-cache"
        }) { s in
            try await body(s, s.dataDir + "/image-cache")
        }
    }

    /// An active image with `bytes` as its data; its id.
    static func image(
        _ s: TestServer, _ token: String, _ bytes: [UInt8],
        _ body: JSONValue = ["disk_format": "raw", "container_format": "bare"]
    ) async throws -> String {
        let id = try await s.createImageId(token, body)
        let r = try await s.upload(id, token: token, bytes)
        guard r.status == 204 else { throw TestFailure("upload: \(r.status) \(r.text)") }
        return id
    }

    /// Waits (a few seconds at most) until the cache holds the image: a fill commits once the
    /// store's stream has ended, which may be just after the client has the last byte.
    static func cached(_ cache: ImageCache, _ id: String) async throws -> Bool {
        for _ in 0..<200 where !(await cache.isCached(id)) { try await Task.sleep(for: .milliseconds(20)) }
        return await cache.isCached(id)
    }

    /// The files in a directory, without `.` and `..`.
    static func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// The image data files under the cache directory (not its index or lock), at any depth.
    static func dataFiles(_ dir: String) -> [String] {
        let all = (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String]) ?? []
        return all.filter { path in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: dir + "/" + path, isDirectory: &isDirectory)
            return !isDirectory.boolValue && !["cache-index", "cache-index.tmp", "serve.lock"].contains(path)
        }
    }

    @Test("a download fills the cache; later ones are sent from the cached file, with ranges and Content-MD5")
    func hitsFromTheCache() async throws {
        try await Self.withCachingServer { s, dir in
            let t = try await s.adminToken()
            let bytes = testBytes(3 << 20)
            let md5 = Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            let id = try await Self.image(s, t, bytes)
            let first = try await s.request(.GET, "/v2/images/\(id)/file", token: t)
            #expect(first.status == 200 && first.body == bytes && first.header("Content-MD5") == md5)
            let cache = try #require(s.components.images.cache)
            #expect(try await Self.cached(cache, id))
            #expect(Self.dataFiles(dir).count == 1)

            // The store loses the data: whatever is served now comes from the cache.
            let image = try #require(try await s.components.metadata.image(id: id))
            for copy in image.locations {
                try await s.components.blobs.store(for: copy).delete(location: copy.location)
            }
            let hit = try await s.request(.GET, "/v2/images/\(id)/file", token: t)
            #expect(hit.status == 200 && hit.body == bytes && hit.header("Content-MD5") == md5)
            let range = try await s.request(
                .GET, "/v2/images/\(id)/file", token: t, headers: [("Range", "bytes=1000-1999")])
            #expect(range.status == 206 && range.body == Array(bytes[1000...1999]))
            #expect(range.header("Content-Range") == "bytes 1000-1999/\(bytes.count)")
            #expect(await cache.state().cached.first?.hits == 2)
            #expect(Self.files(dir + "/.tmp").isEmpty)

            // Deleting the image removes its cached data.
            #expect(try await s.request(.DELETE, "/v2/images/\(id)", token: t).status == 204)
            #expect(await cache.state().cached.isEmpty)
            #expect(Self.dataFiles(dir).isEmpty)
        }
    }

    @Test("a client that leaves in the middle of a download leaves no cache entry and no data")
    func clientLeaves() async throws {
        try await Self.withCachingServer { s, dir in
            let t = try await s.adminToken()
            let id = try await Self.image(s, t, testBytes(24 << 20))
            let fd = try RawHTTP.connect(port: s.port)
            try RawHTTP.send(
                fd, Array("GET /v2/images/\(id)/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(t)\r\n\r\n".utf8))
            #expect(try RawHTTP.readResponseHead(fd).hasPrefix("HTTP/1.1 200"))
            #expect(Self.files(dir + "/.tmp").count == 1)
            close(fd)
            for _ in 0..<300 where !Self.files(dir + "/.tmp").isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            #expect(Self.files(dir + "/.tmp").isEmpty)
            let cache = try #require(s.components.images.cache)
            #expect(await cache.state().cached.isEmpty)
            try await Task.sleep(for: .milliseconds(100))
            // A whole download afterwards caches the image.
            #expect(try await s.request(.GET, "/v2/images/\(id)/file", token: t).body.count == 24 << 20)
            #expect(try await Self.cached(cache, id))
        }
    }

    @Test("the cache API: admins list, queue (the prefetcher caches), remove and clear; Glance's errors")
    func cacheAPI() async throws {
        try await Self.withCachingServer { s, _ in
            let t = try await s.adminToken()
            let member = try await s.makeUser("cache-member", project: "cache-project", admin: t).token
            #expect(try await s.request(.GET, "/v2/cache", token: member).status == 403)
            let empty = try await s.request(.GET, "/v2/cache", token: t)
            #expect(empty.status == 200)
            #expect(try empty.json == ["cached_images": [], "queued_images": []])
            #expect(try await s.request(.PUT, "/v2/cache/non-existing-image-id", token: t).status == 404)
            let queued = try await s.createImageId(t)
            let notActive = try await s.request(.PUT, "/v2/cache/\(queued)", token: t)
            #expect(notActive.status == 400 && notActive.text.contains("Only images with status active"))

            let id = try await Self.image(
                s, t, testBytes(100_000), ["disk_format": "raw", "container_format": "bare", "visibility": "public"])
            // The image first (404 when the caller cannot see it), then the policy.
            #expect(try await s.request(.PUT, "/v2.14/cache/\(id)", token: member).status == 403)
            #expect(try await s.request(.PUT, "/v2/cache/\(queued)", token: member).status == 404)
            #expect(try await s.request(.PUT, "/v2/cache/\(id)", token: t).status == 202)
            var listed: JSONValue = .null
            for _ in 0..<100 {
                listed = try await s.request(.GET, "/v2/cache", token: t).json
                if listed["cached_images"]?.arrayValue?.isEmpty == false { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let entry = try #require(listed["cached_images"]?.arrayValue?.first)
            #expect(entry["image_id"]?.stringValue == id && entry["size"]?.intValue == 100_000)
            #expect(entry["hits"]?.intValue == 0 && (entry["last_modified"]?.doubleValue ?? 0) > 1_700_000_000)

            let invalid = try await s.request(
                .DELETE, "/v2/cache", token: t, headers: [("x-image-cache-clear-target", "invalid")])
            #expect(invalid.status == 400 && invalid.text.contains("x-image-cache-clear-target"))
            #expect(try await s.request(.DELETE, "/v2/cache", token: member).status == 403)
            #expect(try await s.request(.DELETE, "/v2/cache", token: t).status == 204)
            #expect(
                try await s.request(.GET, "/v2/cache", token: t).json == ["cached_images": [], "queued_images": []])
            let unknown = "00000000-0000-0000-0000-000000000000"
            #expect(try await s.request(.DELETE, "/v2/cache/\(unknown)", token: t).status == 404)
            #expect(try await s.request(.DELETE, "/v2/cache/\(id)", token: t).status == 204)

            // A node with a cache offers the cache API's versions: 2.16 is current.
            let versions = try await s.request(.GET, "/versions").json["versions"]?.arrayValue ?? []
            #expect(versions.first?["id"] == "v2.16" && versions.first?["status"] == "CURRENT")
            #expect(versions.contains { $0["id"] == "v2.14" })
        }
    }

    @Test("without a cache the cache API answers 404 and its versions are not offered")
    func noCache() async throws {
        try await TestApp.with { s in
            let t = try await s.adminToken()
            let r = try await s.request(.GET, "/v2/cache", token: t)
            #expect(r.status == 404 && r.text.contains("Caching via API is not supported at this site."))
            let versions = try await s.request(.GET, "/versions").json["versions"]?.arrayValue ?? []
            #expect(versions.first?["id"] == "v2.15" && !versions.contains { $0["id"] == "v2.14" })
            #expect(try await s.request(.GET, "/v2.14/images", token: t).status == 300)
        }
    }
}
