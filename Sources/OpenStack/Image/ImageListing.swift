import Foundation
import OpenStackJSON

/// Filters for listing images; every Glance filter, evaluated by the server.
public struct ImageFilter: Sendable, Hashable {
    /// Match one of several values (Glance's `in:` operator).
    public enum Match: Sendable, Hashable {
        case equals(String)
        case oneOf([String])

        var query: String {
            switch self {
            case .equals(let v): v.contains(":") ? "eq:" + v : v
            case .oneOf(let vs):
                "in:"
                    + vs.map {
                        $0.contains(",") || $0.contains("\"")
                            ? "\"" + $0.replacingOccurrences(of: "\"", with: "\\\"") + "\"" : $0
                    }
                    .joined(separator: ",")
            }
        }
    }

    /// A date comparison.
    public enum DateComparison: Sendable, Hashable {
        case equal(Date), notEqual(Date), after(Date), atOrAfter(Date), before(Date), atOrBefore(Date)

        var query: String {
            switch self {
            case .equal(let d): "eq:" + formatDate(d)
            case .notEqual(let d): "neq:" + formatDate(d)
            case .after(let d): "gt:" + formatDate(d)
            case .atOrAfter(let d): "gte:" + formatDate(d)
            case .before(let d): "lt:" + formatDate(d)
            case .atOrBefore(let d): "lte:" + formatDate(d)
            }
        }
    }

    /// Which images by visibility; `all` includes other projects' community images.
    public enum VisibilityScope: String, Sendable, Hashable {
        case `public`, `private`, shared, community, all
    }

    public enum MemberStatusScope: String, Sendable, Hashable {
        case accepted, pending, rejected, all
    }

    public var id: Match?
    public var name: Match?
    public var status: Match?
    public var diskFormat: Match?
    public var containerFormat: Match?
    public var visibility: VisibilityScope?
    public var memberStatus: MemberStatusScope?
    public var owner: String?
    /// Images carrying all of these tags.
    public var tags: [String]
    public var sizeMin: Int64?
    public var sizeMax: Int64?
    public var isProtected: Bool?
    /// `os_hidden`: true lists only hidden images.
    public var isHidden: Bool?
    public var createdAt: DateComparison?
    public var updatedAt: DateComparison?
    public var checksum: String?
    public var osHashValue: String?
    /// Custom property equals value.
    public var properties: [String: String]

    public init(
        id: Match? = nil, name: Match? = nil, status: Match? = nil, diskFormat: Match? = nil,
        containerFormat: Match? = nil,
        visibility: VisibilityScope? = nil, memberStatus: MemberStatusScope? = nil, owner: String? = nil,
        tags: [String] = [], sizeMin: Int64? = nil, sizeMax: Int64? = nil, isProtected: Bool? = nil,
        isHidden: Bool? = nil,
        createdAt: DateComparison? = nil, updatedAt: DateComparison? = nil, checksum: String? = nil,
        osHashValue: String? = nil, properties: [String: String] = [:]
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.diskFormat = diskFormat
        self.containerFormat = containerFormat
        self.visibility = visibility
        self.memberStatus = memberStatus
        self.owner = owner
        self.tags = tags
        self.sizeMin = sizeMin
        self.sizeMax = sizeMax
        self.isProtected = isProtected
        self.isHidden = isHidden
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.checksum = checksum
        self.osHashValue = osHashValue
        self.properties = properties
    }

    var queryItems: [(String, String)] {
        var q: [(String, String)] = []
        func add(_ k: String, _ v: String?) { if let v { q.append((k, v)) } }
        add("id", id?.query)
        add("name", name?.query)
        add("status", status?.query)
        add("disk_format", diskFormat?.query)
        add("container_format", containerFormat?.query)
        add("visibility", visibility?.rawValue)
        add("member_status", memberStatus?.rawValue)
        add("owner", owner)
        for t in tags { q.append(("tag", t)) }
        add("size_min", sizeMin.map(String.init))
        add("size_max", sizeMax.map(String.init))
        add("protected", isProtected.map { $0 ? "true" : "false" })
        add("os_hidden", isHidden.map { $0 ? "true" : "false" })
        add("created_at", createdAt?.query)
        add("updated_at", updatedAt?.query)
        add("checksum", checksum)
        add("os_hash_value", osHashValue)
        for (k, v) in properties.sorted(by: { $0.key < $1.key }) { q.append((k, v)) }
        return q
    }
}

/// A sort key for listings (`sort=name:asc,…`).
public struct ImageSort: Sendable, Hashable {
    public enum Key: String, Sendable, Hashable {
        case name, status, size, id
        case containerFormat = "container_format"
        case diskFormat = "disk_format"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public var key: Key
    public var ascending: Bool

    public init(_ key: Key, ascending: Bool = true) {
        self.key = key
        self.ascending = ascending
    }

    public static func asc(_ key: Key) -> ImageSort { ImageSort(key, ascending: true) }
    public static func desc(_ key: Key) -> ImageSort { ImageSort(key, ascending: false) }
}

/// Every image matching a filter, fetched page by page as the sequence is iterated: the
/// server's `next` links are followed to the end (or until `maxItems`).
public struct ImageList: AsyncSequence, Sendable {
    public typealias Element = Image
    let service: ImageServiceV2
    let firstQuery: [(String, String)]
    let maxItems: Int?

    /// The same listing a page at a time.
    public var pages: ImagePages { ImagePages(service: service, firstQuery: firstQuery) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var items: PaginatedItems<Image>.AsyncIterator
        public mutating func next() async throws -> Image? { try await items.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(items: PaginatedItems(pages: pages.paginator, maxItems: maxItems).makeAsyncIterator())
    }

    /// All matching images in an array.
    public func collect() async throws -> [Image] {
        var out: [Image] = []
        for try await image in self { out.append(image) }
        return out
    }
}

/// Pages of a listing, following `next` links (and stopping if one repeats).
public struct ImagePages: AsyncSequence, Sendable {
    public typealias Element = [Image]
    let service: ImageServiceV2
    let firstQuery: [(String, String)]

    var paginator: Paginator<Image> {
        let (service, query) = (service, firstQuery)
        return Paginator(
            first: { try Self.page(try await service.getJSON("images", query: query)) },
            follow: { try Self.page(try await service.getJSON(link: $0)) })
    }

    static func page(_ response: JSONValue) throws -> Page<Image> {
        Page(
            items: try (response["images"]?.arrayValue ?? []).map { try Image(json: $0) },
            next: response["next"]?.stringValue)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var pages: Paginator<Image>.AsyncIterator
        public mutating func next() async throws -> [Image]? { try await pages.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: paginator.makeAsyncIterator()) }
}
