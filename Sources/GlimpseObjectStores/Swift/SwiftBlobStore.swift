import AsyncHTTPClient
import GlimpseCore
import Logging
import NIOCore
import NIOHTTP1
import OpenStackEncoding
import OpenStackJSON
import Synchronization

/// Image data in OpenStack Swift, through its native API.
///
/// Each upload is an object `<image id>_<random>` in the store's container; that name is
/// both its pending and its committed location. Up to a megabyte is sent as one object.
/// Beyond that the data streams into segments (`<container>_segments/<name>/00000001`, …)
/// of `segmentSize` bytes, and `commit` writes a Static Large Object manifest under the
/// name, so images over Swift's 5 GiB object limit work and reads (ranged ones too) go
/// through the manifest. Until the manifest exists the segments are the pending object; a
/// delete removes the manifest and every segment of the name.
///
/// Glance's objects in the same container (`<image id>`, a Dynamic Large Object manifest over
/// segments `<image id>-00001`, … beside it) are never listed, and become an image's only by
/// adoption (`adopt`); deleting one then removes its segments too.
public final class SwiftBlobStore: BlobStore {
    public let id: String
    public let type = "swift"
    let settings: SwiftStoreSettings
    let session: SwiftSession
    let client: HTTPClient
    let logger: Logger
    /// Whether the containers are known to exist.
    private let containersReady = Mutex(Set<String>())

    /// Data up to this size is sent as one object, without segments.
    static let singleObjectLimit = 1 << 20

    /// - Parameter client: the HTTP client to reach Swift (and Keystone) with.
    public init(id: String, settings: SwiftStoreSettings, client: HTTPClient, logger: Logger) throws {
        self.id = id
        self.settings = settings
        self.client = client
        self.logger = logger
        session = try SwiftSession(settings.auth, storageURL: settings.storageURL, client: client, logger: logger)
    }

    /// The container of an object: the store's, or with `containersSeed` one of many,
    /// `<container>_<first characters of the name>`, as Glance's multiple containers.
    func container(for name: String) -> String {
        settings.containersSeed == 0
            ? settings.container : settings.container + "_" + name.prefix(settings.containersSeed)
    }

    func segmentContainer(for name: String) -> String { container(for: name) + "_segments" }

    public func makeWriter(imageId: String) async throws -> any BlobWriter {
        // `_`, not `-`: a Glance object of the same image id in a shared container is a
        // Dynamic Large Object over every object named `<image id>-…`, this one included.
        let name = imageId + "_" + Identifiers.randomHex(bytes: 4)
        guard Self.isObjectName(name) else { throw ServiceError.badRequest("bad image id for a Swift object") }
        try await ensureContainers(for: name)
        return SwiftObjectWriter(store: self, name: name)
    }

    public func read(location: String, range: ClosedRange<Int>?) async throws -> ByteStream {
        let name = try objectName(location)
        let container = container(for: name)
        let response = try await send(.GET, [container, name], headers: ObjectHTTP.rangeHeader(range))
        return try await ObjectHTTP.data(response, location: location, store: id) {
            await failure(response, "GET \(container)/\(name)")
        }
    }

