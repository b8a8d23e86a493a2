import Logging
import NIOCore
import OpenStackEncoding
import OpenStackJSON
import Synchronization

/// Image data: upload (`PUT /file`), staging and import, download (`GET /file`).
extension ImageService {
    /// Uploads the data of a queued image: `queued → saving → active`.
    ///
    /// The body is streamed once through the digests (MD5 and SHA-512), the format inspector
    /// and the blob writer; nothing is held in memory beyond one chunk. Until the blob is
    /// committed the image can go back to `queued` with no bytes left behind; after the
    /// commit one metadata write makes it active. A store with no room left answers 413 as
    /// Glance does ("Image storage media is full"), with the image back in `queued`.
    ///
    /// - Parameters:
    ///   - declaredSize: `x-openstack-image-size` or `Content-Length`, if the client sent one.
    ///   - storeId: the store to keep the data in (`X-Image-Meta-Store`); the default store if nil.
    ///   - willRead: called once all checks passed, right before the first body byte is read
    ///     (the HTTP layer answers `Expect: 100-continue` there).
    public func upload<Body: AsyncSequence>(
        _ id: String, body: Body, declaredSize: Int?, into storeId: String? = nil, by p: Principal,
        willRead: () async throws -> Void = {}
    ) async throws where Body.Element == ByteBuffer {
        let target = try storeId.map { id throws(ServiceError) in try knownStore(id, else: ServiceError.badRequest) }
        try await receive(
            id, body: body, declaredSize: declaredSize, into: target ?? blobs.default, by: p, via: .saving,
            willRead: willRead)
    }

    /// `PUT /v2/images/{id}/stage`: the first half of a `glance-direct` import. The data is
    /// stored and hashed as by an upload, and the image waits in `uploading` for `import`.
    public func stage<Body: AsyncSequence>(
        _ id: String, body: Body, declaredSize: Int?, by p: Principal, willRead: () async throws -> Void = {}
    ) async throws where Body.Element == ByteBuffer {
        guard config.importMethods.contains("glance-direct") else { throw ServiceError.notFound() }
        try await receive(
            id, body: body, declaredSize: declaredSize, into: blobs.default, by: p, via: .uploading, willRead: willRead)
    }

    /// The configured store with this id; `error` with Glance's message otherwise.
    func knownStore(_ id: String, else error: (String) -> ServiceError) throws(ServiceError) -> any BlobStore {
        guard let store = blobs[id] else { throw error("Store for identifier \(id) not found") }
        return store
    }

