import OpenStackJSON

/// The JSON schemas the image API serves under `/v2/schemas/…` and validates bodies with.
public struct ImageSchemas: Sendable {
    public let image: JSONValue
    public let images: JSONValue
    public let member: JSONValue
    public let members: JSONValue
    /// Names of the stock custom properties (`"is_base": false` in the image schema).
    public let customPropertyNames: Set<String>
    /// Attributes that are part of the image itself rather than custom properties.
    public static let coreAttributes: Set<String> = ImageAttributes.core

    /// Validator for image bodies and patch changes.
    public let imageValidator: SchemaValidator

    public init(config: ImageServiceConfig) {
        var image = (try? JSONValue.parse(defaultImageSchemaJSON)) ?? .object(JSONObject())
        if case .object(var root) = image, case .object(var props)? = root["properties"] {
            for (key, values) in [("disk_format", config.diskFormats), ("container_format", config.containerFormats)] {
                if case .object(var p)? = props[key] {
                    p["enum"] = .array([.null] + values.map { .string($0) })
                    props[key] = .object(p)
                }
            }
            root["properties"] = .object(props)
            image = .object(root)
        }
        self.image = image
        self.customPropertyNames = Set(
            (image["properties"]?.objectValue ?? JSONObject()).filter { $0.value["is_base"] == .bool(false) }.map(\.key)
        )
        // Glance accepts only strings as custom property values; Glimpse keeps any JSON value,
        // so `additionalProperties` is served for clients but not enforced.
        self.imageValidator = SchemaValidator(schemaName: "image", schema: image, checkAdditionalProperties: false)

        self.images = [
            "name": "images",
            "properties": [
                "images": ["type": "array", "items": image],
                "first": ["type": "string"],
                "next": ["type": "string"],
                "schema": ["type": "string"],
            ],
            "links": [
                ["rel": "first", "href": "{first}"],
                ["rel": "next", "href": "{next}"],
                ["rel": "describedby", "href": "{schema}"],
            ],
        ]
        let member: JSONValue = [
            "name": "member",
            "properties": [
                "member_id": ["type": "string", "description": "An identifier for the image member (tenantId)"],
                "image_id": [
                    "type": "string", "description": "An identifier for the image", "pattern": .string(uuidPattern),
                ],
                "created_at": ["type": "string", "description": "Date and time of image member creation"],
                "updated_at": ["type": "string", "description": "Date and time of last modification of image member"],
                "status": [
                    "type": "string", "description": "The status of this image member",
                    "enum": ["pending", "accepted", "rejected"],
                ],
                "schema": ["readOnly": true, "type": "string"],
            ],
        ]
        self.member = member
        self.members = [
            "name": "members",
            "properties": [
                "members": ["type": "array", "items": member],
                "schema": ["type": "string"],
            ],
            "links": [["rel": "describedby", "href": "{schema}"]],
        ]
    }
}
