import Logging
import OpenStackEncoding
import OpenStackJSON
import StreamDigests

/// Glance's locations: the legacy JSON-Patch operations on `/locations` (with
/// `show_multiple_locations`) and API 2.17's `POST`/`GET /v2/images/{id}/locations`, for
/// locations given as `http`/`https` URLs, which the read-only http store reads. Other
/// schemes (`file://` above all) are refused as Glance refuses them: 400 "Invalid location".
extension ImageService {
    /// A location a request names, checked: its store and, where the store tells, its size.
    struct CheckedLocation: Sendable {
        var copy: ImageLocation
        var size: Int?
        /// What the header of adopted data tells (see `virtualSize(ofAdopted:in:diskFormat:)`).
        var virtualSize: Int?

        /// Gives a queued image the size (and virtual size) of its new location's data.
        func describe(_ image: inout Image) {
            if image.size == nil { image.size = size }
            if image.virtualSize == nil { image.virtualSize = virtualSize }
        }
    }

    /// The URL `locations` show for a copy, if its store has one.
    public func locationURL(of copy: ImageLocation) -> String? {
        (try? blobs.store(for: copy))?.locationURL(location: copy.location)
    }

    /// Glance's check of a new location (`_check_location_uri`): a URL of the http store
    /// whose data the store can size, or, when `mayAdopt` (admins and services), a URL that
    /// names the image's own data in one of the image stores, written there by another
    /// service (`BlobStore.adopt`: Glance sharing the backend, Nova's direct snapshots);
    /// 400 "Invalid location" otherwise. Nobody else reaches the stores through a URL: a
    /// location of another image's data would hand its bytes over.
    func checkLocation(
        _ url: String, metadata: JSONObject, of image: Image, mayAdopt: Bool
    ) async throws -> CheckedLocation {
        let metadata = Self.withoutStore(metadata)
        if let http = blobs.http, HTTPLocationStore.handles(url), let size = await http.size(of: url) {
            return CheckedLocation(copy: ImageLocation(storeId: http.id, location: url, metadata: metadata), size: size)
        }
        if mayAdopt, !HTTPLocationStore.handles(url) {
            for store in blobs.all {
                guard let data = try await store.adopt(url: url, imageId: image.id) else { continue }
                logger.info(
                    "location adopted",
                    metadata: ["image_id": "\(image.id)", "store": "\(store.id)", "url": "\(StoreURL.redacted(url))"])
                return CheckedLocation(
                    copy: ImageLocation(storeId: store.id, location: data.location, metadata: metadata),
                    size: data.size,
                    virtualSize: await virtualSize(ofAdopted: data, in: store, diskFormat: image.diskFormat))
            }
        }
        logger.info("location refused", metadata: ["url": "\(StoreURL.redacted(url))"])
        throw ServiceError.badRequest("Invalid location")
    }

    /// The virtual size of adopted data, as an upload of it would have recorded: its size for
    /// `raw`; for formats whose header alone gives it, read from the first 64 KiB; nil for the
    /// others (VMDK and VHDX keep theirs in regions one header read does not reach), for data
    /// that is not in its declared format, or when the read fails.
    func virtualSize(ofAdopted data: AdoptedData, in store: any BlobStore, diskFormat: String?) async -> Int? {
        if diskFormat == "raw" { return data.size }
        guard let diskFormat, ["qcow2", "qed", "vdi", "vhd", "iso"].contains(diskFormat), data.size > 0 else {
            return nil
        }
        var inspector = FormatInspector()
        do {
            let head = try await store.read(
                location: data.location, range: 0...(min(data.size, FormatInspector.headLength) - 1))
            for try await chunk in head { inspector.feed(chunk) }
        } catch {
            return nil
        }
        let result = inspector.result()
        return result.format == diskFormat ? result.virtualSize : nil
    }

