import GlimpseCore
import OpenStackEncoding
import OpenStackJSON

/// How an `Image` maps to the `images` table and its side tables: `image_locations` (the
/// copies of its data, read with every image), `image_tags` and `image_properties` (which
/// exist only to make tag and property filters indexed, and carry the image's `created_at`
/// so that their matches come in the default order).
public enum ImageTable {
    /// Columns in the order `values(of:)` and `decode(_:)` use.
    public static let columns = [
        "id", "name", "status", "visibility", "owner", "size", "virtual_size", "disk_format", "container_format",
        "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "protected", "os_hidden",
        "created_at", "updated_at", "deleted_at", "properties", "tags", "revision",
    ]

    /// `i.id, i.name, …` for SELECTs.
    public static let selectList = columns.map { "i." + $0 }.joined(separator: ", ")

    static let insertSQL =
        "INSERT INTO images (\(columns.joined(separator: ", "))) VALUES ("
        + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"

    static let selectByIdSQL = "SELECT \(selectList) FROM images i WHERE i.id = ?"
    static let selectLiveByIdSQL = selectByIdSQL + " AND i.deleted_at IS NULL"

    public static func values(of image: Image) -> [SQLValue] {
        [
            .text(image.id), .optional(image.name), .text(image.status.rawValue), .text(image.visibility.rawValue),
            .optional(image.owner), .optional(image.size), .optional(image.virtualSize), .optional(image.diskFormat),
            .optional(image.containerFormat), .optional(image.checksum), .optional(image.osHashAlgo),
            .optional(image.osHashValue), .int(image.minDisk), .int(image.minRam), .bool(image.isProtected),
            .bool(image.osHidden), .int(image.createdAt.microseconds), .int(image.updatedAt.microseconds),
            image.deletedAt.map { .int($0.microseconds) } ?? .null,
            .text(JSONValue.object(image.properties).jsonString),
            .text(JSONValue.array(image.tags.map { .string($0) }).jsonString), .int(image.revision),
        ]
    }

    /// A stored image row that cannot be read back: a damaged database, never a reason to
    /// show (or save back) an image without its properties.
    public struct DecodeError: Error, CustomStringConvertible {
        public let imageId: String
        public let column: String
        public var description: String { "image \(imageId): the stored \(column) cannot be read" }
    }

    /// Rebuilds an image from a row in `columns` order (without its locations: see
    /// `SQLMetadataStore.withLocations`).
    public static func decode(_ row: SQLRow) throws -> Image {
        let id = row.text(0) ?? ""
        func fail(_ column: String) -> DecodeError { DecodeError(imageId: id, column: column) }
        guard row.values.count == columns.count, !id.isEmpty else { throw fail("row") }
        guard let status = row.text(2).flatMap(ImageStatus.init(rawValue:)) else { throw fail("status") }
        guard let visibility = row.text(3).flatMap(Visibility.init(rawValue:)) else { throw fail("visibility") }
        guard let created = row.int(16), let updated = row.int(17) else { throw fail("timestamps") }
        guard let propertiesText = row.text(19), case .object(let properties)? = try? JSONValue.parse(propertiesText)
        else { throw fail("properties") }
        guard let tagsText = row.text(20), case .array(let tagValues)? = try? JSONValue.parse(tagsText) else {
            throw fail("tags")
        }
        let tags = tagValues.compactMap(\.stringValue)
        guard tags.count == tagValues.count else { throw fail("tags") }
        func int(_ i: Int) -> Int? { row.int(i).map(Int.init) }
        return Image(
            id: id, name: row.text(1), status: status, visibility: visibility, owner: row.text(4), size: int(5),
            virtualSize: int(6), diskFormat: row.text(7), containerFormat: row.text(8), checksum: row.text(9),
            osHashAlgo: row.text(10), osHashValue: row.text(11), minDisk: int(12) ?? 0, minRam: int(13) ?? 0,
            isProtected: row.bool(14), osHidden: row.bool(15),
            createdAt: Timestamp(microseconds: created), updatedAt: Timestamp(microseconds: updated),
            deletedAt: row.int(18).map { Timestamp(microseconds: $0) }, properties: properties, tags: tags,
            revision: row.int(21) ?? 0)
    }

    /// The text a property filter compares with: strings as they are, other JSON as JSON.
    public static func indexText(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        return value.jsonString
    }
}
