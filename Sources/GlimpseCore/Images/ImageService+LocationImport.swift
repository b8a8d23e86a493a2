import Logging
import NIOCore
import NIOPosix
import OpenStackEncoding
import OpenStackJSON
import StreamDigests

/// API 2.17's locations: `POST /v2/images/{id}/locations` adds a location to a queued image
/// as Glance's `location_import` task does, in the background (the image goes active; its
/// hashes are calculated by reading the location, or the validation data are checked), and
/// `GET /v2/images/{id}/locations` lists them for service users.
extension ImageService {
    /// The hash algorithms `validation_data` may name.
    static let locationHashAlgorithms: [String: StreamDigest.Algorithm] = [
        "sha1": .sha1, "sha256": .sha256, "sha512": .sha512, "md5": .md5,
    ]

    /// `POST /v2/images/{id}/locations` (202): checks the request and starts the task.
    @discardableResult
    public func addLocation(
        _ id: String, body: JSONValue, requestId: String? = nil, by p: Principal
    ) async throws -> Task<Void, Never> {
        let (url, validation) = try Self.addLocationBody(body)
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        guard image.status == .queued else {
            throw ServiceError.conflict(
                "It's not allowed to add locations if image status is \(image.status.rawValue).")
        }
        try policy.enforce(.addImageLocation, p, .image(image))
        let isService = policy.allows(.serviceAPI, p, .image(image))
        if !isService, blobs.http == nil || !HTTPLocationStore.handles(url) {
            throw ServiceError.forbidden("http store must be enabled to use location API by normal user.")
        }
        if let value = validation["os_hash_value"]?.stringValue {
            let algo = validation["os_hash_algo"]?.stringValue ?? Self.hashingAlgorithm
            guard let bytes = Hex.decode(value) else {
                throw ServiceError.badRequest("os_hash_value (\(value)) is not a valid hexadecimal value")
            }
            let want = Self.locationHashAlgorithms[algo]?.size ?? 0
            if bytes.count != want {
                throw ServiceError.badRequest(
                    "os_hash_value: (\(value)) is not the correct size for (\(algo)) (should be (\(want)) bytes)")
            }
        }
        let staleLock = try await replaceableImportLock(of: image)
        let taskId = Identifiers.uuid()
        // The lease marks the task as alive: if this process dies, the lease runs out and the
        // maintenance sweep (or the next import) ends the task and frees the image.
        let lease = UploadLease(
            imageId: id, owner: owner, storeId: "", pendingLocation: "",
            expiresAt: clock.now().adding(seconds: config.uploadLeaseSeconds))
        _ = try await mutate(
            id, by: p, notFound: .imageNotFound(id), save: { try await self.store.startUpload($0, lease: lease) }
        ) { image throws(ServiceError) in
            guard image.status == .queued else {
                throw .conflict("It's not allowed to add locations if image status is \(image.status.rawValue).")
            }
            guard image.properties[ImportProperty.lock]?.stringValue == staleLock else {
                throw .conflict(
                    "New operation on image '\(id)' is not permitted as prior operation is still in progress")
            }
            image.properties[ImportProperty.lock] = .string(taskId)
            return true
        }
        if let staleLock { await endAbandonedImportTask(staleLock) }
        let now = clock.now()
        await recordTask(
            ImageTask(
                id: taskId, type: "location_import", owner: p.projectId ?? "", imageId: id, requestId: requestId,
                userId: p.userId,
                // A store's URL may carry its credentials (Glance's Swift locations): not kept.
                input: [
                    "image_id": .string(id),
                    "loc_url": .string(HTTPLocationStore.handles(url) ? url : StoreURL.redacted(url)),
                    "validation_data": .object(validation),
                ],
                createdAt: now, updatedAt: now))
        return imports.start { [self] in
            await startTask(taskId)
            let failure = await importLocation(url, into: id, validation: validation, task: taskId, lease: lease)
            await endTask(taskId, succeeded: failure == nil, message: failure ?? "")
        }
    }

    /// The body of `POST …/locations`, checked against Glance's `location` schema (as
    /// `{"add_location": body}`): `url` required; `validation_data` with `os_hash_algo` (sha1,
    /// sha256, sha512, md5) and `os_hash_value` (at most 128 characters), each requiring the
    /// other.
    static func addLocationBody(_ body: JSONValue) throws(ServiceError) -> (String, JSONObject) {
        if let failure = addLocationValidator.validate(["add_location": body]) {
            throw addLocationValidator.error(for: failure)
        }
        guard let url = body["url"]?.stringValue else { throw .badRequest("'url' is a required property") }
        return (url, body["validation_data"]?.objectValue ?? JSONObject())
    }