    /// The locations the operations of a PATCH add or set, checked before the image is read
    /// (the checks ask the network), by URL; 403 when locations are not shown.
    func checkPatchLocations(
        _ ops: [PatchOperation], image id: String, by p: Principal
    ) async throws
        -> [String: CheckedLocation]
    {
        var checked: [String: CheckedLocation] = [:]
        guard ops.contains(where: { $0.attribute == "locations" }) else { return checked }
        // The image schema's `locations` first, as Glance's request deserializer checks it.
        for op in ops where op.attribute == "locations" && op.op != .remove {
            let value = op.value ?? .null
            if let failure = schemas.imageValidator.validateProperty(
                "locations", op.position == nil ? value : .array([value]))
            {
                throw schemas.imageValidator.error(for: failure)
            }
        }
        // Who may change the image, and whether its status allows it, before any URL is asked.
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        try policy.enforce(.modifyImage, p, .image(image))
        let existing = Set(image.locations.compactMap(locationURL(of:)))
        var count = image.locations.count
        for op in ops where op.attribute == "locations" {
            try policy.enforce(op.op == .remove ? .deleteImageLocation : .setImageLocation, p, .image(image))
            if op.op == .replace, op.value?.arrayValue?.isEmpty ?? false {
                throw ServiceError.forbiddenDetail("Cannot set locations to empty list.")
            }
            guard config.showMultipleLocations else {
                let verb = ["add": "add", "replace": "update", "remove": "remove"][op.op.rawValue] ?? ""
                throw ServiceError.forbiddenDetail("It's not allowed to \(verb) locations if locations are invisible.")
            }
            if op.op != .remove, image.status != .active, image.status != .queued {
                let verb = op.op == .add ? "add" : "replace"
                throw ServiceError.conflict(
                    "It's not allowed to \(verb) locations if image status is \(image.status.rawValue).")
            }
            let values: [JSONValue] =
                switch op.op {
                case .add: [op.value ?? .null]
                case .replace: op.value?.arrayValue ?? [.null]
                case .remove: []
                }
            // Glance's image_location_quota, before any URL is asked.
            count = op.op == .add ? count + 1 : op.op == .replace ? max(count, values.count) : count - 1
            if count > config.imageLocationQuota {
                throw ServiceError.tooLarge(
                    "The limit has been exceeded on the number of allowed image locations. Attempted: \(count), Maximum: \(config.imageLocationQuota)"
                )
            }
            // The data a removal drops must be deletable (an RBD snapshot with clones is not).
            if op.op == .remove, image.status == .active,
                let position = Self.locationPosition(op.position, count: shownLocations(image).count, adding: false)
            {
                let copy = shownLocations(image)[position]
                try await blobs.store(for: copy).checkDeletable(location: copy.location)
            }
            for value in values {
                let entry = try Self.locationEntry(value)
                // An existing location's URL is not checked again: only its metadata may change.
                if checked[entry.url] == nil, !existing.contains(entry.url) {
                    checked[entry.url] = try await checkLocation(
                        entry.url, metadata: entry.metadata, of: image,
                        mayAdopt: policy.allows(.serviceAPI, p, .image(image)))
                }
            }
        }
        return checked
    }

    /// One location of a PATCH value, as Glance's schema takes it: `url` (at most 255
    /// characters) and `metadata` (an object) required, `validation_data` optional.
    static func locationEntry(
        _ value: JSONValue
    ) throws(ServiceError) -> (
        url: String, metadata: JSONObject, validation: JSONObject?
    ) {
        guard let o = value.objectValue, let url = o["url"]?.stringValue, url.count <= 255,
            let metadata = o["metadata"]?.objectValue
        else { throw .badRequest("Invalid location: \(PythonRepr.repr(value))") }
        var validation: JSONObject?
        if let v = o["validation_data"] {
            guard let data = v.objectValue, data["os_hash_algo"]?.stringValue != nil,
                data["os_hash_value"]?.stringValue != nil,
                data.allSatisfy({ ["checksum", "os_hash_algo", "os_hash_value"].contains($0.key) })
            else { throw .badRequest("Invalid validation_data: \(PythonRepr.repr(v))") }
            validation = data
        }
        return (url, metadata, validation)
    }

