/// Where `web-download` imports get their data: a URI fetched over the network, behind the
/// import filters (`WebImportFilter`).
public protocol WebDownloader: Sendable {
    /// Whether `uri` passes the import filters: checked before the import is accepted.
    func permits(_ uri: String) async -> Bool

    /// Fetches `uri`, following redirects (each checked by the filters again), and returns
    /// the final answer's body, to be read once. Throws `WebDownloadError` when the URI, a
    /// redirect or the answer is refused.
    ///
    /// - Parameter token: sent as `X-Auth-Token` to `uri`'s origin (scheme, host and port),
    ///   never to another one a redirect leads to.
    func open(_ uri: String, token: String?) async throws -> WebDownload

    /// The length of the data at `uri` as a `HEAD` request (redirects followed and checked
    /// as `open`'s) tells it; nil when the server does not say.
    func size(_ uri: String) async throws -> Int?
}

extension WebDownloader {
    /// Fetches `uri` without a token.
    public func open(_ uri: String) async throws -> WebDownload { try await open(uri, token: nil) }
}

/// The body of a fetched URI.
public struct WebDownload: Sendable {
    /// The length the server announced (`Content-Length`), if it did.
    public let length: Int?
    public let body: ByteStream

    public init(length: Int?, body: ByteStream) {
        self.length = length
        self.body = body
    }
}

/// Why a fetch gave no data.
public struct WebDownloadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
