import AsyncHTTPClient
import Crypto
import GlimpseCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import OpenStackEncoding
import Synchronization

/// Image data in an S3 bucket (AWS, Ceph RGW, Swift's s3api), signed with SigV4.
///
/// Each upload is an object `<image id>-<random>`, which is both its pending and its
/// committed location. Data up to one part is one PUT at commit; larger data is a
/// multipart upload whose parts are sent as they fill (a couple at a time), completed at
/// commit and aborted on failure, so no parts are left behind. While a multipart upload is
/// open it is the pending object (S3 lists it among the bucket's uploads); deleting a
/// location removes the object and aborts any upload of that key.
public final class S3BlobStore: BlobStore {
    public let id: String
    public let type = "s3"
    let settings: S3StoreSettings
    let signer: SigV4Signer
    let client: HTTPClient
    /// Where payloads are hashed (CPU-bound work that takes milliseconds a part).
    let hashing: NIOThreadPool?
    let logger: Logger
    private let bucketReady = Mutex(false)

    /// - Parameters:
    ///   - client: the HTTP client to reach the endpoint with.
    ///   - hashing: the threads that hash payloads for signing; the caller's if nil.
    public init(id: String, settings: S3StoreSettings, client: HTTPClient, hashing: NIOThreadPool?, logger: Logger) {
        self.id = id
        self.settings = settings
        self.client = client
        self.hashing = hashing
        self.logger = logger
        signer = SigV4Signer(
            accessKey: settings.accessKey, secretKey: settings.secretKey, region: settings.region, service: "s3")
    }

    public func makeWriter(imageId: String) async throws -> any BlobWriter {
        try await ensureBucket()
        let key = imageId + "-" + Identifiers.randomHex(bytes: 4)
        guard Self.isKey(key) else { throw ServiceError.badRequest("bad image id for an S3 key") }
        return S3ObjectWriter(store: self, key: key)
    }