    /// Applies one `/locations` operation (its locations checked by `checkPatchLocations`),
    /// as Glance's `_do_add_locations`, `_do_replace_locations`, `_do_remove_locations`;
    /// `removed` collects the copies whose data is to be deleted.
    func applyLocations(
        _ op: PatchOperation, to image: inout Image, checked: [String: CheckedLocation],
        removed: inout [ImageLocation]
    ) throws(ServiceError) {
        switch op.op {
        case .add:
            guard image.status == .active || image.status == .queued else {
                throw .conflict("It's not allowed to add locations if image status is \(image.status.rawValue).")
            }
            let entry = try Self.locationEntry(op.value ?? .null)
            let values = try Self.validationValues(image, [entry.validation].compactMap { $0 })
            let shown = shownLocations(image)
            guard let position = Self.locationPosition(op.position, count: shown.count, adding: true)
            else { throw .badRequest("Invalid position for adding a location.") }
            guard var new = checked[entry.url] else { throw .badRequest("Invalid location") }
            new.copy.metadata = Self.withoutStore(entry.metadata)
            // The same URL and metadata, or the same data adopted again (a store without URLs).
            if image.locations.contains(where: {
                locationURL(of: $0) == entry.url && $0.metadata == new.copy.metadata || sameStoredData($0, new.copy)
            }) {
                throw .badRequest("The location \(entry.url) already exists")
            }
            // Positions count the locations as they are shown.
            let before = position < shown.count ? image.locations.firstIndex(of: shown[position]) : nil
            image.locations.insert(new.copy, at: before ?? image.locations.endIndex)
            new.describe(&image)
            try Self.activate(&image, with: values)
        case .replace:
            guard image.status == .active || image.status == .queued else {
                throw .conflict("It's not allowed to replace locations if image status is \(image.status.rawValue).")
            }
            var entries: [(url: String, metadata: JSONObject, validation: JSONObject?)] = []
            for v in op.value?.arrayValue ?? [] { entries.append(try Self.locationEntry(v)) }
            let values = try Self.validationValues(image, entries.compactMap { $0.validation })
            let current = shownLocations(image).map { (copy: $0, url: locationURL(of: $0) ?? "") }
            if !current.isEmpty, current.map({ $0.url }).sorted() == entries.map({ $0.url }).sorted() {
                // The same locations: their metadata changes; copies not shown stay as they are.
                var remaining = current
                let updated = entries.map { entry in
                    let i = remaining.firstIndex { $0.url == entry.url }!
                    var copy = remaining.remove(at: i).copy
                    copy.metadata = Self.withoutStore(entry.metadata)
                    return copy
                }
                image.locations = image.locations.filter { copy in !current.contains { $0.copy == copy } } + updated
            } else {
                // Copies not shown (stores without URLs) hold data too: the image is not empty.
                guard image.locations.isEmpty else {
                    throw .badRequest(
                        "Original locations is not empty: \(current.map { $0.url }.joined(separator: ", "))")
                }
                var new: [ImageLocation] = []
                for entry in entries {
                    guard var checkedEntry = checked[entry.url] else { throw .badRequest("Invalid location") }
                    checkedEntry.copy.metadata = Self.withoutStore(entry.metadata)
                    if new.contains(where: { $0 == checkedEntry.copy || sameStoredData($0, checkedEntry.copy) }) {
                        throw .badRequest("The location \(entry.url) already exists")
                    }
                    new.append(checkedEntry.copy)
                    checkedEntry.describe(&image)
                }
                image.locations = new
            }
            try Self.activate(&image, with: values)
        case .remove:
            guard image.status == .active else {
                throw .conflict("It's not allowed to remove locations if image status is \(image.status.rawValue).")
            }
            if image.locations.count == 1 { throw .forbiddenDetail("Cannot remove last location in the image.") }
            let shown = shownLocations(image)
            guard let position = Self.locationPosition(op.position, count: shown.count, adding: false)
            else { throw .badRequest("Invalid position for removing a location.") }
            image.locations.removeAll { $0 == shown[position] }
            if !image.locations.contains(where: { sameStoredData($0, shown[position]) }) {
                removed.append(shown[position])
            }
        }
    }

