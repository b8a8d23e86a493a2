import GlimpseCore
import OpenStackJSON

/// How an `Image` maps to the `images` table and its side tables (`image_tags`,
/// `image_properties`, which exist only to make tag and property filters indexed).
public enum ImageTable {
    /// Columns in the order `values(of:)` and `decode(_:)` use.
    public static let columns = [
        "id", "name", "status", "visibility", "owner", "size", "virtual_size", "disk_format", "container_format",
        "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "protected", "os_hidden",
        "created_at", "updated_at", "deleted_at", "properties", "tags", "location", "store_id", "revision",
    ]

    /// `i.id, i.name, …` for SELECTs.
    public static let selectList = columns.map { "i." + $0 }.joined(separator: ", ")

    public static func values(of image: Image) -> [SQLValue] {
        [
            .text(image.id), .optional(image.name), .text(image.status.rawValue), .text(image.visibility.rawValue),
            .optional(image.owner), .optional(image.size), .optional(image.virtualSize), .optional(image.diskFormat),
            .optional(image.containerFormat), .optional(image.checksum), .optional(image.osHashAlgo),
            .optional(image.osHashValue), .int(image.minDisk), .int(image.minRam), .bool(image.isProtected),
            .bool(image.osHidden), .int(image.createdAt.microseconds), .int(image.updatedAt.microseconds),
            image.deletedAt.map { .int($0.microseconds) } ?? .null,
            .text(JSONValue.object(image.properties).jsonString),
            .text(JSONValue.array(image.tags.map { .string($0) }).jsonString),
            .optional(image.location), .optional(image.storeId), .int(image.revision),
        ]
    }

    public struct DecodeError: Error {
        public let column: String
    }

    /// Rebuilds an image from a row in `columns` order.
    public static func decode(_ row: [SQLValue]) throws -> Image {
        func text(_ i: Int) -> String? { if case .text(let s) = row[i] { return s } else { return nil } }
        func int(_ i: Int) -> Int? { if case .int(let v) = row[i] { return Int(v) } else { return nil } }
        guard row.count == columns.count, let id = text(0),
              let status = text(2).flatMap(ImageStatus.init(rawValue:)),
              let visibility = text(3).flatMap(Visibility.init(rawValue:)),
              let created = int(16), let updated = int(17)
        else { throw DecodeError(column: "images") }
        var properties = JSONObject()
        if let json = text(19), case .object(let o)? = try? JSONValue.parse(json) { properties = o }
        var tags: [String] = []
        if let json = text(20), case .array(let a)? = try? JSONValue.parse(json) { tags = a.compactMap(\.stringValue) }
        return Image(
            id: id, name: text(1), status: status, visibility: visibility, owner: text(4), size: int(5),
            virtualSize: int(6), diskFormat: text(7), containerFormat: text(8), checksum: text(9),
            osHashAlgo: text(10), osHashValue: text(11), minDisk: int(12) ?? 0, minRam: int(13) ?? 0,
            isProtected: int(14) == 1, osHidden: int(15) == 1,
            createdAt: Timestamp(microseconds: Int64(created)), updatedAt: Timestamp(microseconds: Int64(updated)),
            deletedAt: int(18).map { Timestamp(microseconds: Int64($0)) }, properties: properties, tags: tags,
            location: text(21), storeId: text(22), revision: Int64(int(23) ?? 0))
    }

    /// The text a property filter compares with: strings as they are, other JSON as JSON.
    public static func indexText(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        return value.jsonString
    }
}
