import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a client connection may hold and for how long: the server's defence against
/// clients that open connections and then send slowly or not at all.
public struct ConnectionPolicy: Sendable {
    /// Connections open at once; one more is answered 503 and closed.
    public var maxConnections: Int
    /// How long a connection may wait for a complete request head: after it opens, and
    /// between requests (keep-alive).
    public var idleTimeout: TimeAmount
    /// How long the server waits for the next bytes of a request body it asked for. Time the
    /// server itself does not read (a slow store holding the upload back) does not count.
    public var bodyTimeout: TimeAmount
    /// How long a client may take none of a response the server is sending.
    public var sendTimeout: TimeAmount
    /// Largest header line, all header lines together, and the number of header lines.
    public var maxHeaderFieldSize = 16 * 1024
    public var maxHeaderListSize = 64 * 1024
    public var maxHeaderCount = 100

    public init(maxConnections: Int, idleTimeout: TimeAmount, bodyTimeout: TimeAmount, sendTimeout: TimeAmount) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.sendTimeout = sendTimeout
    }

    /// The default cap: half the file descriptors the process may open (an upload holds its
    /// socket and a data file) less a reserve for the database and stores, at most 4,096.
    /// Raises the soft descriptor limit to the hard one first, as servers commonly do.
    public static func defaultMaxConnections() -> Int {
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else { return 512 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resourceNoFile, &raised) == 0 { limit = raised }
        }
        let descriptors = Int(clamping: limit.rlim_cur)  // "unlimited" is the largest value
        return max(16, min(4096, (descriptors - 128) / 2))
    }
}

#if canImport(Glibc)
private let resourceNoFile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#else
private let resourceNoFile = RLIMIT_NOFILE
#endif
