import GlimpseCore
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import OpenStackEncoding
import Synchronization

/// `/v2/images/{id}/file` (upload and download) and `/v2/images/{id}/stage`.
extension ImageRoutes {
    @Sendable func upload(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await receive(request, context, stage: false)
    }

    @Sendable func stage(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await receive(request, context, stage: true)
    }

    func receive(_ request: Request, _ context: GlimpseRequestContext, stage: Bool) async throws -> Response {
        let p = try context.principal()
        let id = try Self.imageId(context)
        let contentType = request.headers[.contentType] ?? ""
        if contentType.split(separator: ";").first?.trimming(" ").lowercased() != "application/octet-stream" {
            throw ServiceError(
                .unsupportedMediaType(contentType: contentType), detail: "Invalid content type \(contentType)")
        }
        var declared: Int?
        if let sizeHeader = request.headers[.imageSize] {
            guard let n = Int(sizeHeader), n >= 0 else {
                throw ServiceError.badRequest("Invalid value for x-openstack-image-size: \(sizeHeader)")
            }
            declared = n
        }
        let contentLength = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, let contentLength, declared != contentLength {
            throw ServiceError.badRequest(
                "The x-openstack-image-size header (\(declared)) does not match the Content-Length (\(contentLength)).")
        }
        let willRead = { await request.sendContinueIfExpected(context) }
        if stage {
            try await images.stage(
                id, body: request.body, declaredSize: declared ?? contentLength, by: p, willRead: willRead)
        } else {
            try await images.upload(
                id, body: request.body, declaredSize: declared ?? contentLength,
                into: request.headers[.imageMetaStore], by: p, willRead: willRead)
        }
        return .glanceEmpty()
    }

    /// Sends the data of the image's best copy: a local file by `sendfile` where the
    /// connection allows (`FileSender`), otherwise streamed in chunks.
    @Sendable func download(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try request.requireNoBody()
        let id = try Self.imageId(context)
        guard let source = try await images.data(id, by: try context.principal()) else {
            return Response(status: .noContent)
        }
        let size = source.size
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        if let md5 = source.image.checksum { headers[.contentMD5] = md5 }
        var status = HTTPResponse.Status.ok
        var range: ClosedRange<Int>?
        if let spec = request.headers[.range] ?? request.headers[.contentRange] {
            range = try ByteRange.resolve(spec, size: size, isContentRange: request.headers[.range] == nil)
            if let range {
                status = .partialContent
                headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
            }
        }
        let length = range.map { $0.count } ?? size
        headers[.contentLength] = String(length)
        if length == 0 {
            return Response(status: status, headers: headers)
        }
        let logger = context.logger
        if let file = await source.openFile(), let transfer = await FileSender.transfer(on: context.channel, file: file)
        {
            headers[.sendFile] = transfer.mark
            let bytes = (range?.lowerBound ?? 0)..<(range.map { $0.upperBound + 1 } ?? size)
            let counter = context.bytesSent
            return Response(
                status: status, headers: headers,
                body: ResponseBody(contentLength: length) { writer in
                    do {
                        try await transfer.send(bytes)
                    } catch {
                        logger.warning("download interrupted", metadata: ["image_id": "\(id)", "error": "\(error)"])
                        throw error
                    }
                    counter?.increment(by: length)
                    try await writer.finish(nil)
                })
        }
        let unsent = UnsentStream(try await source.open(range: range))
        return Response(
            status: status, headers: headers,
            body: ResponseBody(contentLength: length) { writer in
                let stream = unsent.take()
                var sent = 0
                do {
                    // Never more or fewer bytes than announced, whatever the store (an http
                    // location's server) gives: a wrong length ends the connection instead.
                    for try await chunk in stream {
                        sent += chunk.readableBytes
                        guard sent <= length else { throw DataLengthMismatch(expected: length, sent: sent) }
                        try await writer.write(chunk)
                    }
                    guard sent == length else { throw DataLengthMismatch(expected: length, sent: sent) }
                    try await writer.finish(nil)
                } catch {
                    stream.cancel()
                    logger.warning(
                        "download interrupted", metadata: ["image_id": "\(id)", "sent": "\(sent)", "error": "\(error)"])
                    throw error
                }
            })
    }
}

/// The store gave more or fewer bytes than the response announced.
struct DataLengthMismatch: Error, CustomStringConvertible {
    let expected: Int
    let sent: Int
    var description: String { "the store gave \(sent)+ bytes where \(expected) were announced" }
}

/// `Range: bytes=…` (and Glance's legacy `Content-Range: bytes a-b/*` request header).
enum ByteRange {
    static func resolve(_ spec: String, size: Int, isContentRange: Bool) throws(ServiceError) -> ClosedRange<Int>? {
        var s = spec.trimming(" ")
        guard s.lowercased().hasPrefix("bytes") else { return nil }
        s = String(s.dropFirst(5)).trimming(" =")
        if isContentRange, let slash = s.firstIndex(of: "/") { s = String(s[..<slash]) }
        if s.contains(",") {
            throw .badRequest(
                "Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead."
            )
        }
        let parts = s.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimming(" ") }
        let unsatisfiable = ServiceError(
            .rangeNotSatisfiable,
            detail:
                "Invalid start position in Range header. Start position MUST be in the inclusive range [0, \(max(0, size - 1))]."
        )
        guard parts.count == 2 else { throw unsatisfiable }
        if parts[0].isEmpty {
            guard let n = Int(parts[1]), n > 0 else { throw unsatisfiable }
            if size == 0 { throw unsatisfiable }
            return max(0, size - n)...(size - 1)
        }
        guard let start = Int(parts[0]), start >= 0, start < size else { throw unsatisfiable }
        if parts[1].isEmpty { return start...(size - 1) }
        guard let end = Int(parts[1]), end >= start else { throw unsatisfiable }
        return start...min(end, size - 1)
    }
}

/// A stream handed to a response body, cancelled if the body never runs (the client left
/// before the response head was written): its store read, and a cache fill it feeds, end.
final class UnsentStream: Sendable {
    private let stream: ByteStream
    private let taken = Atomic<Bool>(false)

    init(_ stream: ByteStream) { self.stream = stream }

    /// The stream, now the body's to finish or cancel.
    func take() -> ByteStream {
        taken.store(true, ordering: .relaxed)
        return stream
    }

    deinit {
        if !taken.load(ordering: .relaxed) { stream.cancel() }
    }
}