    /// Glance's object of image `imageId` in this store's container, as its location names it
    /// (`swift+config://<reference>/<container>/<image id>`, `swift+https://…/<container>/<image
    /// id>`): adopted with its length, a Dynamic Large Object's segments included. Another
    /// container's or account's URL is not the store's (nil). An object that would read other
    /// data than its own and its numbered segments (a manifest naming other objects, a Static
    /// Large Object, a symlink) is refused.
    public func adopt(url: String, imageId: String) async throws -> AdoptedData? {
        guard url.hasPrefix("swift://") || url.hasPrefix("swift+") else { return nil }
        let path = url.prefix { $0 != "?" && $0 != "#" }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map { URLCoding.decode($0) }
        guard parts.count >= 5, parts[parts.count - 2] == container(for: imageId) else { return nil }
        // A storage URL (`…/v1/AUTH_x/<container>/<object>`) names its account: it must be this store's.
        if let v1 = parts.dropLast(2).lastIndex(of: "v1"), v1 + 1 < parts.count - 2 {
            let account = try await session.account().storageURL
            guard account.split(separator: "/").last.map({ URLCoding.decode($0) }) == parts[v1 + 1] else { return nil }
        }
        let container = parts[parts.count - 2]
        guard parts[parts.count - 1] == imageId, Self.isObjectName(imageId) else {
            throw ServiceError.badRequest("Invalid location: \(StoreURL.redacted(url)) is not image \(imageId)'s data")
        }
        let object = try await head([container, imageId], query: [("multipart-manifest", "get"), ("symlink", "get")])
        guard let object else { throw ServiceError.badRequest("Invalid location: no object \(container)/\(imageId)") }
        if object.first(name: "X-Static-Large-Object") != nil || object.first(name: "X-Symlink-Target") != nil {
            throw ServiceError.badRequest(
                "Invalid location: \(container)/\(imageId) is a static large object or a link")
        }
        var length = object.first(name: "Content-Length")
        if let manifest = object.first(name: "X-Object-Manifest") {
            guard Self.joinsOwnSegments(manifest, container: container, name: imageId) else {
                throw ServiceError.badRequest(
                    "Invalid location: \(container)/\(imageId) joins other objects than its own segments")
            }
            length = try await head([container, imageId])?.first(name: "Content-Length")
        }
        guard let size = length.flatMap({ Int($0) }) else {
            throw ServiceError.badRequest("Invalid location: the length of \(container)/\(imageId) is unknown")
        }
        return AdoptedData(location: imageId, size: size)
    }

    /// The headers of an object; nil if it does not exist.
    private func head(_ path: [String], query: [(String, String)] = []) async throws -> HTTPHeaders? {
        let response = try await send(.HEAD, path, query: query)
        _ = await ObjectHTTP.errorText(response)
        if response.status == .notFound { return nil }
        guard response.status == .ok else { throw await failure(response, "HEAD \(path.joined(separator: "/"))") }
        return response.headers
    }

    public func delete(location: String) async throws {
        let name = try objectName(location)
        if !Self.isOwnObjectName(name) { return try await deleteAdopted(name) }
        let (container, segmentContainer) = (container(for: name), segmentContainer(for: name))
        let response = try await send(
            .DELETE, [container, name], query: [("multipart-manifest", "delete")],
            headers: [("Accept", "application/json")])
        // Swift answers a manifest's delete with 200 and says in the body what it did: an
        // object written in one PUT is no manifest, and takes a plain DELETE (as after a
        // refusal: the segments go below in any case).
        let answer = await ObjectHTTP.errorText(response)
        if response.status.code != 404,
            !(200..<300).contains(response.status.code) || answer.contains("Not an SLO manifest")
        {
            try await deleteObject(container, name)
        }
        // Segments of an upload that never wrote its manifest, or that the manifest's
        // delete left.
        while true {
            let segments = try await list(segmentContainer, prefix: name + "/", after: nil, limit: 1000)
            for segment in segments {
                guard let segmentName = segment["name"]?.stringValue else { continue }
                try await deleteObject(segmentContainer, segmentName)
            }
            if segments.count < 1000 { break }
        }
    }

    /// Deletes one object; a missing one is not an error.
    func deleteObject(_ container: String, _ name: String) async throws {
        let response = try await send(.DELETE, [container, name])
        guard (200..<300).contains(response.status.code) || response.status.code == 404 else {
            throw await failure(response, "DELETE \(container)/\(name)")
        }
        _ = await ObjectHTTP.errorText(response)
    }

    /// Deletes an adopted object (Glance's): a Dynamic Large Object's segments first
    /// (`<name>-00001`, … beside the manifest, which names them by prefix), as Glance does,
    /// then the object. Only numbered segments of the name in its own container go (never the
    /// store's own `<name>-<8 hex>` objects), whatever else the manifest says.
    func deleteAdopted(_ name: String) async throws {
        let container = container(for: name)
        // A HEAD that fails stops the delete: deleting the manifest first would strand its segments.
        if let manifest = try await head([container, name], query: [("multipart-manifest", "get")])?
            .first(name: "X-Object-Manifest")
        {
            if Self.joinsOwnSegments(manifest, container: container, name: name) {
                try await deleteNumberedSegments(of: name, in: container)
            } else {
                logger.warning(
                    "left the segments of an adopted object alone: its manifest names others",
                    metadata: ["object": "\(container)/\(name)", "manifest": "\(manifest)"])
            }
        }
        try await deleteObject(container, name)
    }

