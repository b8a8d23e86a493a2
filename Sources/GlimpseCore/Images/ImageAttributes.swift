import OpenStackJSON

/// Which top-level image attributes clients may set, and how each is checked.
enum ImageAttributes {
    /// Core attributes stored in columns (everything else is a custom property).
    static let core: Set<String> = [
        "id", "name", "status", "visibility", "owner", "size", "virtual_size", "disk_format", "container_format",
        "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "protected", "os_hidden",
        "created_at", "updated_at", "tags", "self", "file", "schema", "direct_url", "locations", "stores",
    ]
    /// Never writable.
    static let readOnly: Set<String> = [
        "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size", "created_at", "updated_at",
        "self", "file", "schema", "direct_url", "stores",
    ]
    /// Names no image may carry as properties.
    static let reserved: Set<String> = ["location", "deleted", "deleted_at"]

    static func isReserved(_ name: String) -> Bool { reserved.contains(name) || name.hasPrefix("os_glance") }

    /// Writes one validated attribute into an image. The value has already passed the schema.
    static func apply(_ name: String, _ value: JSONValue, to image: inout Image) {
        switch name {
        case "name": image.name = value.stringValue
        case "visibility": image.visibility = value.stringValue.flatMap(Visibility.init(rawValue:)) ?? image.visibility
        case "owner": image.owner = value.stringValue
        case "disk_format": image.diskFormat = value.stringValue
        case "container_format": image.containerFormat = value.stringValue
        case "min_disk": image.minDisk = value.intValue ?? 0
        case "min_ram": image.minRam = value.intValue ?? 0
        case "protected": image.isProtected = value.boolValue ?? false
        case "os_hidden": image.osHidden = value.boolValue ?? false
        case "tags": image.tags = uniqueTags(value.arrayValue?.compactMap(\.stringValue) ?? [])
        default: image.properties[name] = value
        }
    }

    /// The current JSON value of an attribute, nil if it is an unset custom property.
    static func value(_ name: String, of image: Image) -> JSONValue? {
        switch name {
        case "name": .optionalString(image.name)
        case "visibility": .string(image.visibility.rawValue)
        case "owner": .optionalString(image.owner)
        case "disk_format": .optionalString(image.diskFormat)
        case "container_format": .optionalString(image.containerFormat)
        case "min_disk": .number(JSONNumber(image.minDisk))
        case "min_ram": .number(JSONNumber(image.minRam))
        case "protected": .bool(image.isProtected)
        case "os_hidden": .bool(image.osHidden)
        case "tags": .array(image.tags.map { .string($0) })
        default: image.properties[name]
        }
    }

    /// Tags form a set: the first occurrence wins, order kept.
    static func uniqueTags(_ tags: [String]) -> [String] {
        var seen = Set<String>()
        return tags.filter { seen.insert($0).inserted }
    }

    /// Glance's extra checks on `min_disk`/`min_ram` beyond the schema.
    static func checkLimits(_ name: String, _ value: JSONValue) throws(ServiceError) {
        guard name == "min_disk" || name == "min_ram", case .number(let n) = value else { return }
        if n.text.hasPrefix("-") {
            throw .badRequest("Invalid value '\(n.text)' for parameter '\(name)': Cannot be a negative value")
        }
        guard let v = n.intValue, v <= Int(Int32.max) else {
            throw .badRequest("Invalid value '\(n.text)' for parameter '\(name)': Value must be <= 2147483647")
        }
    }

    /// Largest custom property value, in bytes (of the string, or of other JSON as written):
    /// what Glance's database column holds.
    static let maxPropertyValueBytes = 65535

    /// Custom property keys are 1–255 characters; values at most `maxPropertyValueBytes`.
    static func checkProperty(_ name: String, _ value: JSONValue) throws(ServiceError) {
        if name.unicodeScalars.count > 255 {
            throw .badRequest("Custom property should not be greater than 255 characters.")
        }
        if name.isEmpty {
            throw .badRequest("Custom property name must not be empty.")
        }
        let size = value.stringValue?.utf8.count ?? value.serialized().count
        if size > maxPropertyValueBytes {
            throw .badRequest(
                "Value of custom property '\(name)' should not be greater than \(maxPropertyValueBytes) bytes.")
        }
    }
}

extension ImageService {
    /// Whether `name` is an attribute or a reserved name, not a property an operator may
    /// have imports set.
    public static func isProtectedName(_ name: String) -> Bool {
        ImageAttributes.core.contains(name) || ImageAttributes.isReserved(name)
    }
}