    /// Whether two copies name the same data of a store that deletes it (whatever their
    /// metadata): removing one must not delete the data under the other.
    func sameStoredData(_ a: ImageLocation, _ b: ImageLocation) -> Bool {
        a.storeId != blobs.http?.id && a.storeId == b.storeId && a.location == b.location
    }

    /// The image's copies as `locations` lists them (and as positions count them): those with
    /// a URL, in the order reads prefer (by store weight).
    func shownLocations(_ image: Image) -> [ImageLocation] {
        guard image.hasData else { return [] }
        return image.locations.ordered(by: blobs.weights).filter { locationURL(of: $0) != nil }
    }

    static func withoutStore(_ metadata: JSONObject) -> JSONObject {
        var m = metadata
        m.removeValue(forKey: "store")
        return m
    }

    /// A queued image that now has a location becomes active, with the validation values.
    static func activate(_ image: inout Image, with values: JSONObject) throws(ServiceError) {
        guard image.status == .queued, !image.locations.isEmpty else { return }
        for m in values {
            switch m.key {
            case "checksum": image.checksum = m.value.stringValue
            case "os_hash_algo": image.osHashAlgo = m.value.stringValue
            case "os_hash_value": image.osHashValue = m.value.stringValue
            default: break
            }
        }
        try image.transition(to: .active)
    }

    /// Glance's `_get_locations_op_pos`: a number, or `-` for the end (adding) or the last
    /// location (removing).
    static func locationPosition(_ text: String?, count: Int, adding: Bool) -> Int? {
        guard let text else { return nil }
        if text == "-" { return adding ? count : (count > 0 ? count - 1 : nil) }
        guard !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let n = Int(text) else {
            return nil
        }
        return adding ? (n <= count ? n : nil) : (n < count ? n : nil)
    }

    /// Glance's `_validate_validation_data`: the values the locations' validation data give
    /// that the image does not have yet (409 on a conflict, a value already set otherwise,
    /// a new value for an image that is not queued, or a malformed one).
    static func validationValues(_ image: Image, _ data: [JSONObject]) throws(ServiceError) -> JSONObject {
        var merged = JSONObject()
        for d in data {
            for m in d {
                if let existing = merged[m.key], existing != m.value {
                    throw .conflict("Conflicting values for \(m.key)")
                }
                merged[m.key] = m.value
            }
        }
        var new = JSONObject()
        for m in merged {
            let (k, v) = (m.key, m.value)
            let current: String? =
                switch k {
                case "checksum": image.checksum
                case "os_hash_algo": image.osHashAlgo
                default: image.osHashValue
                }
            if v.stringValue == current { continue }
            if current != nil { throw .conflict("\(k) is already set with a different value") }
            new[k] = v
        }
        if new.isEmpty { return new }
        guard image.status == .queued else {
            throw .conflict(
                "New value(s) for \(new.map(\.key).joined(separator: ", ")) may only be provided when image status is 'queued'"
            )
        }
        if let checksum = new["checksum"]?.stringValue {
            guard let bytes = Hex.decode(checksum) else {
                throw .conflict("checksum (\(checksum)) is not a valid hexadecimal value")
            }
            if bytes.count != 16 {
                throw .conflict("checksum (\(checksum)) is not the correct size for md5 (should be 16 bytes)")
            }
        }
        let algo = new["os_hash_algo"]?.stringValue
        guard algo == Self.hashingAlgorithm else {
            throw .conflict("os_hash_algo must be \(Self.hashingAlgorithm), not \(algo ?? "None")")
        }
        let value = new["os_hash_value"]?.stringValue ?? ""
        guard let bytes = Hex.decode(value) else {
            throw .conflict("os_hash_value (\(value)) is not a valid hexadecimal value")
        }
        if bytes.count != 64 {
            throw .conflict("os_hash_value (\(value)) is not the correct size for sha512 (should be 64 bytes)")
        }
        return new
    }

    /// Glance's `hashing_algorithm`.
    static let hashingAlgorithm = "sha512"
}
