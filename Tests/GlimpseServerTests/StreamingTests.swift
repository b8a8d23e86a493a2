import Crypto
import GlimpseCore
import GlimpseTestSupport
import NIOHTTP1
import NIOPosix
import OpenStackEncoding
import OpenStackJSON
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What needs a real socket: request and response bodies streamed in pieces, uploads held
/// half-sent, `Expect: 100-continue`.
@Suite("Live server: streaming and 100-continue")
struct StreamingTests {
    @Test("upload and download: hashes, Content-MD5, ranges, chunked, zero bytes")
    func data() async throws {
        try await TestServer.with { s in
            let token = try await s.adminToken()
            let bytes = testBytes(3 * 1024 * 1024 + 17)
            let id = try await s.createImage(token)["id"]?.stringValue ?? ""
            let empty = try await s.request(.GET, "/v2/images/\(id)/file", token: token)
            #expect(empty.status == 204 && empty.body.isEmpty)
            let up = try await s.upload(id, token: token, bytes)
            #expect(up.status == 204)
            let image = try await s.request(.GET, "/v2/images/" + id, token: token).json
            let md5 = Hex.encode(Insecure.MD5.hash(data: bytes))
            let sha = Hex.encode(SHA512.hash(data: bytes))
            #expect(image["status"] == "active")
            #expect(image["size"]?.intValue == bytes.count && image["virtual_size"]?.intValue == bytes.count)
            #expect(image["checksum"]?.stringValue == md5)
            #expect(image["os_hash_algo"] == "sha512" && image["os_hash_value"]?.stringValue == sha)
            #expect(image["stores"] == "local")

            let full = try await s.request(.GET, "/v2/images/\(id)/file", token: token)
            #expect(full.status == 200 && full.body == bytes)
            #expect(full.header("Content-MD5") == md5 && full.header("Content-Type") == "application/octet-stream")
            let part = try await s.request(
                .GET, "/v2/images/\(id)/file", token: token, headers: [("Range", "bytes=0-99")])
            #expect(part.status == 206 && part.body == Array(bytes[0..<100]))
            #expect(part.header("Content-Range") == "bytes 0-99/\(bytes.count)")
            let suffix = try await s.request(
                .GET, "/v2/images/\(id)/file", token: token, headers: [("Range", "bytes=-10")])
            #expect(suffix.status == 206 && suffix.body == Array(bytes.suffix(10)))
            let open = try await s.request(
                .GET, "/v2/images/\(id)/file", token: token, headers: [("Range", "bytes=\(bytes.count - 5)-")])
            #expect(open.body == Array(bytes.suffix(5)))
            let legacy = try await s.request(
                .GET, "/v2/images/\(id)/file", token: token, headers: [("Content-Range", "bytes 10-19/*")])
            #expect(legacy.status == 206 && legacy.body == Array(bytes[10..<20]))
            let bad = try await s.request(
                .GET, "/v2/images/\(id)/file", token: token, headers: [("Range", "bytes=\(bytes.count)-")])
            #expect(bad.status == 416)
            let multi = try await s.request(
                .GET, "/v2/images/\(id)/file", token: token, headers: [("Range", "bytes=0-1,5-6")])
            #expect(multi.status == 400)

            let chunkedId = try await s.createImage(token)["id"]?.stringValue ?? ""
            let chunked = try await s.upload(chunkedId, token: token, Array(bytes.prefix(100_000)), chunked: true)
            #expect(chunked.status == 204)
            let back = try await s.request(.GET, "/v2/images/\(chunkedId)/file", token: token)
            #expect(back.body == Array(bytes.prefix(100_000)))

            let zeroId = try await s.createImage(token)["id"]?.stringValue ?? ""
            let zero = try await s.upload(zeroId, token: token, [])
            #expect(zero.status == 204)
            let zeroImage = try await s.request(.GET, "/v2/images/" + zeroId, token: token).json
            #expect(zeroImage["status"] == "active" && zeroImage["size"] == 0)
            #expect(zeroImage["checksum"] == "d41d8cd98f00b204e9800998ecf8427e")
        }
    }

