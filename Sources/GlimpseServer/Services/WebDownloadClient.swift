import AsyncHTTPClient
import GlimpseCore
import GlimpseObjectStores
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `web-download` over HTTP and HTTPS. Every URI, the first and each redirect's, passes the
/// import filters before it is fetched, and the connection goes to an address the filters
/// checked (the client is pinned to it), not to what another lookup of the name might give.
/// Redirects are followed here, not by the HTTP client, for that reason.
struct WebDownloadClient: WebDownloader {
    let filter: WebImportFilter
    let logger: Logger
    /// As many as Python's `urllib` follows.
    static let maxRedirects = 10
    static let redirectStatuses: Set<UInt> = [301, 302, 303, 307, 308]

    func permits(_ uri: String) async -> Bool {
        await filter.check(uri, resolve: Self.resolve) != nil
    }

    func open(_ uri: String, token: String?) async throws -> WebDownload {
        let (response, client) = try await fetch(uri, method: .GET, token: token)
        let body = ObjectHTTP.stream(response) { Task { try? await client.shutdown() } }
        return WebDownload(length: Self.length(response), body: body)
    }

    func size(_ uri: String) async throws -> Int? {
        let (response, client) = try await fetch(uri, method: .HEAD)
        try await client.shutdown()
        return Self.length(response)
    }

    /// The announced length; Glance reads a length of 0 as none given.
    static func length(_ response: HTTPClientResponse) -> Int? {
        response.headers.first(name: "content-length").flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
    }

    /// Sends `method` to `uri`, following redirects, each checked by the filters: the final
    /// successful answer and the client that holds its connection (for the caller to shut down).
    /// A token goes to `uri`'s origin only.
    func fetch(
        _ uri: String, method: HTTPMethod, token: String? = nil
    ) async throws -> (HTTPClientResponse, HTTPClient) {
        var next = uri
        let origin = WebURI(uri).map(Self.origin)
        for hop in 0...Self.maxRedirects {
            guard let target = await filter.check(next, resolve: Self.resolve) else {
                throw WebDownloadError(
                    hop == 0
                        ? "URI for web-download does not pass filtering: \(next)"
                        : "Redirect to disallowed URL: \(next)")
            }
            let client = Self.client(for: target)
            do {
                var request = HTTPClientRequest(url: target.uri.description)
                request.method = method
                request.headers.add(name: "User-Agent", value: "glimpse-web-download")
                // A token goes to the origin it was given for, not where a redirect leads.
                if let token, Self.origin(target.uri) == origin {
                    request.headers.add(name: "X-Auth-Token", value: token)
                }
                let response = try await client.execute(request, deadline: .distantFuture, logger: logger)
                let status = response.status.code
                if Self.redirectStatuses.contains(status) {
                    let location = response.headers.first(name: "location")
                    try await client.shutdown()
                    guard let location, let resolved = target.uri.resolving(location) else {
                        throw WebDownloadError("\(target.uri) answered \(status) without a usable Location")
                    }
                    logger.debug(
                        "web-download redirected", metadata: ["from": "\(target.uri)", "to": "\(resolved)"])
                    next = resolved.description
                    continue
                }
                guard (200..<300).contains(status) else {
                    try await client.shutdown()
                    throw WebDownloadError("\(target.uri) answered \(status)")
                }
                return (response, client)
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
        throw WebDownloadError("more than \(Self.maxRedirects) redirects from \(uri)")
    }

    /// Scheme, host and port: where a token may go.
    static func origin(_ uri: WebURI) -> String {
        "\(uri.scheme)://\(uri.host):\(uri.port ?? (uri.scheme == "https" ? 443 : 80))"
    }

    /// A client for one request to `target`: connecting to its first checked address,
    /// following no redirect, passing the bytes as they come (no decompression).
    static func client(for target: WebImportFilter.Target) -> HTTPClient {
        var config = HTTPClient.Configuration(redirectConfiguration: .disallow)
        config.timeout = .init(connect: .seconds(10), read: .seconds(60))
        config.decompression = .disabled
        if !target.uri.hostIsAddress, let address = target.addresses.first {
            config.dnsOverride = [target.uri.host: address]
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Every address `host` has (`getaddrinfo`, on a thread of its own), in the order given.
    static func resolve(_ host: String) async throws -> [String] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #else
            hints.ai_socktype = SOCK_STREAM
            #endif
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else {
                throw WebDownloadError("\(host) does not resolve")
            }
            defer { freeaddrinfo(first) }
            var addresses: [String] = []
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let e = entry {
                if let text = e.pointee.ai_addr.flatMap(Self.text), !addresses.contains(text) { addresses.append(text) }
                entry = e.pointee.ai_next
            }
            return addresses
        }
    }

    /// The address of a socket address, as text.
    static func text(_ address: UnsafeMutablePointer<sockaddr>) -> String? {
        var out = [CChar](repeating: 0, count: 64)
        let family = Int32(address.pointee.sa_family)
        let written: UnsafePointer<CChar>? =
            switch family {
            case AF_INET:
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    inet_ntop(AF_INET, &v4.pointee.sin_addr, &out, 64)
                }
            case AF_INET6:
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    inet_ntop(AF_INET6, &v6.pointee.sin6_addr, &out, 64)
                }
            default: nil
            }
        guard written != nil else { return nil }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
