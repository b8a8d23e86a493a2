import GlimpseCore
import OpenStackEncoding
import OpenStackJSON

/// The wire form of images and members, in Glance's key order: custom properties first,
/// then the core attributes, then the links. Written straight into bytes.
public enum ImageJSON {
    /// - Parameter weights: the stores' weights, which order the `stores` attribute.
    public static func write(_ image: Image, weights: [String: Int], into w: inout JSONWriter) {
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
        if image.hasData {
            w.key("stores")
            w.string(image.locations.ordered(by: weights).map(\.storeId).joined(separator: ","))
        }
        w.endObject()
    }

    public static func image(_ image: Image, weights: [String: Int]) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        write(image, weights: weights, into: &w)
        return w.bytes
    }

    /// A `GET /v2/images` page.
    public static func page(_ images: [Image], weights: [String: Int], first: String, next: String?) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + images.count * 900)
        w.beginObject()
        w.key("images")
        w.beginArray()
        for image in images { write(image, weights: weights, into: &w) }
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
