import GlimpseTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What holds a connection open: a client that stops mid-request or sits on a keep-alive
/// connection is disconnected after `client_idle_timeout`.
@Suite("Live server: idle connections")
struct ConnectionTests {
    /// Reads until the server closes the connection (true), or the socket's 10 s receive
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
}