    /// Streams a request body into a blob store. The image goes `queued → transit` first;
    /// on success it ends `active` (upload) or stays `uploading` with its data (stage); on
    /// failure it goes back to `queued` and the partial data is discarded.
    func receive<Body: AsyncSequence>(
        _ id: String, body: Body, declaredSize: Int?, into blobStore: any BlobStore, by p: Principal,
        via transit: ImageStatus, willRead: () async throws -> Void
    ) async throws where Body.Element == ByteBuffer {
        let action = transit == .saving ? "upload_image" : "stage_image"
        try ImagePolicy.requireReader(p, action)
        let current = try await visibleImage(id, p, orElse: .imageNotFound(id))
        // Glance checks staging as `modify_image`.
        guard policy.allows(transit == .saving ? .uploadImage : .modifyImage, p, .image(current)) else {
            throw ServiceError.policy(action)
        }
        let missing = [("disk_format", current.diskFormat), ("container_format", current.containerFormat)]
            .filter { $0.1 == nil }.map(\.0)
        if current.status == .queued, transit == .saving, !missing.isEmpty {
            let noun = missing.count == 1 ? "Property" : "Properties"
            throw ServiceError.badRequest(
                "\(noun) \(missing.joined(separator: ", ")) must be set prior to saving data.")
        }
        // Glance checks the project's limit once, with the declared size in whole MiB (none: 0).
        let quota: ImageQuota = transit == .saving ? .imageSizeTotal : .imageStageTotal
        try await enforce([(quota, (declaredSize ?? 0) >> 20)], project: p.projectId)
        let limit = try await uploadLimit(for: current)
        if let declaredSize, declaredSize > limit.bytes {
            throw ServiceError.tooLarge(limit.message(declaredSize))
        }
        // The data goes to a pending object of the store, named in the upload's lease.
        let writer: any BlobWriter
        do {
            writer = try await blobStore.makeWriter(imageId: id)
        } catch let full as StorageFull {
            throw storageFull(full, id)
        }
        var committed: String?
        let lease = UploadLease(
            imageId: id, owner: owner, storeId: blobStore.id, pendingLocation: writer.pendingLocation,
            expiresAt: clock.now().adding(seconds: config.uploadLeaseSeconds), expected: declaredSize)
        // Leave `queued` and take the lease in one write, conditioned on the revision, so that
        // two uploads cannot both win.
        let receiving: Image
        do {
            receiving = try await mutate(
                id, by: p, notFound: .imageNotFound(id),
                save: { try await self.store.startUpload($0, lease: lease) }
            ) { image throws(ServiceError) in
                guard image.status == .queued else {
                    throw .conflict(
                        "Image status transition from \(image.status.rawValue) to \(transit.rawValue) is not allowed")
                }
                try image.transition(to: transit)
                return true
            }
        } catch {
            await writer.abort()
            throw error
        }
        let keeper = UploadLeaseKeeper(
            lease: lease, store: store, clock: clock, leaseSeconds: config.uploadLeaseSeconds,
            interval: config.uploadProgressInterval)
        do {
            // Glance counts the uploads in progress with this one among them.
            try await enforce([(.imageCountUploading, 0)], project: p.projectId)
            try await willRead()
            let received = try await receiveData(
                body, of: id, into: writer, limit: limit, declaredSize: declaredSize, keeper: keeper)
            // Staged data the import plugins change is checked as they leave it, at import.
            if transit == .saving || !processesData(of: receiving) {
                try checkFormat(received.inspection, of: receiving)
            }
            let location = try await writer.commit()
            committed = location
            try await finishUpload(
                id, expecting: transit, location: location, store: blobStore,
                lease: await keeper.stop()
            ) { (image: inout Image) throws(ServiceError) in
                if transit == .saving { try image.transition(to: .active) }
                received.describe(&image)
                image.locations = [ImageLocation(storeId: blobStore.id, location: location)]
            }
            logger.info(
                transit == .saving ? "image data uploaded" : "image data staged",
                metadata: ["image_id": "\(id)", "bytes": "\(received.size)"])
        } catch {
            // The lease stays renewed while the store cleans up: an abort can take as long as
            // the store's own timeout, and a lease let go meanwhile would have another job
            // undo an upload that is still ours.
            if let committed {
                // A database with no room wrote nothing: the data would only wait for the sweep.
                if let e = error as? StoreError, case .full = e { try? await blobStore.delete(location: committed) }
            } else {
                await writer.abort()
            }
            let last = await keeper.stop()
            await revertToQueued(id, from: transit, lease: last)
            if let full = error as? StorageFull { throw storageFull(full, id) }
            throw error
        }
    }

    /// Image data as it arrived: its size, what the format inspector found, its digests.
    struct ReceivedData {
        var size: Int
        var inspection: FormatInspector.Result
        var md5: String
        var sha512: String
        /// The `disk_format` the `image_conversion` plugin converted the data to, if it did.
        var convertedTo: String?

        /// Records it as the image's data (size, virtual size, checksum and hash; the format
        /// it was converted to).
        func describe(_ image: inout Image) {
            if let convertedTo {
                image.diskFormat = convertedTo
                image.containerFormat = "bare"
            }
            image.size = size
            image.virtualSize = ImageService.virtualSize(inspection, declared: image.diskFormat, size: size)
            image.checksum = md5
            image.osHashAlgo = "sha512"
            image.osHashValue = sha512
        }
    }

    /// Streams `body` into `writer` through the digests and the format inspector, one chunk
    /// at a time, recording progress in the upload's lease. More than `limit` bytes is 413; a
    /// length other than `declaredSize` is 400.
    func receiveData<Body: AsyncSequence>(
        _ body: Body, of id: String, into writer: any BlobWriter, limit: UploadLimit, declaredSize: Int?,
        keeper: UploadLeaseKeeper
    ) async throws -> ReceivedData where Body.Element == ByteBuffer {
        var digests = ImageDigests(pool: hashing)
        var inspector = FormatInspector(vmdkAllowedTypes: config.vmdkAllowedTypes)
        var total = 0
        for try await chunk in body {
            try Task.checkCancellation()
            total += chunk.readableBytes
            if total > limit.bytes { throw ServiceError.tooLarge(limit.message(total)) }
            if let declaredSize, total > declaredSize { throw sizeMismatch(total, declaredSize) }
            inspector.feed(chunk)
            await digests.update(chunk)
            try await writer.write(chunk)
            keeper.received(total)
            if keeper.isLost { throw Self.leaseLost(id) }
        }
        if let declaredSize, total != declaredSize { throw sizeMismatch(total, declaredSize) }
        let (md5, sha512) = await digests.finalize()
        return ReceivedData(size: total, inspection: inspector.result(), md5: md5, sha512: sha512)
    }

    /// Glance's 413 for data that did not fit in the store (logged, as Glance does).
    func storageFull(_ full: StorageFull, _ id: String) -> ServiceError {
        logger.error(
            "image storage media is full", metadata: ["image_id": "\(id)", "error": "\(full.reason)"])
        return .storageFull
    }