    @Test("a failed upload leaves the image queued with no data; a retry works")
    func failedUpload() async throws {
        try await TestServer.with({ $0.image.imageSizeCap = 1000 }) { s in
            let token = try await s.adminToken()
            let id = try await s.createImage(token)["id"]?.stringValue ?? ""
            let big = try await s.upload(id, token: token, testBytes(5000), chunked: true)
            #expect(big.status == 413)
            let image = try await s.request(.GET, "/v2/images/" + id, token: token).json
            #expect(image["status"] == "queued" && image["size"] == .null && image["checksum"] == .null)
            let ok = try await s.upload(id, token: token, testBytes(900))
            #expect(ok.status == 204)
            let declared = try await s.createImage(token)["id"]?.stringValue ?? ""
            let tooBig = try await s.request(
                .PUT, "/v2/images/\(declared)/file", token: token,
                headers: [("Content-Type", "application/octet-stream"), ("x-openstack-image-size", "5000")],
                body: testBytes(5000))
            #expect(tooBig.status == 413)
        }
    }

    @Test("status mapping and progress of an upload in flight")
    func progress() async throws {
        try await TestServer.with { s in
            let t = try await s.adminToken()
            let id = try await s.createImage(t)["id"]?.stringValue ?? ""
            var image = try await s.request(.GET, "/compute/v2.1/images/\(id)", token: t).json["image"]
            #expect(image?["status"] == "SAVING" && image?["progress"] == 0)
            // Send 40% of a 1 MB body and hold the rest back.
            let body = testBytes(1_000_000)
            let head =
                "PUT /v2/images/\(id)/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \(t)\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\n\r\n"
            let port = s.port
            let fd = try await RawHTTP.offload { try RawHTTP.connect(port: port) }
            defer { close(fd) }
            try await RawHTTP.offload { try RawHTTP.send(fd, Array(head.utf8) + Array(body.prefix(400_000))) }
            var percent: Int?
            for _ in 0..<100 {
                image = try await s.request(.GET, "/compute/v2.1/images/\(id)", token: t).json["image"]
                percent = image?["progress"]?.intValue
                if image?["status"] == "SAVING", percent == 40 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(percent == 40)
            let reply = try await RawHTTP.offload {
                try RawHTTP.send(fd, Array(body.dropFirst(400_000)))
                return try RawHTTP.readResponseHead(fd)
            }
            #expect(reply.hasPrefix("HTTP/1.1 204"))
            image = try await s.request(.GET, "/compute/v2.1/images/\(id)", token: t).json["image"]
            #expect(image?["status"] == "ACTIVE" && image?["progress"] == 100)
            _ = try await s.request(.POST, "/v2/images/\(id)/actions/deactivate", token: t)
            image = try await s.request(.GET, "/compute/v2.1/images/\(id)", token: t).json["image"]
            #expect(image?["status"] == "UNKNOWN")
        }
    }

    @Test("Expect: 100-continue is answered after the checks, and a refusal comes before the body")
    func expectContinue() async throws {
        try await TestServer.with { s in
            let t = try await s.adminToken()
            let id = try await s.createImage(t)["id"]?.stringValue ?? ""
            let body = testBytes(2 << 20)
            let head =
                "PUT /v2/images/\(id)/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: \(t)\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\nExpect: 100-continue\r\n\r\n"
            let exchange = try await RawHTTP.offload { try RawHTTP.exchange(port: s.port, head: head, body: body) }
            #expect(exchange.interim.hasPrefix("HTTP/1.1 100 Continue"))
            #expect(exchange.final.hasPrefix("HTTP/1.1 204"))
            let image = try await s.request(.GET, "/v2/images/\(id)", token: t).json
            #expect(image["size"]?.intValue == body.count)

            // Uploading again is refused at once: no 100, the body is never sent.
            let refused = try await RawHTTP.offload { try RawHTTP.exchange(port: s.port, head: head, body: body) }
            #expect(refused.interim.isEmpty)
            #expect(refused.final.hasPrefix("HTTP/1.1 409"))
        }
    }
}
