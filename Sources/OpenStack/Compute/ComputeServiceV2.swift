import Foundation
import NIOHTTP1
import OpenStackEncoding
import OpenStackJSON

/// An image as the compute API shows it (`/images/detail`).
public struct ComputeImage: Sendable, Hashable, Codable {
    /// `ACTIVE`, `SAVING`, `DELETED`, `ERROR` or `UNKNOWN`; other values still decode.
    public struct Status: OpenStringValue {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let active: Status = "ACTIVE"
        public static let saving: Status = "SAVING"
        public static let deleted: Status = "DELETED"
        public static let error: Status = "ERROR"
        public static let unknown: Status = "UNKNOWN"
    }

    public var id: String
    public var name: String?
    /// Present in detailed listings and `image(_:)`.
    public var status: Status?
    /// 0–100 while saving, 100 when active.
    public var progress: Int?
    public var minDisk: Int?
    public var minRam: Int?
    public var size: Int64?
    public var created: Date?
    public var updated: Date?
    /// Custom properties (strings).
    public var metadata: [String: String]
    /// The server a snapshot was taken from.
    public var serverId: String?
    /// `self`, `bookmark` and `alternate` links.
    public var links: [String: String]

    init(json: JSONValue) throws {
        guard let id = json["id"]?.stringValue else { throw OpenStackError(.invalidResponse, "an image without an id") }
        self.id = id
        name = json["name"]?.stringValue
        status = json["status"]?.stringValue.map(Status.init(rawValue:))
        progress = json["progress"]?.intValue
        minDisk = json["minDisk"]?.intValue
        minRam = json["minRam"]?.intValue
        size = json["OS-EXT-IMG-SIZE:size"]?.intValue.map(Int64.init)
        created = json["created"]?.stringValue.flatMap(parseDate)
        updated = json["updated"]?.stringValue.flatMap(parseDate)
        var meta: [String: String] = [:]
        for m in json["metadata"]?.objectValue ?? [:] { meta[m.key] = m.value.stringValue ?? m.value.jsonString }
        metadata = meta
        serverId = json["server"]?["id"]?.stringValue
        var links: [String: String] = [:]
        for l in json["links"]?.arrayValue ?? [] {
            if let rel = l["rel"]?.stringValue, let href = l["href"]?.stringValue { links[rel] = href }
        }
        self.links = links
    }
}

/// Filters of the compute images listing.
public struct ComputeImageFilter: Sendable, Hashable {
    public enum ImageType: String, Sendable, Hashable { case base = "BASE", snapshot = "SNAPSHOT" }

    public var name: String?
    public var status: ComputeImage.Status?
    /// Server id or URL: images (snapshots) made from that server.
    public var server: String?
    /// Changed (or deleted) since.
    public var changesSince: Date?
    public var type: ImageType?
    public var minDisk: Int?
    public var minRam: Int?

    public init(
        name: String? = nil, status: ComputeImage.Status? = nil, server: String? = nil, changesSince: Date? = nil,
        type: ImageType? = nil, minDisk: Int? = nil, minRam: Int? = nil
    ) {
        self.name = name
        self.status = status
        self.server = server
        self.changesSince = changesSince
        self.type = type
        self.minDisk = minDisk
        self.minRam = minRam
    }

    var queryItems: [(String, String)] {
        var q: [(String, String)] = []
        if let name { q.append(("name", name)) }
        if let status { q.append(("status", status.rawValue)) }
        if let server { q.append(("server", server)) }
        if let changesSince { q.append(("changes-since", formatDate(changesSince))) }
        if let type { q.append(("type", type.rawValue)) }
        if let minDisk { q.append(("minDisk", String(minDisk))) }
        if let minRam { q.append(("minRam", String(minRam))) }
        return q
    }
}

/// The compute API's images (Nova `/images`), as older clouds and tools use them.
public final class ComputeServiceV2: Sendable {
    let transport: Transport
    let endpoint: ServiceEndpoint

    init(transport: Transport, endpoint: ServiceEndpoint) {
        self.transport = transport
        self.endpoint = endpoint
    }

    func url(_ path: String, query: [(String, String)] = []) async throws -> String {
        try await endpoint.url() + "/" + path + (query.isEmpty ? "" : "?" + URLCoding.encodeQuery(query))
    }