    /// Whether a Dynamic Large Object manifest (`X-Object-Manifest`) joins only the object's
    /// own segments, `<container>/<name>-…`, as Glance writes it.
    static func joinsOwnSegments(_ manifest: String, container: String, name: String) -> Bool {
        URLCoding.decode(manifest) == container + "/" + name + "-"
    }

    /// Deletes the objects `<name>-<digits>` of a container.
    private func deleteNumberedSegments(of name: String, in container: String) async throws {
        var marker: String?
        while true {
            let segments = try await list(container, prefix: name + "-", after: marker, limit: 1000)
            marker = segments.last?["name"]?.stringValue
            for segment in segments {
                guard let segmentName = segment["name"]?.stringValue, !Self.isOwnObjectName(segmentName) else {
                    continue
                }
                let number = segmentName.utf8.dropFirst(name.utf8.count + 1)
                guard !number.isEmpty, number.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    continue
                }
                try await deleteObject(container, segmentName)
            }
            if segments.count < 1000 { break }
        }
    }

    public func freeSpace() async -> Int? { nil }

    /// The image container answers (it is created if it is missing); with many containers,
    /// the account does.
    public func checkHealth() async throws {
        let path = settings.containersSeed == 0 ? [settings.container] : []
        let response = try await send(.HEAD, path)
        _ = await ObjectHTTP.errorText(response)
        switch response.status.code {
        case 200..<300: return
        case 404 where !path.isEmpty:
            containersReady.withLock { $0.removeAll() }
            try await ensureContainers(for: "")
        default: throw await failure(response, "HEAD \(path.first ?? "account")")
        }
    }

    /// Committed objects from the image containers, and pending ones — segments whose
    /// manifest was never written — from their segment twins, merged in name order.
    public func inventory(after marker: String?, limit: Int) async throws -> [StoredBlob] {
        let limit = max(1, limit)
        var blobs: [StoredBlob] = []
        for c in try await imageContainers(from: marker) {
            // Names in a container all start with its seed, so only the marker's own
            // container needs the marker.
            let after = marker.flatMap { container(for: $0) == c ? $0 : nil }
            blobs += try await InventoryPages.collect(after: after, limit: limit - blobs.count) { cursor, n in
                try await inventoryPage(c, after: cursor, limit: n)
            }
            if blobs.count >= limit { break }
        }
        return blobs
    }

    /// The image containers whose names may follow `marker`, in order.
    func imageContainers(from marker: String?) async throws -> [String] {
        guard settings.containersSeed > 0 else { return [settings.container] }
        var names: [String] = []
        var after: String?
        let prefix = settings.container + "_"
        while true {
            let page = try await list(account: prefix, after: after)
            // `<container>_<seed>`, the seed being the start of an image id (hex and '-').
            names += page.filter { name in
                let seed = name.utf8.dropFirst(prefix.utf8.count)
                return seed.count == settings.containersSeed
                    && seed.allSatisfy { Hex.value(of: $0) != nil || $0 == UInt8(ascii: "-") }
            }
            guard page.count == 10_000, let last = page.last else { break }
            after = last
        }
        let first = marker.map { container(for: $0) }
        return names.sorted { Self.before($0, $1) }.filter { c in first.map { !Self.before(c, $0) } ?? true }
    }

    /// One merged page of one image container and its segments.
    func inventoryPage(_ c: String, after cursor: String?, limit: Int) async throws -> InventoryPages.MergedPage {
        let segments = c + "_segments"
        let objects = try await list(c, prefix: nil, after: cursor, limit: limit)
        let committed = objects.compactMap { o -> StoredBlob? in
            guard let name = o["name"]?.stringValue, Self.isOwnObjectName(name) else { return nil }
            return StoredBlob(
                location: name, pending: false, modifiedAt: Self.timestamp(o["last_modified"]),
                size: o["bytes"]?.intValue)
        }
        // One more than asked, as the subdirectory named after the cursor comes back too.
        let subdirs = try await list(segments, prefix: nil, after: cursor, limit: limit + 1, delimiter: "/")
        let uploads = subdirs.compactMap { $0["subdir"]?.stringValue.map { String($0.dropLast()) } }
            .filter { name in Self.isOwnObjectName(name) && cursor.map { Self.before($0, name) } ?? true }
        let committedCut = objects.count >= limit ? objects.last?["name"]?.stringValue : nil
        let pendingCut = subdirs.count > limit ? uploads.last : nil
        let names = Set(committed.map(\.location))
        let bound = [committedCut, pendingCut].compactMap { $0 }.min { Self.before($0, $1) }
        var pending: [StoredBlob] = []
        for name in uploads where !names.contains(name) && bound.map({ !Self.before($0, name) }) ?? true {
            // The newest segment tells when the upload last wrote.
            let newest = try await list(segments, prefix: name + "/", after: nil, limit: 1, reverse: true)
            guard let segment = newest.first else { continue }
            pending.append(
                StoredBlob(location: name, pending: true, modifiedAt: Self.timestamp(segment["last_modified"])))
        }
        return InventoryPages.merge(
            committed: committed, committedCut: committedCut, pending: pending, pendingCut: pendingCut, limit: limit)
    }

    // MARK: Requests

    /// A request body.
    enum Body {
        case none
        case bytes(ByteBuffer)
        case stream(BodyPipe)
    }

    /// Sends a request to the account; a refused token is replaced and the request sent
    /// again, unless its body was a stream.
    func send(
        _ method: HTTPMethod, _ path: [String], query: [(String, String)] = [], headers: [(String, String)] = [],
        body: Body = .none
    ) async throws -> HTTPClientResponse {
        let account = try await session.account()
        // A streamed body is sent once; others again if the engine was busy or restarting.
        let response =
            body.isStream
            ? try await execute(method, path, query, headers, body, account)
            : try await ObjectHTTP.retrying { try await execute(method, path, query, headers, body, account) }
        guard response.status == .unauthorized, !body.isStream else { return response }
        _ = await ObjectHTTP.errorText(response)
        return try await execute(method, path, query, headers, body, try await session.account(refused: account.token))
    }

    private func execute(
        _ method: HTTPMethod, _ path: [String], _ query: [(String, String)], _ headers: [(String, String)],
        _ body: Body, _ account: SwiftAccount
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: Self.url(account.storageURL, path, query))
        request.method = method
        request.headers.add(name: "X-Auth-Token", value: account.token)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        switch body {
        case .none: break
        case .bytes(let bytes): request.body = .bytes(bytes)
        case .stream(let pipe): request.body = .stream(pipe, length: .unknown)
        }
        do {
            return try await client.execute(request, deadline: .distantFuture, logger: logger)
        } catch {
            try Task.checkCancellation()
            throw ObjectStoreError(
                store: id, request: "\(method) \(path.joined(separator: "/"))", status: nil, message: "\(error)")
        }
    }

    /// Lists a container as JSON (empty if it does not exist).
    func list(
        _ container: String, prefix: String?, after marker: String?, limit: Int, delimiter: String? = nil,
        reverse: Bool = false
    ) async throws -> [JSONValue] {
        var query = [("format", "json"), ("limit", String(limit))]
        if let prefix { query.append(("prefix", prefix)) }
        if let marker { query.append(("marker", marker)) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        if reverse { query.append(("reverse", "true")) }
        let response = try await send(.GET, [container], query: query)
        switch response.status.code {
        case 200:
            return try JSONValue.parse(Array(buffer: try await ObjectHTTP.collect(response))).arrayValue ?? []
        case 204, 404:
            _ = await ObjectHTTP.errorText(response)
            return []
        default:
            throw await failure(response, "GET \(container)")
        }
    }

    /// Creates the image and segment containers of a name once per process (PUT is
    /// idempotent).
    func ensureContainers(for name: String) async throws {
        let c = container(for: name)
        guard !containersReady.withLock({ $0.contains(c) }) else { return }
        for each in [c, c + "_segments"] {
            let response = try await send(.PUT, [each])
            guard (200..<300).contains(response.status.code) else { throw await failure(response, "PUT \(each)") }
            _ = await ObjectHTTP.errorText(response)
        }
        containersReady.withLock { _ = $0.insert(c) }
    }

    /// One page (10,000) of the account's container names starting with `prefix`.
    func list(account prefix: String, after marker: String?) async throws -> [String] {
        var query = [("format", "json"), ("prefix", prefix)]
        if let marker { query.append(("marker", marker)) }
        let response = try await send(.GET, [], query: query)
        guard response.status.code == 200 || response.status.code == 204 else {
            throw await failure(response, "GET account")
        }
        guard response.status.code == 200 else { return [] }
        let names = try JSONValue.parse(Array(buffer: try await ObjectHTTP.collect(response))).arrayValue ?? []
        return names.compactMap { $0["name"]?.stringValue }
    }

    /// The error for a response that failed; a full store is the client's 413, as Glance
    /// says it.
    func failure(_ response: HTTPClientResponse, _ request: String) async -> any Error {
        let text = await ObjectHTTP.errorText(response)
        if response.status.code == 507 || response.status.code == 413 {
            return ServiceError.tooLarge("Image storage media is full: \(text)")
        }
        return ObjectStoreError(store: id, request: request, status: Int(response.status.code), message: text)
    }

    // MARK: Names

    func objectName(_ location: String) throws -> String {
        guard Self.isObjectName(location) else { throw ObjectStoreError.badLocation(location, store: id) }
        return location
    }

    /// Whether a name is one this store (or the S3 store) gives: an image id (a UUID), `_`
    /// (the Swift store's since 2026-12-02) or `-` (the S3 store's, and the Swift store's
    /// before), and eight lowercase hex digits. The inventory lists no others, so that the
    /// orphan sweep never takes for an orphan what another program keeps in the same
    /// container or bucket: Glance's objects (`<image id>`, and segments `<image id>-00001`)
    /// among them.
    static func isOwnObjectName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count == 36 + 1 + 8 else { return false }
        func hex(_ c: UInt8, upper: Bool) -> Bool {
            (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
                || (upper && c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
        }
        let dashes: Set<Int> = [8, 13, 18, 23]
        for (i, c) in bytes.enumerated() {
            if i == 36 {
                guard c == UInt8(ascii: "_") || c == UInt8(ascii: "-") else { return false }
            } else if dashes.contains(i) {
                guard c == UInt8(ascii: "-") else { return false }
            } else if !hex(c, upper: i < 36) {
                return false
            }
        }
        return true
    }

    /// The names this store reads and deletes: nothing that could reach another object.
    static func isObjectName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 200 && !name.hasPrefix(".")
            && name.utf8.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                    || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-")
                    || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
            }
    }

    static func url(_ base: String, _ path: [String], _ query: [(String, String)]) -> String {
        var url = base.hasSuffix("/") ? String(base.dropLast()) : base
        for part in path { url += "/" + URLCoding.quotePath(part) }
        if !query.isEmpty {
            url += "?" + query.map { URLCoding.quotePath($0) + "=" + URLCoding.quotePath($1) }.joined(separator: "&")
        }
        return url
    }

    static func before(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// Swift's `last_modified` (`2026-12-01T10:00:00.123450`, UTC).
    static func timestamp(_ value: JSONValue?) -> Timestamp {
        value?.stringValue.flatMap { Timestamp(iso8601: $0) } ?? Timestamp(microseconds: 0)
    }
}

