import GlimpseTestSupport
import OpenStack
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a client connection may hold: one that stops mid-request or sits on a keep-alive
/// connection is disconnected, connections past the cap are refused with a 503, oversized
/// heads are refused; and the same server over TLS.
@Suite("Live server: connections")
struct ConnectionTests {
    /// Reads until the server closes the connection (true), or the socket's 30 s receive
    /// timeout passes (false).
    static func closedByServer(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 { return false }
        }
    }

    @Test("a half-sent request and an idle keep-alive connection are closed after client_idle_timeout")
    func idleClients() async throws {
        try await TestServer.with({ $0.clientIdleTimeout = 1 }) { s in
            try await RawHTTP.offload {
                let half = try RawHTTP.connect(port: s.port)
                defer { close(half) }
                try RawHTTP.send(half, Array("GET / HTTP/1.1\r\nHost: glimpse\r\nX-Slow: ".utf8))
                let idle = try RawHTTP.connect(port: s.port)
                defer { close(idle) }
                try RawHTTP.send(idle, Array("GET /healthcheck HTTP/1.1\r\nHost: glimpse\r\n\r\n".utf8))
                #expect(try RawHTTP.readResponseHead(idle).hasPrefix("HTTP/1.1 200"))
                #expect(Self.closedByServer(half))
                #expect(Self.closedByServer(idle))
            }
        }
    }

    @Test("a client that stops sending a body it announced is disconnected after client_body_timeout")
    func bodyGap() async throws {
        try await TestServer.with({ $0.clientBodyTimeout = 1 }) { s in
            let token = try await s.adminToken()
            let id = try await s.createImageId(token)
            try await RawHTTP.offload {
                let fd = try RawHTTP.connect(port: s.port)
                defer { close(fd) }
                let head =
                    "PUT /v2/images/\(id)/file HTTP/1.1\r\nHost: glimpse\r\nX-Auth-Token: \(token)\r\n"
                    + "Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
                try RawHTTP.send(fd, Array(head.utf8) + [UInt8](repeating: 7, count: 100))
                #expect(Self.closedByServer(fd))
            }
            // The upload is undone (once the server has seen the close), and the image can take one.
            var status: String?
            for _ in 0..<50 {
                status = try await s.request(.GET, "/v2/images/\(id)", token: token).json["status"]?.stringValue
                if status == "queued" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == "queued")
        }
    }

    @Test("a malformed or cut-off upload or stage body is 400; the image stays queued and takes the data again")
    func malformedBodies() async throws {
        try await TestServer.with { s in
            let token = try await s.adminToken()
            let bodies: [(String, String, String)] = [
                ("file", "Transfer-Encoding: chunked", "zz\r\nabc\r\n"),  // a chunk size that is no number
                ("file", "Transfer-Encoding: chunked", "10\r\nabc"),  // cut in the middle of a chunk
                ("file", "Content-Length: 100", "abc"),  // shorter than announced
                ("stage", "Content-Length: 100", "abc"),  // an interrupted stage
            ]
            for (target, framing, body) in bodies {
                let id = try await s.createImageId(token)
                let head = try await RawHTTP.offload {
                    let fd = try RawHTTP.connect(port: s.port)
                    defer { close(fd) }
                    let request =
                        "PUT /v2/images/\(id)/\(target) HTTP/1.1\r\nHost: glimpse\r\nX-Auth-Token: \(token)\r\n"
                        + "Content-Type: application/octet-stream\r\n\(framing)\r\n\r\n\(body)"
                    try RawHTTP.send(fd, Array(request.utf8))
                    shutdown(fd, Int32(SHUT_WR))
                    return try RawHTTP.readResponseHead(fd)
                }
                #expect(head.hasPrefix("HTTP/1.1 400"), "\(framing) \(body.debugDescription): \(head)")
                let image = try await s.request(.GET, "/v2/images/\(id)", token: token)
                #expect(try image.json["status"]?.stringValue == "queued")
                // And it takes the data again.
                let again = try await s.request(
                    .PUT, "/v2/images/\(id)/\(target)", token: token,
                    headers: [("Content-Type", "application/octet-stream")], body: [1, 2, 3])
                #expect(again.status == 204)
            }
        }
    }

    @Test("past max_connections a new connection is answered 503 with Retry-After; a freed place is taken again")
    func connectionCap() async throws {
        try await TestServer.with({ $0.maxConnections = 2 }) { s in
            try await RawHTTP.offload {
                let first = try RawHTTP.connect(port: s.port)
                let second = try RawHTTP.connect(port: s.port)
                defer { close(second) }
                // Both answered, so both hold places (connections are set up on several threads:
                // a later one can be admitted before an earlier one).
                for fd in [first, second] {
                    try RawHTTP.send(fd, Array("GET /healthcheck HTTP/1.1\r\nHost: glimpse\r\n\r\n".utf8))
                    #expect(try RawHTTP.readResponseHead(fd).hasPrefix("HTTP/1.1 200"))
                }
                let third = try RawHTTP.connect(port: s.port)
                defer { close(third) }
                let refusal = try RawHTTP.readResponseHead(third)
                #expect(refusal.hasPrefix("HTTP/1.1 503"))
                #expect(refusal.contains("Retry-After: 1"))
                #expect(Self.closedByServer(third))
                close(first)
                // The server sees the close asynchronously: try for a while.
                var answered = false
                for _ in 0..<50 where !answered {
                    let again = try RawHTTP.connect(port: s.port)
                    try RawHTTP.send(again, Array("GET /healthcheck HTTP/1.1\r\nHost: glimpse\r\n\r\n".utf8))
                    answered = try RawHTTP.readResponseHead(again).hasPrefix("HTTP/1.1 200")
                    close(again)
                    if !answered { usleep(100_000) }
                }
                #expect(answered)
            }
        }
    }

    @Test("a request head with too many or too long header lines is refused with 400")
    func headerLimits() async throws {
        try await TestServer.with { s in
            try await RawHTTP.offload {
                for extra in [
                    (0..<150).map { "X-H\($0): v\r\n" }.joined(),
                    "X-Long: " + String(repeating: "a", count: 20_000) + "\r\n",
                ] {
                    let fd = try RawHTTP.connect(port: s.port)
                    defer { close(fd) }
                    try RawHTTP.send(fd, Array("GET /healthcheck HTTP/1.1\r\nHost: glimpse\r\n\(extra)\r\n".utf8))
                    #expect(try RawHTTP.readResponseHead(fd).hasPrefix("HTTP/1.1 400"))
                }
            }
        }
    }

    @Test("over TLS with a self-signed certificate: the SDK trusts it by OS_CACERT, the catalog says https")
    func tls() async throws {
        let dir = TestServer.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let made = system(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 "
                + "-addext subjectAltName=IP:127.0.0.1 -keyout '\(dir)/key.pem' -out '\(dir)/cert.pem' 2>/dev/null")
        try #require(made == 0, "openssl could not make a certificate")
        try await TestServer.with({
            $0.tlsCertificateFile = dir + "/cert.pem"
            $0.tlsKeyFile = dir + "/key.pem"
        }) { s in
            let environment = [
                "OS_AUTH_URL": "https://127.0.0.1:\(s.port)/identity/v3", "OS_USERNAME": "admin",
                "OS_PASSWORD": adminPassword, "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default",
                "OS_PROJECT_DOMAIN_NAME": "Default", "OS_CACERT": dir + "/cert.pem",
            ]
            let cloud = try OpenStack(environment: environment)
            let images = cloud.imagesV2()
            let created = try await images.createImage(
                ImageCreate(name: "over-tls", diskFormat: "raw", containerFormat: "bare"), data: .bytes(Array(0..<200)))
            #expect(created.status == "active")
            var names: [String] = []
            for try await image in images.listImages() { names.append(image.name ?? "") }
            #expect(names == ["over-tls"])
            var downloaded: [UInt8] = []
            for try await chunk in try await images.downloadData(created.id) {
                downloaded += chunk.readableBytesView
            }
            #expect(downloaded == Array(0..<200))
            // Without the authority the certificate is refused.
            var untrusting = environment
            untrusting["OS_CACERT"] = nil
            await #expect(throws: (any Error).self) {
                try await OpenStack(environment: untrusting).imagesV2().getImage(created.id)
            }
        }
    }
}