    /// Every image matching the filter, following `images_links` across pages.
    public func listImages(
        detailed: Bool = true, filters: ComputeImageFilter = ComputeImageFilter(), pageSize: Int? = nil
    ) -> ComputeImageList {
        var query = filters.queryItems
        if let pageSize { query.append(("limit", String(pageSize))) }
        return ComputeImageList(service: self, path: detailed ? "images/detail" : "images", query: query)
    }

    public func image(_ id: String) async throws -> ComputeImage {
        let r = try await transport.send(ServiceRequest(.GET, try await url("images/" + URLCoding.quotePath(id))))
        guard let image = try r.json()["image"] else {
            throw OpenStackError(.invalidResponse, "no image in the response")
        }
        return try ComputeImage(json: image)
    }

    public func delete(_ id: String) async throws {
        _ = try await transport.send(
            ServiceRequest(.DELETE, try await url("images/" + URLCoding.quotePath(id)), expected: [204]))
    }

    /// The image's metadata (custom properties).
    public func metadata(_ id: String) async throws -> [String: String] {
        let r = try await transport.send(
            ServiceRequest(.GET, try await url("images/\(URLCoding.quotePath(id))/metadata")))
        return Self.strings(try r.json()["metadata"])
    }

    /// Adds or changes metadata items (others stay); returns all metadata.
    public func updateMetadata(_ id: String, _ items: [String: String]) async throws -> [String: String] {
        try await writeMetadata(id, items, method: .POST)
    }

    /// Replaces all metadata with `items`.
    public func replaceMetadata(_ id: String, _ items: [String: String]) async throws -> [String: String] {
        try await writeMetadata(id, items, method: .PUT)
    }

    public func deleteMetadata(_ id: String, key: String) async throws {
        _ = try await transport.send(
            ServiceRequest(
                .DELETE, try await url("images/\(URLCoding.quotePath(id))/metadata/\(URLCoding.quotePath(key))"),
                expected: [204]))
    }

    func writeMetadata(_ id: String, _ items: [String: String], method: HTTPMethod) async throws -> [String: String] {
        var r = ServiceRequest(method, try await url("images/\(URLCoding.quotePath(id))/metadata"), idempotent: true)
        var meta = JSONObject()
        for (k, v) in items.sorted(by: { $0.key < $1.key }) { meta[k] = .string(v) }
        r.body = .bytes(JSONValue.object(["metadata": .object(meta)]).serialized(), contentType: "application/json")
        return Self.strings(try await transport.send(r).json()["metadata"])
    }

    static func strings(_ json: JSONValue?) -> [String: String] {
        var out: [String: String] = [:]
        for m in json?.objectValue ?? [:] { out[m.key] = m.value.stringValue ?? m.value.jsonString }
        return out
    }

    func page(_ url: String) async throws -> Page<ComputeImage> {
        let json = try await transport.send(ServiceRequest(.GET, url)).json()
        let images = try (json["images"]?.arrayValue ?? []).map { try ComputeImage(json: $0) }
        let next = json["images_links"]?.arrayValue?.first { $0["rel"] == "next" }?["href"]?.stringValue
        return Page(items: images, next: next)
    }
}

/// Compute images, fetched page by page as the sequence is iterated, following
/// `images_links` (and stopping if a link repeats).
public struct ComputeImageList: AsyncSequence, Sendable {
    public typealias Element = ComputeImage
    let service: ComputeServiceV2
    let path: String
    let query: [(String, String)]

    public struct AsyncIterator: AsyncIteratorProtocol {
        var items: PaginatedItems<ComputeImage>.AsyncIterator
        public mutating func next() async throws -> ComputeImage? { try await items.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        let (service, path, query) = (service, path, query)
        let pages = Paginator(
            first: { try await service.page(try await service.url(path, query: query)) },
            follow: { try await service.page($0) })
        return AsyncIterator(items: PaginatedItems(pages: pages, maxItems: nil).makeAsyncIterator())
    }

    public func collect() async throws -> [ComputeImage] {
        var out: [ComputeImage] = []
        for try await i in self { out.append(i) }
        return out
    }
}
