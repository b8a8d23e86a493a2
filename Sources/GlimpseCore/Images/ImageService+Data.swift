import Logging
import NIOCore
import OpenStackJSON

/// Image data: upload (`PUT /file`), staging and import, download (`GET /file`).
extension ImageService {
    /// Uploads the data of a queued image: `queued → saving → active`.
    ///
    /// The body is streamed once through the digests (MD5 and SHA-512), the format inspector
    /// and the blob writer; nothing is held in memory beyond one chunk. Until the blob is
    /// committed the image can go back to `queued` with no bytes left behind; after the
    /// commit one metadata write makes it active.
    ///
    /// - Parameters:
    ///   - declaredSize: `x-openstack-image-size` or `Content-Length`, if the client sent one.
    ///   - willRead: called once all checks passed, right before the first body byte is read
    ///     (the HTTP layer answers `Expect: 100-continue` there).
    public func upload<Body: AsyncSequence>(
        _ id: String, body: Body, declaredSize: Int?, by p: Principal, willRead: () async throws -> Void = {}
    ) async throws where Body.Element == ByteBuffer {
        try await receive(id, body: body, declaredSize: declaredSize, by: p, via: .saving, willRead: willRead)
    }

    /// `PUT /v2/images/{id}/stage`: the first half of a `glance-direct` import. The data is
    /// stored and hashed as by an upload, and the image waits in `uploading` for `import`.
    public func stage<Body: AsyncSequence>(
        _ id: String, body: Body, declaredSize: Int?, by p: Principal, willRead: () async throws -> Void = {}
    ) async throws where Body.Element == ByteBuffer {
        guard config.importMethods.contains("glance-direct") else { throw ServiceError.notFound() }
        try await receive(id, body: body, declaredSize: declaredSize, by: p, via: .uploading, willRead: willRead)
    }

    /// `POST /v2/images/{id}/import` with `glance-direct`: makes staged data the image's data.
    /// The data is already in the store, so the import completes before the 202 is sent.
    public func importImage(_ id: String, body: JSONValue, by p: Principal) async throws {
        try ImagePolicy.requireReader(p, "import_image")
        let current = try await visibleImage(id, p, orElse: .imageNotFound(id))
        try ImagePolicy.requireOwner(p, current, "import_image")
        guard let method = body["method"] else { throw ServiceError.badRequest("Import request requires a 'method' field.") }
        guard let name = method["name"]?.stringValue else { throw ServiceError.badRequest("Import request requires a 'name' field.") }
        guard config.importMethods.contains(name) else {
            throw ServiceError.badRequest("Import method \(name) is not available at this site. Available: \(config.importMethods.joined(separator: ", ")).")
        }
        for key in ["disk_format", "container_format"] where ImageAttributes.value(key, of: current) == .null {
            throw ServiceError.conflict("'\(key)' needs to be set before import")
        }
        _ = try await mutate(id, by: p, notFound: .imageNotFound(id)) { image throws(ServiceError) in
            guard image.status == .uploading, image.location != nil else {
                throw .conflict("Image needs to be staged before 'glance-direct' method can be used")
            }
            image.status = .active
            return true
        }
        logger.info("image imported", metadata: ["image_id": "\(id)", "method": "\(name)"])
    }

    /// Streams a request body into the blob store. The image goes `queued → transit` first;
    /// on success it ends `active` (upload) or stays `uploading` with its data (stage); on
    /// failure it goes back to `queued` and the partial data is discarded.
    func receive<Body: AsyncSequence>(
        _ id: String, body: Body, declaredSize: Int?, by p: Principal, via transit: ImageStatus,
        willRead: () async throws -> Void
    ) async throws where Body.Element == ByteBuffer {
        let action = transit == .saving ? "upload_image" : "stage_image"
        try ImagePolicy.requireReader(p, action)
        let current = try await visibleImage(id, p, orElse: .imageNotFound(id))
        try ImagePolicy.requireOwner(p, current, action)
        let missing = [("disk_format", current.diskFormat), ("container_format", current.containerFormat)]
            .filter { $0.1 == nil }.map(\.0)
        if current.status == .queued, transit == .saving, !missing.isEmpty {
            let noun = missing.count == 1 ? "Property" : "Properties"
            throw ServiceError.badRequest("\(noun) \(missing.joined(separator: ", ")) must be set prior to saving data.")
        }
        let limit = try await uploadLimit(for: current)
        if let declaredSize, declaredSize > limit.bytes {
            throw ServiceError.tooLarge(limit.message(declaredSize))
        }
        // Leave `queued`, conditioned on the revision so that two uploads cannot both win.
        let receiving = try await mutate(id, by: p, notFound: .imageNotFound(id)) { image throws(ServiceError) in
            guard image.status == .queued else {
                throw .conflict("Image status transition from \(image.status.rawValue) to \(transit.rawValue) is not allowed")
            }
            image.status = transit
            return true
        }
        uploads.begin(id, expected: declaredSize)
        defer { uploads.end(id) }

        var writer: (any BlobWriter)?
        do {
            try await willRead()
            let w = try await blobs.makeWriter(imageId: id)
            writer = w
            var digests = ImageDigests()
            var inspector = FormatInspector()
            var total = 0
            for try await chunk in body {
                total += chunk.readableBytes
                if total > limit.bytes { throw ServiceError.tooLarge(limit.message(total)) }
                if let declaredSize, total > declaredSize { throw sizeMismatch(total, declaredSize) }
                inspector.feed(chunk)
                await digests.update(chunk)
                try await w.write(chunk)
                uploads.progress(id, bytes: total)
            }
            if let declaredSize, total != declaredSize { throw sizeMismatch(total, declaredSize) }
            let format = inspector.result(totalSize: total)
            try checkFormat(format, of: receiving)
            let location = try await w.commit()
            writer = nil
            let (md5, sha512) = await digests.finalize()
            try await finishUpload(id, expecting: transit, location: location) { image in
                image.status = transit == .saving ? .active : .uploading
                image.size = total
                image.virtualSize = format.virtualSize
                image.checksum = md5
                image.osHashAlgo = "sha512"
                image.osHashValue = sha512
                image.location = location
                image.storeId = self.blobs.id
            }
            logger.info(transit == .saving ? "image data uploaded" : "image data staged",
                        metadata: ["image_id": "\(id)", "bytes": "\(total)"])
        } catch {
            await writer?.abort()
            await revertToQueued(id, from: transit)
            throw error
        }
    }

