import NIOPosix

#if canImport(Glibc)
import Glibc
private let streamSocket = Int32(SOCK_STREAM.rawValue)
private let sendFlags = Int32(MSG_NOSIGNAL)
private let systemConnect = Glibc.connect
private let systemSend = Glibc.send
#elseif canImport(Darwin)
import Darwin
private let streamSocket = SOCK_STREAM
private let sendFlags: Int32 = 0
private let systemConnect = Darwin.connect
private let systemSend = Darwin.send
#endif

/// A minimal blocking HTTP/1.1 client that can hold a body back (to wait for `100 Continue`,
/// or to keep an upload half-sent). Its calls block, so tests run them on threads of their
/// own, away from the threads the server's tasks and file I/O need.
public enum RawHTTP {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()

    public static func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    public struct Exchange: Sendable {
        public var interim = ""
        public var final = ""
    }

    static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    public static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, streamSocket, 0)
        guard fd >= 0 else { throw TestFailure("socket") }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = loopback(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw TestFailure("connect")
        }
        return fd
    }

    /// Sends a request head, waits for an answer, and sends `body` only after `100 Continue`.
    public static func exchange(port: Int, head: String, body: [UInt8]) throws -> Exchange {
        let fd = try connect(port: port)
        defer { close(fd) }
        try send(fd, Array(head.utf8))
        let first = try readResponseHead(fd)
        var result = Exchange()
        if first.hasPrefix("HTTP/1.1 100") {
            result.interim = first
            try send(fd, body)
            result.final = try readResponseHead(fd)
        } else {
            result.final = first
        }
        return result
    }

    public static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { systemSend(fd, $0.baseAddress, $0.count, sendFlags) }
            guard n > 0 else { throw TestFailure("send") }
            done += n
        }
    }

    /// Reads up to the end of a response head (`\r\n\r\n`).
    public static func readResponseHead(_ fd: Int32) throws -> String {
        var out: [UInt8] = []
        var byte: UInt8 = 0
        while !(out.count >= 4 && out.suffix(4) == [13, 10, 13, 10]) {
            let n = recv(fd, &byte, 1, 0)
            guard n == 1 else { throw TestFailure("recv after \(String(decoding: out, as: UTF8.self))") }
            out.append(byte)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A loopback port nothing listens on right now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, streamSocket, 0)
        defer { close(fd) }
        var addr = loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                bind(fd, p, len) == 0 && getsockname(fd, p, &len) == 0
            }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
