import Foundation
import OpenStackJSON

/// An open set of string values: known ones are constants, unknown ones still decode.
public protocol OpenStringValue: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
where RawValue == String {
    init(rawValue: String)
}

extension OpenStringValue {
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public var description: String { rawValue }
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// An image's status (`active`, `queued`, …); values the SDK does not know still decode.
public struct ImageStatus: OpenStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let queued: ImageStatus = "queued"
    public static let saving: ImageStatus = "saving"
    public static let uploading: ImageStatus = "uploading"
    public static let importing: ImageStatus = "importing"
    public static let active: ImageStatus = "active"
    public static let deactivated: ImageStatus = "deactivated"
    public static let killed: ImageStatus = "killed"
    public static let deleted: ImageStatus = "deleted"
    public static let pendingDelete: ImageStatus = "pending_delete"
}

/// Who may see an image.
public struct ImageVisibility: OpenStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let `public`: ImageVisibility = "public"
    public static let `private`: ImageVisibility = "private"
    public static let shared: ImageVisibility = "shared"
    public static let community: ImageVisibility = "community"
}

/// The format of the disk inside an image.
public struct DiskFormat: OpenStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let raw: DiskFormat = "raw"
    public static let qcow2: DiskFormat = "qcow2"
    public static let vmdk: DiskFormat = "vmdk"
    public static let vhd: DiskFormat = "vhd"
    public static let vhdx: DiskFormat = "vhdx"
    public static let vdi: DiskFormat = "vdi"
    public static let iso: DiskFormat = "iso"
    public static let ploop: DiskFormat = "ploop"
    public static let ami: DiskFormat = "ami"
    public static let ari: DiskFormat = "ari"
    public static let aki: DiskFormat = "aki"
}

/// The container the disk comes in.
public struct ContainerFormat: OpenStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let bare: ContainerFormat = "bare"
    public static let ovf: ContainerFormat = "ovf"
    public static let ova: ContainerFormat = "ova"
    public static let docker: ContainerFormat = "docker"
    public static let compressed: ContainerFormat = "compressed"
    public static let ami: ContainerFormat = "ami"
    public static let ari: ContainerFormat = "ari"
    public static let aki: ContainerFormat = "aki"
}

/// A member project's answer to a share.
public struct MemberStatus: OpenStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let pending: MemberStatus = "pending"
    public static let accepted: MemberStatus = "accepted"
    public static let rejected: MemberStatus = "rejected"
}

/// An image as the image service (Glance v2) describes it.
///
/// Well-known attributes are typed; every other attribute the server sends (`hw_*`,
/// `os_distro`, `os_glance_*`, any JSON value) is kept in ``properties``, in the server's
/// order, and written back flat when the image is encoded — nothing is dropped.
public struct Image: Sendable, Hashable, Codable {
    public var id: String
    public var name: String?
    public var status: ImageStatus
    public var visibility: ImageVisibility
    public var owner: String?
    public var size: Int64?
    public var virtualSize: Int64?
    public var diskFormat: DiskFormat?
    public var containerFormat: ContainerFormat?
    /// MD5 of the data, hex.
    public var checksum: String?
    /// The algorithm of ``osHashValue`` (`sha512`).
    public var osHashAlgo: String?
    public var osHashValue: String?
    public var minDisk: Int
    public var minRam: Int
    public var isProtected: Bool
    /// `os_hidden`: left out of default listings.
    public var isHidden: Bool
    public var tags: [String]
    public var createdAt: Date?
    public var updatedAt: Date?
    /// Relative links (`/v2/images/<id>`, `…/file`, `/v2/schemas/image`).
    public var selfLink: String?
    public var file: String?
    public var schema: String?
    /// Stores holding the data (multi-store clouds).
    public var stores: String?
    /// Where other services read the data directly (`rbd://fsid/pool/image/snap`), when the
    /// server shows it (`show_image_direct_url`).
    public var directURL: String?
    /// Every copy's `{"url", "metadata"}`, when the server shows them (`show_multiple_locations`).
    public var locations: JSONValue?
    /// Every other attribute: custom properties.
    public var properties: JSONObject

    /// Attributes that are not custom properties.
    static let known: Set<String> = [
        "id", "name", "status", "visibility", "owner", "size", "virtual_size", "disk_format", "container_format",
        "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "protected", "os_hidden", "tags",
        "created_at", "updated_at", "self", "file", "schema", "stores", "direct_url", "locations",
    ]

    /// The URLs of the data's copies the server shows: each of `locations`, or `direct_url`.
    public var locationURLs: [String] {
        let urls = locations?.arrayValue?.compactMap { $0["url"]?.stringValue } ?? []
        return urls.isEmpty ? directURL.map { [$0] } ?? [] : urls
    }