    static func leaseLost(_ id: String) -> ServiceError {
        ServiceError(
            .conflict,
            explanation: "The upload of image \(id) was cancelled: the image was deleted or its upload was taken over.")
    }

    struct UploadLimit {
        var bytes: Int
        var reason: Reason

        enum Reason {
            case sizeCap
            case storageQuota
        }

        func message(_ size: Int) -> String {
            switch reason {
            case .sizeCap: "The incoming image is too large: \(size) bytes; the maximum is \(bytes) bytes."
            case .storageQuota:
                "Denying attempt to upload image because it exceeds the quota: The size of the data \(size) will exceed the limit. \(bytes) bytes remaining."
            }
        }
    }

    /// The most bytes this upload may write: the size cap, or less if the owner's storage
    /// quota (`user_storage_quota`) leaves less room. The project's unified limits are checked
    /// once, before the data is read, as Glance checks them: an upload that starts within
    /// them may end past them, and the next one is refused.
    /// `replacing`: bytes of the owner's the new data takes the place of, not counted as used.
    func uploadLimit(for image: Image, replacing: Int = 0) async throws -> UploadLimit {
        var limit = UploadLimit(bytes: config.imageSizeCap, reason: .sizeCap)
        if config.userStorageQuota > 0, let owner = image.owner {
            let used = try await store.usage(owner: owner).bytes - replacing
            let left = max(0, config.userStorageQuota - used)
            if left < limit.bytes { limit = UploadLimit(bytes: left, reason: .storageQuota) }
        }
        return limit
    }

    func sizeMismatch(_ received: Int, _ declared: Int) -> ServiceError {
        .badRequest(
            "The uploaded data does not match the declared size: received \(received) bytes, expected \(declared) bytes."
        )
    }

    /// Glance's checks of the data of a `bare` image (or of data staged before its container
    /// format is set): with `require_format_match`, the data must match `disk_format`; the
    /// safety checks (backing and data files, VMDK extents and subformats, headers hidden in
    /// other headers, partition tables) apply whatever that setting. Refusals are 415, as in
    /// Glance; the image goes back to `queued` without data.
    func checkFormat(_ inspection: FormatInspector.Result, of image: Image) throws(ServiceError) {
        guard image.containerFormat == nil || image.containerFormat == "bare" else { return }
        let refused = ServiceError.Kind.unsupportedMediaType(contentType: "application/octet-stream")
        if config.requireFormatMatch, image.containerFormat != nil, let declared = image.diskFormat,
            let error = inspection.formatError(declared: declared)
        {
            throw ServiceError(refused, detail: error)
        }
        if let problem = inspection.safetyProblem {
            logger.warning(
                "image data failed safety checks",
                metadata: ["image_id": "\(image.id)", "format": "\(inspection.format)", "problem": "\(problem)"])
            throw ServiceError(refused, detail: "Image failed safety checks")
        }
    }

    /// The virtual size Glance records: the header's when the data is in its declared format,
    /// the data's length when raw was declared, none otherwise.
    static func virtualSize(_ inspection: FormatInspector.Result, declared: String?, size: Int) -> Int? {
        guard let declared, declared != inspection.format else { return inspection.virtualSize }
        return declared == "raw" ? size : nil
    }

    /// Records committed data and ends the upload's lease. If the image was deleted (or the
    /// upload taken over) meanwhile, the data is removed again and the client learns so (410).
    func finishUpload(
        _ id: String, expecting transit: ImageStatus, location: String, store blobStore: any BlobStore,
        lease: UploadLease, _ change: (inout Image) throws(ServiceError) -> Void
    ) async throws {
        func discard(_ error: ServiceError) async -> ServiceError {
            try? await blobStore.delete(location: location)
            return error
        }
        let gone = ServiceError(
            .gone,
            explanation:
                "Image \(id) could not be found after upload. The image may have been deleted during the upload.")
        for _ in 0..<16 {
            guard var image = try await store.image(id: id), image.status == transit, image.locations.isEmpty else {
                throw await discard(gone)
            }
            try change(&image)
            image.updatedAt = clock.now()
            if try await store.endUpload(image, lease: lease) != nil { return }
            // Either the record moved on (try again) or the lease is gone (the upload lost).
            guard try await store.uploadLeases(imageIds: [id]).contains(lease) else { throw await discard(gone) }
        }
        throw await discard(
            ServiceError(.conflict, explanation: "The image was changed by another request during the upload."))
    }