    /// Glance's `location` schema (`get_add_location_properties`, permissive).
    static let addLocationValidator = SchemaValidator(
        schemaName: "location",
        schema: [
            "name": "location",
            "properties": [
                "add_location": [
                    "type": "object",
                    "description":
                        "Values of location url, do_secure_hash and validation_data for new add location API",
                    "properties": [
                        "url": [
                            "type": "string", "readOnly": true,
                            "description": "The URL of the new location to be added in the image.",
                        ],
                        "validation_data": [
                            "description":
                                "Values to be used to populate the corresponding image properties.do_secure_hash is not True then image checksum and hash will not be calculated so it is the responsibility of the consumer of location ADD API to provide the correct values in the validation_data parameter",
                            "type": "object",
                            "writeOnly": true,
                            "additionalProperties": false,
                            "properties": [
                                "os_hash_algo": [
                                    "type": "string", "maxLength": 64, "enum": ["sha1", "sha256", "sha512", "md5"],
                                ],
                                "os_hash_value": ["type": "string", "maxLength": 128],
                            ],
                            "dependentRequired": [
                                "os_hash_value": ["os_hash_algo"], "os_hash_algo": ["os_hash_value"],
                            ],
                        ],
                    ],
                    "required": ["url"],
                ]
            ],
            "additionalProperties": ["type": "string"],
        ])

    /// The task's work, as Glance's `location_import` flow: the location is added, the image
    /// becomes active and its hashes are calculated from the data (with validation data:
    /// calculated first and compared, the image `importing` meanwhile); without
    /// `do_secure_hash`, the validation data are taken as given. A failure leaves the image
    /// queued, without hashes, and without the location unless the http store has it:
    /// Glance's cannot delete one, and its revert leaves it on the image (Tempest's
    /// MultistoreLocationImportTest expects it there, in the image's `stores`). The task
    /// keeps `lease` alive while it runs and stops once it is lost (another process found it
    /// dead and freed the image). Returns why it failed, nil on success.
    func importLocation(
        _ url: String, into id: String, validation: JSONObject, task: String, lease: UploadLease
    ) async -> String? {
        let algo = validation["os_hash_algo"]?.stringValue ?? Self.hashingAlgorithm
        let keeper = UploadLeaseKeeper(
            lease: lease, store: store, clock: clock, leaseSeconds: config.uploadLeaseSeconds,
            interval: config.uploadProgressInterval)
        var failure: String?
        var added: ImageLocation?
        do {
            // Who may name a store's data was checked with the request.
            guard let image = try await store.image(id: id) else { throw ServiceError.imageNotFound(id) }
            let checked = try await checkLocation(url, metadata: JSONObject(), of: image, mayAdopt: true)
            added = checked.copy
            let verify = config.doSecureHash && !validation.isEmpty
            // Only while the image is still queued and this task holds its lock: an import that
            // took the lock meanwhile keeps the image to itself.
            try await changeImage(id) { image in
                guard image.status == .queued, image.properties[ImportProperty.lock]?.stringValue == task else {
                    throw ServiceError.conflict("The image was taken by another operation meanwhile.")
                }
                image.locations.append(checked.copy)
                checked.describe(&image)
                if !config.doSecureHash {
                    try ImageService.activate(&image, with: validation)
                } else {
                    try image.transition(to: verify ? .importing : .active)
                    image.osHashAlgo = algo
                }
            }
            if config.doSecureHash {
                let (checksum, hash, size) = try await hashLocation(
                    checked.copy, algorithm: algo, size: checked.size, keeper: keeper)
                if verify, validation["os_hash_value"]?.stringValue != hash {
                    failure =
                        "os_hash_value: (\(validation["os_hash_value"]?.stringValue ?? "")) not matched with actual os_hash_value: (\(hash))"
                } else {
                    try await changeImage(id) { image in
                        guard image.properties[ImportProperty.lock]?.stringValue == task else {
                            throw ServiceError.conflict("The image was taken by another operation meanwhile.")
                        }
                        image.checksum = checksum
                        image.osHashValue = hash
                        if image.size == nil { image.size = size }
                        if image.status == .importing { try image.transition(to: .active) }
                    }
                }
            }
        } catch {
            failure = "\(error)"
        }
        if let failure {
            logger.info("location import failed", metadata: ["image_id": "\(id)", "error": "\(failure)"])
        }
        await endLocationImport(id, task: task, lease: await keeper.stop(), failed: failure != nil, added: added)
        return failure
    }