    /// Reads an image from its JSON, leniently (numbers as strings, booleans as strings).
    public init(json: JSONValue) throws {
        guard case .object(let o) = json, let id = o["id"]?.stringValue else {
            throw OpenStackError(.invalidResponse, "an image without an id")
        }
        func str(_ k: String) -> String? { o[k]?.stringValue }
        func int(_ k: String) -> Int64? {
            switch o[k] {
            case .number(let n)?: n.intValue.map(Int64.init) ?? n.doubleValue.map { Int64($0) }
            case .string(let s)?: Int64(s)
            default: nil
            }
        }
        func bool(_ k: String) -> Bool {
            switch o[k] {
            case .bool(let b)?: b
            case .string(let s)?: s.lowercased() == "true"
            default: false
            }
        }
        self.id = id
        name = str("name")
        status = ImageStatus(rawValue: str("status") ?? "unknown")
        visibility = ImageVisibility(rawValue: str("visibility") ?? "private")
        owner = str("owner")
        size = int("size")
        virtualSize = int("virtual_size")
        diskFormat = str("disk_format").map(DiskFormat.init(rawValue:))
        containerFormat = str("container_format").map(ContainerFormat.init(rawValue:))
        checksum = str("checksum")
        osHashAlgo = str("os_hash_algo")
        osHashValue = str("os_hash_value")
        minDisk = Int(int("min_disk") ?? 0)
        minRam = Int(int("min_ram") ?? 0)
        isProtected = bool("protected")
        isHidden = bool("os_hidden")
        tags = o["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        createdAt = str("created_at").flatMap(parseDate)
        updatedAt = str("updated_at").flatMap(parseDate)
        selfLink = str("self")
        file = str("file")
        schema = str("schema")
        stores = str("stores")
        directURL = str("direct_url")
        locations = o["locations"]
        properties = JSONObject(o.members.filter { !Self.known.contains($0.key) })
    }

    /// The image as Glance writes it: properties first, then the attributes.
    public var json: JSONValue {
        var o = properties
        func set(_ k: String, _ v: JSONValue?) { if let v { o[k] = v } }
        o["name"] = .optionalString(name)
        o["disk_format"] = .optionalString(diskFormat?.rawValue)
        o["container_format"] = .optionalString(containerFormat?.rawValue)
        o["visibility"] = .string(visibility.rawValue)
        o["size"] = size.map { .number(JSONNumber($0)) } ?? .null
        o["virtual_size"] = virtualSize.map { .number(JSONNumber($0)) } ?? .null
        o["status"] = .string(status.rawValue)
        o["checksum"] = .optionalString(checksum)
        o["protected"] = .bool(isProtected)
        o["min_ram"] = .number(JSONNumber(minRam))
        o["min_disk"] = .number(JSONNumber(minDisk))
        o["owner"] = .optionalString(owner)
        o["os_hidden"] = .bool(isHidden)
        o["os_hash_algo"] = .optionalString(osHashAlgo)
        o["os_hash_value"] = .optionalString(osHashValue)
        o["id"] = .string(id)
        set("created_at", createdAt.map { .string(formatDate($0)) })
        set("updated_at", updatedAt.map { .string(formatDate($0)) })
        o["tags"] = .array(tags.map { .string($0) })
        set("self", selfLink.map { .string($0) })
        set("file", file.map { .string($0) })
        set("schema", schema.map { .string($0) })
        set("stores", stores.map { .string($0) })
        set("direct_url", directURL.map { .string($0) })
        set("locations", locations)
        return .object(o)
    }

    public init(from decoder: any Decoder) throws {
        try self.init(json: .object(try JSONObject(from: decoder)))
    }

    public func encode(to encoder: any Encoder) throws {
        try json.objectValue?.encode(to: encoder)
    }

    /// A custom property's value.
    public subscript(property key: String) -> JSONValue? {
        get { properties[key] }
        set { properties[key] = newValue }
    }
}

/// A project an image is shared with.
public struct ImageMember: Sendable, Hashable, Codable {
    public var imageId: String
    public var memberId: String
    public var status: MemberStatus
    public var createdAt: Date?
    public var updatedAt: Date?

    init(json: JSONValue) throws {
        guard let image = json["image_id"]?.stringValue, let member = json["member_id"]?.stringValue else {
            throw OpenStackError(.invalidResponse, "a member without image_id or member_id")
        }
        imageId = image
        memberId = member
        status = MemberStatus(rawValue: json["status"]?.stringValue ?? "pending")
        createdAt = json["created_at"]?.stringValue.flatMap(parseDate)
        updatedAt = json["updated_at"]?.stringValue.flatMap(parseDate)
    }
}

/// What a new image starts with.
public struct ImageCreate: Sendable, Hashable {
    public var name: String?
    public var id: String?
    public var diskFormat: DiskFormat?
    public var containerFormat: ContainerFormat?
    public var visibility: ImageVisibility?
    public var tags: [String]
    public var minDisk: Int?
    public var minRam: Int?
    public var isProtected: Bool?
    public var isHidden: Bool?
    /// Admins only: create for another project.
    public var owner: String?
    /// Custom properties, any JSON value.
    public var properties: JSONObject

