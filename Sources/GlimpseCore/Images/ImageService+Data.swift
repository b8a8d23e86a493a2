import Logging
import NIOCore

/// Image data: upload (`PUT /file`) and download (`GET /file`).
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
        try ImagePolicy.requireReader(p, "upload_image")
        let current = try await visibleImage(id, p, orElse: .imageNotFound(id))
        try ImagePolicy.requireOwner(p, current, "upload_image")
        let missing = [("disk_format", current.diskFormat), ("container_format", current.containerFormat)]
            .filter { $0.1 == nil }.map(\.0)
        if current.status == .queued, !missing.isEmpty {
            let noun = missing.count == 1 ? "Property" : "Properties"
            throw ServiceError.badRequest("\(noun) \(missing.joined(separator: ", ")) must be set prior to saving data.")
        }
        let limit = try await uploadLimit(for: current)
        if let declaredSize, declaredSize > limit.bytes {
            throw ServiceError.tooLarge(limit.message(declaredSize))
        }
        // queued → saving, conditioned on the revision so that two uploads cannot both win.
        let saving = try await mutate(id, by: p, notFound: .imageNotFound(id)) { image throws(ServiceError) in
            guard image.status == .queued else {
                throw .conflict("Image status transition from \(image.status.rawValue) to saving is not allowed")
            }
            image.status = .saving
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
                digests.update(chunk)
                try await w.write(chunk)
                uploads.progress(id, bytes: total)
            }
            if let declaredSize, total != declaredSize { throw sizeMismatch(total, declaredSize) }
            let format = inspector.result(totalSize: total)
            try checkFormat(format, of: saving)
            let location = try await w.commit()
            writer = nil
            let (md5, sha512) = digests.finalize()
            try await finishUpload(id, by: p, location: location) { image in
                image.status = .active
                image.size = total
                image.virtualSize = format.virtualSize
                image.checksum = md5
                image.osHashAlgo = "sha512"
                image.osHashValue = sha512
                image.location = location
                image.storeId = self.blobs.id
            }
            logger.info("image data uploaded", metadata: ["image_id": "\(id)", "bytes": "\(total)"])
        } catch {
            await writer?.abort()
            await revertToQueued(id)
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
    func finishUpload(_ id: String, by p: Principal, location: String, _ change: @escaping (inout Image) -> Void) async throws {
        for _ in 0..<16 {
            guard var image = try await store.image(id: id), image.status == .saving else {
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

    /// Puts an image whose upload failed back to `queued` (if it still is `saving`).
    func revertToQueued(_ id: String) async {
        for _ in 0..<16 {
            guard var image = try? await store.image(id: id), image.status == .saving else { return }
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