extension SwiftBlobStore.Body {
    var isStream: Bool {
        if case .stream = self { return true }
        return false
    }
}

extension ObjectStoreError {
    /// A location this store never gives.
    static func badLocation(_ location: String, store: String) -> ObjectStoreError {
        ObjectStoreError(store: store, request: "", status: nil, message: "not a location of this store: \(location)")
    }
}

/// Writes one Swift object: the first megabyte is held back, so that a small image is one
/// PUT; past it, segments stream one after another, each a chunked PUT the upload feeds
/// as it goes. Used by one task at a time (the upload that made it).
final class SwiftObjectWriter: BlobWriter, @unchecked Sendable {
    let store: SwiftBlobStore
    let name: String
    var pendingLocation: String { name }

    /// What is held back while the data might still fit in one object.
    private var head = ByteBuffer()
    private var segment: Segment?
    /// The written segments, for the manifest.
    private var manifest: [(path: String, etag: String, size: Int)] = []
    private var closed = false
    /// Whether any segment was started (and may have to be removed).
    private var segmented = false

    /// The segment being sent.
    private struct Segment {
        let index: Int
        let pipe: BodyPipe
        let request: Task<String, any Error>
        var bytes = 0
    }

    init(store: SwiftBlobStore, name: String) {
        self.store = store
        self.name = name
    }

