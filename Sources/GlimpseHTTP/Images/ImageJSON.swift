import GlimpseCore
import OpenStackEncoding
import OpenStackJSON

/// What an image's JSON tells of where its data is: `stores`, ordered by the stores'
/// weights; and, where the operator shows them (Glance's `show_image_direct_url` and
/// `show_multiple_locations`), `direct_url` and `locations` for the copies whose store has a
/// URL other services read from (RBD's `rbd://fsid/pool/image/snap`, which Nova and Cinder
/// clone).
public struct ImageDataView: Sendable {
    public var weights: [String: Int]
    public var showDirectURL: Bool
    public var showLocations: Bool
    public var directURL: @Sendable (ImageLocation) -> String?
    /// The URL `locations` show for a copy (nil: the copy is not listed).
    public var locationURL: @Sendable (ImageLocation) -> String?
    /// Whether the caller may see where an image's data is (`get_image_location`): if not,
    /// `locations` is empty and `direct_url` left out, as Glance shows them.
    public var mayLocate: @Sendable (Image) -> Bool

    public init(
        weights: [String: Int] = [:], showDirectURL: Bool = false, showLocations: Bool = false,
        directURL: @escaping @Sendable (ImageLocation) -> String? = { _ in nil },
        locationURL: (@Sendable (ImageLocation) -> String?)? = nil,
        mayLocate: @escaping @Sendable (Image) -> Bool = { _ in true }
    ) {
        self.mayLocate = mayLocate
        self.weights = weights
        self.showDirectURL = showDirectURL
        self.showLocations = showLocations
        self.directURL = directURL
        self.locationURL = locationURL ?? directURL
    }

    /// The view a service's configuration, stores and policy give the caller `p`.
    public init(_ images: ImageService, for p: Principal) {
        let blobs = images.blobs
        let policy = images.policy
        self.init(
            weights: blobs.weights, showDirectURL: images.config.showImageDirectURL,
            showLocations: images.config.showMultipleLocations,
            directURL: { (try? blobs.store(for: $0))?.directURL(location: $0.location) },
            locationURL: { (try? blobs.store(for: $0))?.locationURL(location: $0.location) },
            mayLocate: { policy.allows(.getImageLocation, p, .image($0)) })
    }
}

/// The wire form of images and members, in Glance's key order: custom properties first,
/// then the core attributes, then the links. Written straight into bytes.
public enum ImageJSON {
    public static func write(_ image: Image, view: ImageDataView, into w: inout JSONWriter) {
        w.beginObject()
        for p in image.properties {
            w.key(p.key)
            w.value(p.value)
        }
        w.key("name")
        w.string(image.name)
        w.key("disk_format")
        w.string(image.diskFormat)
        w.key("container_format")
        w.string(image.containerFormat)
        w.key("visibility")
        w.string(image.visibility.rawValue)
        w.key("size")
        w.int(image.size)
        w.key("virtual_size")
        w.int(image.virtualSize)
        w.key("status")
        w.string(image.status.rawValue)
        w.key("checksum")
        w.string(image.checksum)
        w.key("protected")
        w.bool(image.isProtected)
        w.key("min_ram")
        w.int(image.minRam)
        w.key("min_disk")
        w.int(image.minDisk)
        w.key("owner")
        w.string(image.owner)
        w.key("os_hidden")
        w.bool(image.osHidden)
        w.key("os_hash_algo")
        w.string(image.osHashAlgo)
        w.key("os_hash_value")
        w.string(image.osHashValue)
        w.key("id")
        w.string(image.id)
        w.key("created_at")
        w.string(image.createdAt.iso8601)
        w.key("updated_at")
        w.string(image.updatedAt.iso8601)
        w.key("tags")
        w.beginArray()
        for t in image.tags { w.string(t) }
        w.endArray()
        let path = "/v2/images/" + image.id
        w.key("self")
        w.string(path)
        w.key("file")
        w.string(path + "/file")
        w.key("schema")
        w.string("/v2/schemas/image")
        // A queued image's only location is an HTTP one its location import could not verify,
        // which stays as Glance leaves it; an importing image's staged data is not shown.
        let copies = image.hasData || image.status == .queued ? image.locations.ordered(by: view.weights) : []
        if !copies.isEmpty {
            w.key("stores")
            w.string(copies.map(\.storeId).joined(separator: ","))
        }
        let located = (view.showDirectURL || view.showLocations) && view.mayLocate(image)
        if view.showDirectURL, located, let url = copies.lazy.compactMap(view.directURL).first {
            w.key("direct_url")
            w.string(url)
        }
        if view.showLocations {
            w.key("locations")
            w.beginArray()
            for copy in located ? copies : [] {
                guard let url = view.locationURL(copy) else { continue }
                w.beginObject()
                w.key("url")
                w.string(url)
                w.key("metadata")
                w.beginObject()
                for m in copy.metadata where m.key != "store" {
                    w.key(m.key)
                    w.value(m.value)
                }
                w.key("store")
                w.string(copy.storeId)
                w.endObject()
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
    }

    public static func image(_ image: Image, view: ImageDataView) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        write(image, view: view, into: &w)
        return w.bytes
    }

    /// A `GET /v2/images` page.
    public static func page(_ images: [Image], view: ImageDataView, first: String, next: String?) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + images.count * 900)
        w.beginObject()
        w.key("images")
        w.beginArray()
        for image in images { write(image, view: view, into: &w) }
        w.endArray()
        w.key("first")
        w.string(first)
        w.key("schema")
        w.string("/v2/schemas/images")
        if let next {
            w.key("next")
            w.string(next)
        }
        w.endObject()
        return w.bytes
    }

    static func write(_ m: ImageMember, into w: inout JSONWriter) {
        w.beginObject()
        w.key("member_id")
        w.string(m.memberId)
        w.key("image_id")
        w.string(m.imageId)
        w.key("status")
        w.string(m.status.rawValue)
        w.key("created_at")
        w.string(m.createdAt.iso8601)
        w.key("updated_at")
        w.string(m.updatedAt.iso8601)
        w.key("schema")
        w.string("/v2/schemas/member")
        w.endObject()
    }

    static func member(_ m: ImageMember) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        write(m, into: &w)
        return w.bytes
    }

    static func members(_ ms: [ImageMember]) -> [UInt8] {
        var w = JSONWriter(capacity: 256 * (ms.count + 1))
        w.beginObject()
        w.key("members")
        w.beginArray()
        for m in ms { write(m, into: &w) }
        w.endArray()
        w.key("schema")
        w.string("/v2/schemas/members")
        w.endObject()
        return w.bytes
    }
}