    /// Puts an image whose upload failed back to `queued` (if it still is in transit) and
    /// ends the upload's lease; if this fails, the lease runs out and another pass undoes it.
    func revertToQueued(_ id: String, from transit: ImageStatus, lease: UploadLease) async {
        for _ in 0..<16 {
            guard var image = try? await store.image(id: id), image.status == transit, image.locations.isEmpty,
                (try? image.transition(to: .queued)) != nil
            else { return }
            image.updatedAt = clock.now()
            do {
                if try await store.endUpload(image, lease: lease) != nil { return }
                // The record moved on (try again) or the lease is gone (nothing left to undo).
                guard try await store.uploadLeases(imageIds: [id]).contains(lease) else { return }
            } catch {
                return
            }
        }
    }

    /// An image's data, ready to stream: from this node's cache when it holds the data,
    /// otherwise from the image's copies, best first.
    public struct DataSource: Sendable {
        public let image: Image
        /// Total size in bytes.
        public let size: Int
        let copies: [(location: ImageLocation, store: any BlobStore)]
        let cache: ImageCache?
        let logger: Logger

        /// Streams all bytes, or the given inclusive range: from the cache on a hit, else
        /// from the best copy that delivers (a copy whose store fails before its first chunk
        /// gives way to the next one). A whole read from a store whose data is not a local
        /// file also fills the cache.
        public func open(range: ClosedRange<Int>? = nil) async throws -> ByteStream {
            if let cache, let cached = await cache.read(image, range: range) { return cached }
            let (stream, store) = try await openCopy(range: range)
            if let cache, range == nil, store.type != "file", let filling = await cache.fill(image, from: stream) {
                return filling
            }
            return stream
        }

        /// Streams from the best copy that delivers, and names its store.
        func openCopy(range: ClosedRange<Int>?) async throws -> (ByteStream, any BlobStore) {
            var failure: any Error = ServiceError.notFound()
            for (location, store) in copies {
                var stream: ByteStream?
                do {
                    let opened = try await store.read(location: location.location, range: range)
                    stream = opened
                    let first = Mutex<ByteBuffer??>(try await opened.pull())
                    let delivering = ByteStream(
                        pull: {
                            if let chunk = first.withLock({ f in
                                defer { f = nil }
                                return f
                            }) {
                                return chunk
                            }
                            return try await opened.pull()
                        }, onCancel: opened.onCancel)
                    return (delivering, store)
                } catch {
                    stream?.cancel()
                    logger.warning(
                        "could not read a copy of image data; trying the next",
                        metadata: ["image_id": "\(image.id)", "store": "\(location.storeId)", "error": "\(error)"])
                    failure = error
                }
            }
            throw failure
        }

        /// The cached data, or else the best copy, as a local file of the image's size, to
        /// send without copying; nil when neither is a file or opens, for `open(range:)`,
        /// which streams and falls back to the other copies.
        public func openFile() async -> (any StoredFile)? {
            if let cache, let cached = await cache.file(of: image) { return cached }
            guard let (location, store) = copies.first else { return nil }
            do {
                guard let file = try await store.openFile(location: location.location) else { return nil }
                if file.size == size { return file }
                logger.warning(
                    "a copy of image data has the wrong size",
                    metadata: [
                        "image_id": "\(image.id)", "store": "\(location.storeId)", "size": "\(file.size)",
                        "expected": "\(size)",
                    ])
            } catch {
                logger.debug(
                    "could not open a copy of image data as a file",
                    metadata: ["image_id": "\(image.id)", "store": "\(location.storeId)", "error": "\(error)"])
            }
            return nil
        }
    }

    /// `GET /v2/images/{id}/file`: the data source, or nil when the image has no data (204).
    public func data(_ id: String, by p: Principal) async throws -> DataSource? {
        try ImagePolicy.requireReader(p, "download_image")
        let image = try await visibleImage(id, p, orElse: .imageNotFound(id))
        try policy.enforce(.downloadImage, p, try await policyTarget(image, p))
        if image.status == .deactivated, !p.isAdmin {
            throw ServiceError.forbidden("The requested image has been deactivated. Image data download is forbidden.")
        }
        return image.hasData ? try dataSource(of: image) : nil
    }

    /// The image's copies in the stores this process has, best first; an error when it has
    /// none of them.
    func dataSource(of image: Image) throws(ServiceError) -> DataSource {
        let copies = image.locations.ordered(by: blobs.weights).compactMap { location in
            (try? blobs.store(for: location)).map { (location, $0) }
        }
        if copies.isEmpty, !image.locations.isEmpty {
            let stores = image.locations.map(\.storeId).joined(separator: ", ")
            throw .internalError("the data of image \(image.id) is in stores that are not configured: \(stores)")
        }
        return DataSource(image: image, size: image.size ?? 0, copies: copies, cache: cache, logger: logger)
    }
}