    public func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        let key = try self.key(location)
        let response = try await send(.GET, key: key, headers: ObjectHTTP.rangeHeader(range))
        return try await ObjectHTTP.data(response, location: location, store: id) {
            await failure(response, "GET \(key)")
        }
    }

    public func delete(location: String) async throws {
        let key = try self.key(location)
        let response = try await send(.DELETE, key: key)
        guard (200..<300).contains(response.status.code) || response.status.code == 404 else {
            throw await failure(response, "DELETE \(key)")
        }
        _ = await ObjectHTTP.errorText(response)
        for upload in try await uploads(prefix: key, after: nil, limit: 1000).uploads where upload.key == key {
            try await abortUpload(key: key, uploadId: upload.id)
        }
    }

    public func freeSpace() async -> Int? { nil }

    /// The bucket answers (it is created if missing and allowed).
    public func checkHealth() async throws {
        let response = try await send(.HEAD, key: nil)
        _ = await ObjectHTTP.errorText(response)
        switch response.status.code {
        case 200..<300: return
        case 404 where settings.createBucket:
            bucketReady.withLock { $0 = false }
            try await ensureBucket()
        default: throw await failure(response, "HEAD bucket \(settings.bucket)")
        }
    }

    /// Committed objects from the bucket listing and pending ones from its multipart
    /// uploads, merged in key order.
    public func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob] {
        try await InventoryPages.collect(after: marker, limit: max(1, limit)) { cursor, n in
            try await inventoryPage(after: cursor, limit: min(n, 1000))
        }
    }

    func inventoryPage(after cursor: String?, limit: Int) async throws -> InventoryPages.MergedPage {
        var query = [("max-keys", String(limit))]
        if let cursor { query.append(("marker", cursor)) }
        let response = try await send(.GET, key: nil, query: query)
        guard response.status.code == 200 else { throw await failure(response, "GET bucket \(settings.bucket)") }
        let xml = String(buffer: try await ObjectHTTP.collect(response))[...]
        let contents = S3XML.elements("Contents", in: xml)
        let committed = contents.compactMap { c -> StoredBlob? in
            guard let key = S3XML.text("Key", in: c), SwiftBlobStore.isOwnObjectName(key) else { return nil }
            let modified = S3XML.text("LastModified", in: c).flatMap { Timestamp(iso8601: $0) }
            return StoredBlob(
                location: key, pending: false, modifiedAt: modified ?? Timestamp(microseconds: 0),
                size: S3XML.text("Size", in: c).flatMap { Int($0) })
        }
        let committedCut =
            S3XML.text("IsTruncated", in: xml) == "true" || contents.count >= limit
            ? contents.last.flatMap { S3XML.text("Key", in: $0) } : nil
        // One more than asked, as some engines (Ceph RGW) list the cursor's own key again.
        var open = try await uploads(prefix: nil, after: cursor, limit: limit + 1)
        if let cursor { open.uploads.removeAll { !Self.before(cursor, $0.key) } }
        let pending = open.uploads.filter { SwiftBlobStore.isOwnObjectName($0.key) }.map {
            StoredBlob(location: $0.key, pending: true, modifiedAt: $0.initiated)
        }
        return InventoryPages.merge(
            committed: committed, committedCut: committedCut, pending: pending,
            pendingCut: open.truncated ? open.uploads.last?.key : nil, limit: limit)
    }

    // MARK: Multipart uploads

    struct Upload {
        let key: String
        let id: String
        let initiated: Timestamp
    }

    /// The open multipart uploads, in key order.
    func uploads(
        prefix: String?, after marker: String?, limit: Int
    ) async throws -> (
        uploads: [Upload], truncated: Bool
    ) {
        var query = [("uploads", ""), ("max-uploads", String(limit))]
        if let prefix { query.append(("prefix", prefix)) }
        if let marker { query.append(("key-marker", marker)) }
        let response = try await send(.GET, key: nil, query: query)
        guard response.status.code == 200 else { throw await failure(response, "GET uploads") }
        let xml = String(buffer: try await ObjectHTTP.collect(response))[...]
        let uploads = S3XML.elements("Upload", in: xml).compactMap { u -> Upload? in
            guard let key = S3XML.text("Key", in: u), let id = S3XML.text("UploadId", in: u) else { return nil }
            let initiated = S3XML.text("Initiated", in: u).flatMap { Timestamp(iso8601: $0) }
            return Upload(key: key, id: id, initiated: initiated ?? Timestamp(microseconds: 0))
        }
        return (uploads, S3XML.text("IsTruncated", in: xml) == "true")
    }

    func abortUpload(key: String, uploadId: String) async throws {
        let response = try await send(.DELETE, key: key, query: [("uploadId", uploadId)])
        guard (200..<300).contains(response.status.code) || response.status.code == 404 else {
            throw await failure(response, "DELETE \(key)?uploadId")
        }
        _ = await ObjectHTTP.errorText(response)
    }

    // MARK: Requests

    /// Sends a signed request for the bucket (`key` nil) or one of its objects; again if the
    /// engine was busy or restarting, unless it is a POST (which opens or completes a
    /// multipart upload).
    func send(
        _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: ByteBuffer? = nil
    ) async throws -> HTTPClientResponse {
        guard method != .POST else {
            return try await sendOnce(method, key: key, query: query, headers: headers, body: body)
        }
        return try await ObjectHTTP.retrying {
            try await sendOnce(method, key: key, query: query, headers: headers, body: body)
        }
    }

    private func sendOnce(
        _ method: HTTPMethod, key: String?, query: [(String, String)], headers: [(String, String)], body: ByteBuffer?
    ) async throws -> HTTPClientResponse {
        let host = settings.pathStyle ? settings.host : "\(settings.bucket).\(settings.host)"
        var path = settings.pathStyle ? "/" + settings.bucket : ""
        if let key { path += "/" + SigV4Signer.uriEncode(key) } else if !settings.pathStyle { path = "/" }
        let payloadHash: String
        if let body, settings.signPayload {
            payloadHash = try await hash(body)
        } else {
            payloadHash = body == nil ? SigV4Signer.emptyPayloadHash : SigV4Signer.unsignedPayload
        }
        var signed = headers
        signed.append(("host", host))
        let signature = signer.sign(
            method: method.rawValue, path: path, query: query, headers: signed, payloadHash: payloadHash,
            amzDate: SigV4Signer.amzDate(Timestamp.now()))
        let scheme = settings.endpoint.hasPrefix("https://") ? "https://" : "http://"
        var url = scheme + host + path
        if !query.isEmpty {
            url +=
                "?" + query.map { SigV4Signer.uriEncode($0) + "=" + SigV4Signer.uriEncode($1) }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers + [("Host", host)] + signature.headers {
            request.headers.add(name: name, value: value)
        }
        if let body { request.body = .bytes(body) }
        do {
            return try await client.execute(request, deadline: .distantFuture, logger: logger)
        } catch {
            try Task.checkCancellation()
            throw ObjectStoreError(
                store: id, request: "\(method) \(key ?? settings.bucket)", status: nil, message: "\(error)")
        }
    }

    /// The payload's SHA-256 in hex, computed on the hashing threads.
    func hash(_ body: ByteBuffer) async throws -> String {
        let work: @Sendable () -> String = {
            body.withUnsafeReadableBytes { Hex.encode(SHA256.hash(data: $0)) }
        }
        guard let hashing else { return work() }
        return try await hashing.runIfActive(work)
    }

    /// Creates the bucket once per process if it is missing (and creating it is allowed).
    func ensureBucket() async throws {
        guard settings.createBucket, !bucketReady.withLock({ $0 }) else { return }
        let head = try await send(.HEAD, key: nil)
        _ = await ObjectHTTP.errorText(head)
        if head.status.code == 404 {
            var body: ByteBuffer?
            if settings.region != "us-east-1" {
                body = ByteBuffer(
                    string: "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                        + "<LocationConstraint>\(Markup.escape(settings.region))</LocationConstraint>"
                        + "</CreateBucketConfiguration>")
            }
            let response = try await send(.PUT, key: nil, body: body)
            // 409: someone else (another node) created it meanwhile.
            guard (200..<300).contains(response.status.code) || response.status.code == 409 else {
                throw await failure(response, "PUT bucket \(settings.bucket)")
            }
            _ = await ObjectHTTP.errorText(response)
        } else if !(200..<300).contains(head.status.code) {
            throw ObjectStoreError(
                store: id, request: "HEAD bucket \(settings.bucket)", status: Int(head.status.code),
                message: "the bucket cannot be used")
        }
        bucketReady.withLock { $0 = true }
    }

    /// The error for a response that failed, with S3's code and message; a full store is
    /// the client's 413, as Glance says it.
    func failure(_ response: HTTPClientResponse, _ request: String) async -> any Error {
        let text = await ObjectHTTP.errorText(response)
        let code = S3XML.text("Code", in: text[...])
        let message = [code, S3XML.text("Message", in: text[...])].compactMap { $0 }.joined(separator: ": ")
        if response.status.code == 507 || code == "EntityTooLarge" || code == "QuotaExceeded" {
            return ServiceError.tooLarge("Image storage media is full: \(message)")
        }
        return ObjectStoreError(
            store: id, request: request, status: Int(response.status.code), message: message.isEmpty ? text : message)
    }

    // MARK: Keys

    func key(_ location: String) throws -> String {
        guard Self.isKey(location) else { throw ObjectStoreError.badLocation(location, store: id) }
        return location
    }

    /// The keys this store gives; the same rule as Swift's object names.
    static func isKey(_ key: String) -> Bool { SwiftBlobStore.isObjectName(key) }

    static func before(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}

/// Writes one S3 object: data is gathered a part at a time; the first full part opens a
/// multipart upload and each part is sent as it fills, a few at once, while the next is
/// gathered. Used by one task at a time (the upload that made it).
final class S3ObjectWriter: BlobWriter, @unchecked Sendable {
    let store: S3BlobStore
    let key: String
    var pendingLocation: String { key }

    private var buffer = ByteBuffer()
    private var uploadId: String?
    private var sending: [Task<(Int, String), any Error>] = []
    private var sent: [(number: Int, etag: String)] = []
    private var partNumber = 0
    private var closed = false

    init(store: S3BlobStore, key: String) {
        self.store = store
        self.key = key
    }

    /// The size of part `number`: the configured size, doubled every 1,000 parts.
    func partSize(_ number: Int) -> Int {
        min(store.settings.partSize << min((number - 1) / 1000, 10), 5 << 30)
    }

    func write(_ chunk: ByteBuffer) async throws {
        guard !closed else { throw ObjectStoreError(store: store.id, request: "", status: nil, message: "closed") }
        var chunk = chunk
        while chunk.readableBytes > 0 {
            let size = partSize(partNumber + 1)
            if buffer.capacity < size { buffer.reserveCapacity(size) }
            var piece = chunk.readSlice(length: min(size - buffer.readableBytes, chunk.readableBytes))!
            buffer.writeBuffer(&piece)
            if buffer.readableBytes == size { try await sendPart() }
        }
    }

    /// Sends the gathered part, first waiting for the oldest one in flight if enough are.
    private func sendPart() async throws {
        if uploadId == nil { uploadId = try await createUpload() }
        while sending.count >= store.settings.partsInFlight { try await finishOldest() }
        partNumber += 1
        let (store, key, number, uploadId, body) = (store, key, partNumber, uploadId!, buffer)
        buffer = ByteBuffer()
        sending.append(
            Task {
                let response = try await store.send(
                    .PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadId)], body: body)
                guard response.status.code == 200 else { throw await store.failure(response, "PUT \(key) part") }
                _ = await ObjectHTTP.errorText(response)
                return (number, response.headers.first(name: "ETag") ?? "")
            })
    }

    private func finishOldest() async throws {
        let task = sending.removeFirst()
        let (number, etag) = try await task.value
        sent.append((number, etag))
    }

    private func createUpload() async throws -> String {
        let response = try await store.send(.POST, key: key, query: [("uploads", "")])
        guard response.status.code == 200 else { throw await store.failure(response, "POST \(key)?uploads") }
        let xml = String(buffer: try await ObjectHTTP.collect(response))
        guard let id = S3XML.text("UploadId", in: xml[...]) else {
            throw ObjectStoreError(
                store: store.id, request: "POST \(key)?uploads", status: 200, message: "no UploadId in the answer")
        }
        return id
    }

    func commit() async throws -> String {
        guard !closed else { throw ObjectStoreError(store: store.id, request: "", status: nil, message: "closed") }
        closed = true
        do {
            guard let uploadId else {
                let response = try await store.send(
                    .PUT, key: key, headers: [("Content-Type", "application/octet-stream")], body: buffer)
                guard response.status.code == 200 else { throw await store.failure(response, "PUT \(key)") }
                _ = await ObjectHTTP.errorText(response)
                return key
            }
            if buffer.readableBytes > 0 { try await sendPart() }
            while !sending.isEmpty { try await finishOldest() }
            var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            for part in sent.sorted(by: { $0.number < $1.number }) {
                xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(Markup.escape(part.etag))</ETag></Part>"
            }
            xml += "</CompleteMultipartUpload>"
            let response = try await store.send(
                .POST, key: key, query: [("uploadId", uploadId)], body: ByteBuffer(string: xml))
            // A completion can fail after its 200: the error is then in the body.
            let answer = String(buffer: try await ObjectHTTP.collect(response))
            guard response.status.code == 200, answer.contains("CompleteMultipartUploadResult") else {
                throw ObjectStoreError(
                    store: store.id, request: "POST \(key)?uploadId", status: Int(response.status.code),
                    message: S3XML.text("Message", in: answer[...]) ?? answer)
            }
            return key
        } catch {
            await discard()
            throw error
        }
    }

    func abort() async {
        closed = true
        await discard()
    }

    /// Stops the parts in flight and aborts the multipart upload, if there is one.
    private func discard() async {
        buffer = ByteBuffer()
        for task in sending { task.cancel() }
        for task in sending { _ = try? await task.value }
        sending.removeAll()
        guard let uploadId else { return }
        do {
            try await store.abortUpload(key: key, uploadId: uploadId)
        } catch {
            store.logger.warning(
                "could not abort the multipart upload of an abandoned upload; the orphan sweep will",
                metadata: ["store": "\(store.id)", "key": "\(key)", "error": "\(error)"])
        }
    }
}