    func write(_ chunk: ByteBuffer) async throws {
        guard !closed else { throw ObjectStoreError(store: store.id, request: "", status: nil, message: "closed") }
        if segment == nil, manifest.isEmpty {
            var c = chunk
            head.writeBuffer(&c)
            guard head.readableBytes > SwiftBlobStore.singleObjectLimit else { return }
            let held = head
            head = ByteBuffer()
            try await stream(held)
        } else {
            try await stream(chunk)
        }
    }

    /// Sends bytes into segments, starting and ending them at the segment size.
    private func stream(_ bytes: ByteBuffer) async throws {
        var bytes = bytes
        while bytes.readableBytes > 0 {
            if segment == nil {
                segment = startSegment(manifest.count + 1)
                segmented = true
            }
            let room = store.settings.segmentSize - segment!.bytes
            let piece = bytes.readSlice(length: min(room, bytes.readableBytes))!
            do {
                try await segment!.pipe.send(piece)
            } catch {
                // The request ended early: its own error says why.
                throw await requestError() ?? error
            }
            segment!.bytes += piece.readableBytes
            if segment!.bytes == store.settings.segmentSize { try await finishSegment() }
        }
    }

    private func requestError() async -> (any Error)? {
        guard let segment else { return nil }
        do {
            _ = try await segment.request.value
            return nil
        } catch {
            return error
        }
    }

