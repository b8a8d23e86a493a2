/// Everything that can go wrong when talking to a cloud. HTTP failures carry the status,
/// the server's message and its `x-openstack-request-id`, so a failure can be traced in the
/// cloud's logs.
public struct OpenStackError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        // HTTP answers
        case badRequest, unauthorized, forbidden, notFound, conflict, gone, payloadTooLarge
        case unsupportedMediaType, rangeNotSatisfiable, tooManyRequests, serverError, unexpectedStatus
        // Client-side failures
        /// No endpoint in the catalog matches the service, region and interface.
        case endpointNotFound
        /// Downloaded or uploaded data does not match the image's recorded digests.
        case checksumMismatch
        /// An upload from a one-shot stream failed part way; it cannot be retried automatically.
        case uploadInterrupted
        /// A wait for an image status ran out of time.
        case timedOut
        /// A waited-for image reached a failure status.
        case failedStatus
        /// The server's answer could not be understood.
        case invalidResponse
        /// Missing or contradictory settings (auth URL, credentials, clouds.yaml).
        case configuration
        /// The connection failed.
        case transport
    }

    public let kind: Kind
    /// HTTP status, for HTTP failures.
    public let status: Int?
    /// The server's explanation, or ours.
    public let message: String
    /// `x-openstack-request-id` of the failed call.
    public let requestID: String?
    public let method: String?
    public let url: String?
    /// The server's `Retry-After`, on 429 and 503.
    let retryAfter: String?
    /// The connection failed before an answer (worth another try).
    let connectionFailed: Bool

    public init(
        _ kind: Kind, _ message: String, status: Int? = nil, requestID: String? = nil, method: String? = nil,
        url: String? = nil
    ) {
        self.init(kind, message, status: status, requestID: requestID, method: method, url: url, retryAfter: nil)
    }

    init(
        _ kind: Kind, _ message: String, status: Int? = nil, requestID: String? = nil, method: String? = nil,
        url: String? = nil,
        retryAfter: String?, connectionFailed: Bool = false
    ) {
        self.kind = kind
        self.message = message
        self.status = status
        self.requestID = requestID
        self.method = method
        self.url = url
        self.retryAfter = retryAfter
        self.connectionFailed = connectionFailed
    }

    /// The kind for an HTTP status.
    public static func kind(forStatus status: Int) -> Kind {
        switch status {
        case 400: .badRequest
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 409: .conflict
        case 410: .gone
        case 413: .payloadTooLarge
        case 415: .unsupportedMediaType
        case 416: .rangeNotSatisfiable
        case 429: .tooManyRequests
        case 500...599: .serverError
        default: .unexpectedStatus
        }
    }

    public var description: String {
        var s = ""
        if let status { s += "HTTP \(status)" }
        if let method, let url { s += (s.isEmpty ? "" : " ") + "on \(method) \(url)" }
        s += (s.isEmpty ? "" : ": ") + message
        if let requestID { s += " (request id \(requestID))" }
        return s
    }
}