    public init(
        name: String? = nil, id: String? = nil, diskFormat: DiskFormat? = nil, containerFormat: ContainerFormat? = nil,
        visibility: ImageVisibility? = nil, tags: [String] = [], minDisk: Int? = nil, minRam: Int? = nil,
        isProtected: Bool? = nil, isHidden: Bool? = nil, owner: String? = nil, properties: JSONObject = [:]
    ) {
        self.name = name
        self.id = id
        self.diskFormat = diskFormat
        self.containerFormat = containerFormat
        self.visibility = visibility
        self.tags = tags
        self.minDisk = minDisk
        self.minRam = minRam
        self.isProtected = isProtected
        self.isHidden = isHidden
        self.owner = owner
        self.properties = properties
    }

    var json: JSONValue {
        var o = properties
        if let name { o["name"] = .string(name) }
        if let id { o["id"] = .string(id) }
        if let diskFormat { o["disk_format"] = .string(diskFormat.rawValue) }
        if let containerFormat { o["container_format"] = .string(containerFormat.rawValue) }
        if let visibility { o["visibility"] = .string(visibility.rawValue) }
        if !tags.isEmpty { o["tags"] = .array(tags.map { .string($0) }) }
        if let minDisk { o["min_disk"] = .number(JSONNumber(minDisk)) }
        if let minRam { o["min_ram"] = .number(JSONNumber(minRam)) }
        if let isProtected { o["protected"] = .bool(isProtected) }
        if let isHidden { o["os_hidden"] = .bool(isHidden) }
        if let owner { o["owner"] = .string(owner) }
        return .object(o)
    }
}

/// One JSON-Patch change of an image (`application/openstack-images-v2.1-json-patch`).
public enum ImagePatch: Sendable, Hashable {
    /// Sets an attribute or property (replacing an existing value).
    case add(String, JSONValue)
    /// Replaces an attribute or an existing property.
    case replace(String, JSONValue)
    /// Removes a custom property.
    case remove(String)

    /// The operation as sent on the wire.
    public var json: JSONValue {
        switch self {
        case .add(let k, let v): ["op": "add", "path": .string(Self.pointer(k)), "value": v]
        case .replace(let k, let v): ["op": "replace", "path": .string(Self.pointer(k)), "value": v]
        case .remove(let k): ["op": "remove", "path": .string(Self.pointer(k))]
        }
    }

    /// `/key` with RFC 6901 escaping (`~` → `~0`, `/` → `~1`); a key already starting with
    /// `/` is taken as a pointer.
    static func pointer(_ key: String) -> String {
        if key.hasPrefix("/") { return key }
        return "/" + key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// The changes that turn `old` into `new`: set what differs, remove custom properties
    /// that are gone. Read-only attributes and base attributes are never removed.
    public static func diff(from old: Image, to new: Image) -> [ImagePatch] {
        var ops: [ImagePatch] = []
        let a = old.json.objectValue ?? [:]
        let b = new.json.objectValue ?? [:]
        let writable = [
            "name", "visibility", "protected", "os_hidden", "min_disk", "min_ram", "disk_format",
            "container_format", "tags", "owner",
        ]
        for key in writable where a[key] != b[key] {
            if let v = b[key] { ops.append(.replace(key, v)) }
        }
        for m in new.properties where old.properties[m.key] != m.value { ops.append(.add(m.key, m.value)) }
        for m in old.properties where new.properties[m.key] == nil { ops.append(.remove(m.key)) }
        return ops
    }
}

/// A data store of a multi-store cloud, as `/v2/info/stores[/detail]` describes it.
public struct ImageStoreInfo: Sendable, Hashable {
    public var id: String
    public var description: String?
    public var isDefault: Bool
    public var isReadOnly: Bool
    /// Detail only: the driver (`file`, `rbd`, `swift`, `s3`, …).
    public var type: String?
    /// Detail only: downloads prefer stores of higher weight.
    public var weight: Int?
    /// Detail only: driver settings the cloud shows.
    public var properties: JSONObject?

    init?(_ json: JSONValue) {
        guard let id = json["id"]?.stringValue else { return nil }
        self.id = id
        description = json["description"]?.stringValue
        // Glance writes these flags as the strings "true".
        isDefault = json["default"] == "true" || json["default"] == true
        isReadOnly = json["read-only"] == "true" || json["read-only"] == true
        type = json["type"]?.stringValue
        weight = json["weight"]?.intValue
        properties = json["properties"]?.objectValue
    }
}