    struct UploadLimit {
        var bytes: Int
        var quota: Bool
        func message(_ size: Int) -> String {
            quota
                ? "Denying attempt to upload image because it exceeds the quota: The size of the data \(size) will exceed the limit. \(bytes) bytes remaining."
                : "The incoming image is too large: \(size) bytes; the maximum is \(bytes) bytes."
        }
    }

    /// The most bytes this upload may write: the size cap, or less if the owner's storage
    /// quota leaves less room.
    func uploadLimit(for image: Image) async throws -> UploadLimit {
        var limit = UploadLimit(bytes: config.imageSizeCap, quota: false)
        if config.userStorageQuota > 0, let owner = image.owner {
            let left = max(0, config.userStorageQuota - (try await store.usage(owner: owner).bytes))
            if left < limit.bytes { limit = UploadLimit(bytes: left, quota: true) }
        }
        return limit
    }

    func sizeMismatch(_ received: Int, _ declared: Int) -> ServiceError {
        .badRequest("The uploaded data does not match the declared size: received \(received) bytes, expected \(declared) bytes.")
    }

    /// Glance's `require_image_format_match` and safety checks, for `bare` containers.
    func checkFormat(_ result: FormatInspector.Result, of image: Image) throws(ServiceError) {
        guard config.requireFormatMatch, image.containerFormat == "bare", let declared = image.diskFormat else { return }
        if !FormatInspector.matches(declared: declared, detected: result.format) {
            throw ServiceError(.unsupportedMediaType(contentType: "application/octet-stream"),
                               detail: "Image disk_format \(declared) does not match stream data \(result.format)")
        }
        if let problem = result.safetyProblem {
            throw ServiceError(.unsupportedMediaType(contentType: "application/octet-stream"),
                               detail: "Image fails the safety check: \(problem).")
        }
    }

    /// Records committed data. If the image was deleted during the upload, the data is
    /// removed again and the client learns so (410).
    func finishUpload(_ id: String, expecting transit: ImageStatus, location: String, _ change: @escaping (inout Image) -> Void) async throws {
        for _ in 0..<16 {
            guard var image = try await store.image(id: id), image.status == transit, image.location == nil else {
                try? await blobs.delete(location: location)
                throw ServiceError(.gone, explanation: "Image \(id) could not be found after upload. The image may have been deleted during the upload.")
            }
            change(&image)
            image.updatedAt = Timestamp.now()
            if try await store.updateImage(image) != nil { return }
        }
        try? await blobs.delete(location: location)
        throw ServiceError(.conflict, explanation: "The image was changed by another request during the upload.")
    }

    /// Puts an image whose upload failed back to `queued` (if it still is in transit).
    func revertToQueued(_ id: String, from transit: ImageStatus) async {
        for _ in 0..<16 {
            guard var image = try? await store.image(id: id), image.status == transit, image.location == nil else { return }
            image.status = .queued
            image.updatedAt = Timestamp.now()
            if (try? await store.updateImage(image)) != nil { return }
        }
    }

    /// An image's data, ready to stream.
    public struct DataSource: Sendable {
        public let image: Image
        /// Total size in bytes.
        public let size: Int
        let location: String
        let blobs: any BlobStore

        /// Streams all bytes, or the given inclusive range.
        public func open(range: ClosedRange<Int>? = nil) async throws -> ByteStream {
            try await blobs.read(location: location, range: range)
        }
    }

    /// `GET /v2/images/{id}/file`: the data source, or nil when the image has no data (204).
    public func data(_ id: String, by p: Principal) async throws -> DataSource? {
        try ImagePolicy.requireReader(p, "download_image")
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        guard p.isMember else { throw ServiceError.policy("download_image") }
        if image.status == .deactivated, !p.isAdmin {
            throw ServiceError.forbidden("The requested image has been deactivated. Image data download is forbidden.")
        }
        guard image.hasData, let location = image.location else { return nil }
        return DataSource(image: image, size: image.size ?? 0, location: location, blobs: blobs)
    }
}
