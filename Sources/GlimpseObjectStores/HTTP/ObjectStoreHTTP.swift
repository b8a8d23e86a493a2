import AsyncHTTPClient
import GlimpseCore
import NIOCore
import NIOHTTP1
import OpenStackEncoding
import Synchronization

/// A request an object store refused, or could not be sent to it.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    /// The store's id.
    public let store: String
    /// What was asked, as `METHOD path` (no credentials, no query).
    public let request: String
    /// The HTTP status, if the store answered.
    public let status: Int?
    /// The store's own words (its error code and message), or the transport's.
    public let message: String

    public var description: String {
        let answer = status.map { "\($0) " } ?? ""
        return "store \(store): \(request): \(answer)\(message)"
    }
}

/// HTTP plumbing the object stores share.
public enum ObjectHTTP {
    /// How much of an error body is kept for the message.
    static let errorBodyLimit = 4096

    /// An HTTP client for object stores: idle timeouts rather than deadlines, so that long
    /// transfers are never cut short; no decompression; and a connection per transfer,
    /// however many there are (an upload or a download holds its connection from the first
    /// byte to the last, so AsyncHTTPClient's default of 8 per host would queue the ninth).
    /// Shut it down after the stores.
    public static func makeClient() -> HTTPClient {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(10), read: .seconds(300), write: .seconds(300))
        config.decompression = .disabled
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 4096)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Statuses an engine answers while it is busy or restarting: worth another try.
    static let transientStatuses: Set<UInt> = [500, 502, 503, 504]

    /// Sends a request up to three times while it cannot reach the engine or gets a
    /// transient status, pausing a quarter of a second, then a second. Only for requests
    /// that may be sent twice and whose body can be sent again.
    static func retrying(
        _ attempt: () async throws -> HTTPClientResponse
    ) async throws -> HTTPClientResponse {
        var pause = Duration.milliseconds(250)
        for _ in 1..<3 {
            do {
                let response = try await attempt()
                guard transientStatuses.contains(response.status.code) else { return response }
                _ = await errorText(response)
            } catch let error as ObjectStoreError where error.status == nil {
                // Not sent, or no answer: the engine may be restarting.
            }
            try await Task.sleep(for: pause)
            pause *= 4
        }
        return try await attempt()
    }

    /// Reads a whole (small) response body.
    static func collect(_ response: HTTPClientResponse, limit: Int = 16 << 20) async throws -> ByteBuffer {
        try await response.body.collect(upTo: limit)
    }

    /// Reads at most `errorBodyLimit` bytes of a response body and drops the rest.
    static func errorText(_ response: HTTPClientResponse) async -> String {
        var text = ByteBuffer()
        do {
            for try await chunk in response.body {
                if text.readableBytes < errorBodyLimit {
                    var c = chunk
                    text.writeBuffer(&c)
                }
            }
        } catch {}
        let s = String(buffer: text)
        return String(s.prefix(errorBodyLimit)).trimming(" \n\r\t")
    }

    /// The `Range` header for bytes `range` of an object, if a range is asked for.
    static func rangeHeader(_ range: ClosedRange<Int>?) -> [(String, String)] {
        range.map { [("Range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? []
    }

    /// The data of a GET's answer, streamed; a missing object is the API's 404, a range past
    /// the end its 416, anything else `failure`.
    static func data(
        _ response: HTTPClientResponse, location: String, store: String, failure: () async -> any Error
    ) async throws -> ByteStream {
        switch response.status.code {
        case 200, 206:
            return stream(response)
        case 404:
            _ = await errorText(response)
            throw ServiceError.notFound("no object \(location) in store \(store)")
        case 416:
            _ = await errorText(response)
            throw ServiceError(.rangeNotSatisfiable, explanation: "Requested range not satisfiable")
        default:
            throw await failure()
        }
    }

    /// A response body as a pull-driven `ByteStream`: the next chunk is read from the socket
    /// only when the consumer asks for it. `done` runs once, when the body has ended, failed
    /// or been cancelled.
    public static func stream(_ response: HTTPClientResponse, done: @escaping @Sendable () -> Void = {}) -> ByteStream {
        let reader = ResponseReader(response.body.makeAsyncIterator(), done: done)
        return ByteStream(pull: { try await reader.next() }, onCancel: { reader.finish() })
    }
}

/// The body iterator of one response, pulled by one consumer at a time.
private final class ResponseReader: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private let done: Mutex<(@Sendable () -> Void)?>

    init(_ iterator: HTTPClientResponse.Body.AsyncIterator, done: @escaping @Sendable () -> Void) {
        self.iterator = iterator
        self.done = Mutex(done)
    }

    func next() async throws -> ByteBuffer? {
        do {
            guard let chunk = try await iterator.next() else {
                finish()
                return nil
            }
            return chunk
        } catch {
            finish()
            throw error
        }
    }

    /// Runs `done`, the first time only.
    func finish() {
        let run = done.withLock { d in
            defer { d = nil }
            return d
        }
        run?()
    }
}