    /// Drops a location import's lock and lease in one write; after a failure, the image goes
    /// back to `queued` without hashes and without the location `added`, unless the http store
    /// has it (see `importLocation`); data adopted from a store stays where it was, only the
    /// image forgets it. Changes nothing once the lease is gone (the import was found dead
    /// and the image freed); if the write fails, the lease runs out and the maintenance sweep
    /// does it.
    private func endLocationImport(
        _ id: String, task: String, lease: UploadLease, failed: Bool, added: ImageLocation?
    ) async {
        for _ in 0..<16 {
            do {
                guard var image = try await store.image(id: id) else { return }
                if image.properties[ImportProperty.lock]?.stringValue == task {
                    if failed, image.status == .importing || image.status == .queued {
                        if let added, added.storeId != blobs.http?.id {
                            image.locations.removeAll { $0 == added }
                            if image.locations.isEmpty { (image.size, image.virtualSize) = (nil, nil) }
                        }
                        if image.status == .importing { try image.transition(to: .queued) }
                        image.osHashAlgo = nil
                        image.osHashValue = nil
                        image.checksum = nil
                    }
                    image.properties.removeValue(forKey: ImportProperty.lock)
                }
                image.updatedAt = clock.now()
                if try await store.endUpload(image, lease: lease) != nil { return }
                // The record moved on (try again) or the lease is gone (nothing left to do).
                guard try await store.uploadLeases(imageIds: [id]).contains(lease) else { return }
            } catch {
                logger.warning(
                    "could not end a location import; its lease will run out",
                    metadata: ["image_id": "\(id)", "error": "\(error)"])
                return
            }
        }
    }

    /// MD5 and `algorithm` of the data at a location, read as a stream, and its length: the
    /// length the location announced (`size`) if it did, within the image size cap. Stops
    /// when `keeper`'s lease is lost.
    func hashLocation(
        _ copy: ImageLocation, algorithm: String, size expected: Int?, keeper: UploadLeaseKeeper
    ) async throws -> (
        String, String, Int
    ) {
        let md5 = StreamDigest(.md5)
        let digest = StreamDigest(Self.locationHashAlgorithms[algorithm] ?? .sha512)
        let bound = min(expected ?? config.imageSizeCap, config.imageSizeCap)
        var size = 0
        let stream = try await blobs.store(for: copy).read(location: copy.location, range: nil)
        for try await chunk in stream {
            size += chunk.readableBytes
            if size > bound {
                stream.cancel()
                throw ServiceError.badRequest("The data at the location is longer than \(bound) bytes")
            }
            keeper.received(size)
            if keeper.isLost {
                stream.cancel()
                throw ServiceError.conflict("The image was taken by another operation meanwhile.")
            }
            try await hashing.runIfActive {
                chunk.withUnsafeReadableBytes { bytes in
                    md5.update(bytes)
                    digest.update(bytes)
                }
            }
        }
        if let expected, size != expected {
            throw ServiceError.badRequest("The location announced \(expected) bytes and gave \(size)")
        }
        return (md5.hexDigest(), digest.hexDigest(), size)
    }

    /// Read-modify-write of an image by the service itself, retried on concurrent changes;
    /// 404 when it is gone.
    func changeImage(_ id: String, _ change: (inout Image) throws -> Void) async throws {
        for _ in 0..<16 {
            guard var image = try await store.image(id: id) else { throw ServiceError.imageNotFound(id) }
            try change(&image)
            image.updatedAt = clock.now()
            if try await store.updateImage(image) != nil { return }
        }
        throw ServiceError.conflict("The image was changed by another request; try again.")
    }

    /// `GET /v2/images/{id}/locations`: each location's `url` and `metadata`, for service
    /// users (Glance's `fetch_image_location`).
    public func locations(of id: String, by p: Principal) async throws -> [(url: String, metadata: JSONObject)] {
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        try policy.enforce(.fetchImageLocation, p, .image(image))
        return image.locations.compactMap { copy in
            guard let url = locationURL(of: copy) else { return nil }
            var metadata = copy.metadata
            metadata["store"] = .string(copy.storeId)
            return (url, metadata)
        }
    }
}