    private func startSegment(_ index: Int) -> Segment {
        let pipe = BodyPipe()
        let (store, path) = (store, [store.segmentContainer(for: name), name + "/" + Self.segmentName(index)])
        let request = Task {
            do {
                let response = try await store.send(.PUT, path, body: .stream(pipe))
                guard response.status.code == 201 else { throw await store.failure(response, "PUT \(path[1])") }
                _ = await ObjectHTTP.errorText(response)
                return response.headers.first(name: "Etag")?.trimming("\"") ?? ""
            } catch {
                pipe.close(error)
                throw error
            }
        }
        return Segment(index: index, pipe: pipe, request: request)
    }

    private func finishSegment() async throws {
        guard let s = segment else { return }
        segment = nil
        s.pipe.finish()
        let etag = try await s.request.value
        manifest.append(("/\(store.segmentContainer(for: name))/\(name)/\(Self.segmentName(s.index))", etag, s.bytes))
    }

    static func segmentName(_ index: Int) -> String {
        let digits = String(index)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    func commit() async throws -> String {
        guard !closed else { throw ObjectStoreError(store: store.id, request: "", status: nil, message: "closed") }
        closed = true
        do {
            try await finishSegment()
            let response: HTTPClientResponse
            if manifest.isEmpty {
                response = try await store.send(
                    .PUT, [store.container(for: name), name], headers: [("Content-Type", "application/octet-stream")],
                    body: .bytes(head))
            } else {
                var json = JSONWriter()
                json.beginArray()
                for part in manifest {
                    json.beginObject()
                    json.key("path")
                    json.string(part.path)
                    json.key("etag")
                    json.string(part.etag)
                    json.key("size_bytes")
                    json.int(part.size)
                    json.endObject()
                }
                json.endArray()
                response = try await store.send(
                    .PUT, [store.container(for: name), name], query: [("multipart-manifest", "put")],
                    headers: [("Content-Type", "application/octet-stream")],
                    body: .bytes(ByteBuffer(bytes: json.bytes)))
            }
            guard response.status.code == 201 else {
                throw await store.failure(response, "PUT \(store.container(for: name))/\(name)")
            }
            _ = await ObjectHTTP.errorText(response)
            return name
        } catch {
            await removeAll()
            throw error
        }
    }

    func abort() async {
        closed = true
        if let s = segment {
            segment = nil
            s.pipe.close(CancellationError())
            s.request.cancel()
            _ = try? await s.request.value
        }
        await removeAll()
    }

    private func removeAll() async {
        head = ByteBuffer()
        guard segmented else { return }
        do {
            try await store.delete(location: name)
        } catch {
            store.logger.warning(
                "could not remove the segments of an abandoned upload; the orphan sweep will",
                metadata: ["store": "\(store.id)", "object": "\(name)", "error": "\(error)"])
        }
    }
}
