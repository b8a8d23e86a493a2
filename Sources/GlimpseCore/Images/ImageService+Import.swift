import Logging
import NIOCore
import OpenStackEncoding
import OpenStackJSON

/// Interoperable import: `glance-direct` (staged data becomes the image's data, in the stores
/// asked for), `web-download` (data fetched from a URI, see ImageService+WebDownload.swift)
/// and `copy-image` (an active image's data copied into more stores).
extension ImageService {
    /// What `POST /v2/images/{id}/import` asks for, checked as Glance's request deserializer does.
    struct ImportRequest {
        var method: ImportRun.Method
        /// `web-download`: the URI to fetch.
        var uri: String?
        var stores: [String]?
        var allStores: Bool
        var allMustSucceed: Bool

        init(_ body: JSONValue, methods: [String]) throws(ServiceError) {
            guard let method = body["method"] else {
                throw .badRequest("Import request requires a 'method' field.")
            }
            guard let name = method["name"]?.stringValue else {
                throw .badRequest("Import request requires a 'name' field.")
            }
            guard methods.contains(name), let known = ImportRun.Method(rawValue: name) else {
                throw .badRequest(
                    "Import method \(name) is not available at this site. Available: \(methods.joined(separator: ", "))."
                )
            }
            self.method = known
            uri = method["uri"]?.stringValue
            func flag(_ key: String, default value: Bool) throws(ServiceError) -> Bool {
                guard let v = body[key] else { return value }
                guard let b = v.boolValue else { throw .badRequest("'\(key)' must be boolean value only") }
                return b
            }
            allMustSucceed = try flag("all_stores_must_succeed", default: true)
            allStores = try flag("all_stores", default: false)
            if let list = body["stores"] {
                let names = list.arrayValue?.compactMap(\.stringValue)
                guard let names, !names.isEmpty, names.count == list.arrayValue?.count else {
                    throw .badRequest("'stores' must be a non-empty list of store identifiers")
                }
                stores = names
            }
        }
    }

    /// `POST /v2/images/{id}/import`, with Glance's checks in Glance's order. An import that
    /// only has to make the staged data the image's data (`glance-direct` into the store the
    /// data was staged in, the default one) is done before the 202 is sent. Otherwise the
    /// import takes the image's import lock (`os_glance_import_task`) and an upload lease, lists
    /// its stores in `os_glance_importing_to_stores`, and copies the data in the background,
    /// one store after the other, whether or not the client stays; a `web-download` fetches
    /// its data into the first store there.
    ///
    /// - Parameters:
    ///   - storeHeader: `X-Image-Meta-Store`, the store to import into when the body names none.
    ///   - requestId: the request's id, recorded in the import's task.
    ///   - caller: `glance-download`: the caller's token and catalog, to read the source with.
    /// - Returns: the import running in the background, if it does.
    @discardableResult
    public func importImage(
        _ id: String, body: JSONValue, storeHeader: String? = nil, requestId: String? = nil,
        caller: ImportCaller? = nil, by p: Principal
    ) async throws -> Task<Void, Never>? {
        try ImagePolicy.requireReader(p, "import_image")
        let request = try ImportRequest(body, methods: config.importMethods)
        try await enforce([(.imageSizeTotal, 0)], project: p.projectId)
        let current = try await visibleImage(id, p, orElse: .imageNotFound(id))
        let method = request.method
        if current.status == .active, method != .copyImage {
            throw ServiceError.conflict("Image with status active cannot be target for import")
        }
        if current.status != .active, method == .copyImage {
            throw ServiceError.conflict("Only images with status active can be targeted for copying")
        }
        let fetches = method == .webDownload || method == .glanceDownload
        let notQueued = ServiceError.conflict("Image needs to be in 'queued' state to use '\(method.rawValue)' method")
        if fetches, current.status != .queued { throw notQueued }
        let notStaged = ServiceError.conflict("Image needs to be staged before 'glance-direct' method can be used")
        if method == .glanceDirect, current.status != .uploading || current.locations.isEmpty { throw notStaged }
        for key in ["container_format", "disk_format"] where ImageAttributes.value(key, of: current) == .null {
            throw ServiceError.conflict("'\(key)' needs to be set before import")
        }
        var remote: RemoteData?
        if method == .glanceDownload {
            guard let caller else { throw ServiceError.internalError("glance-download needs the caller's token") }
            remote = .glance(try GlanceSource(body["method"]), caller)
        }
        if method == .copyImage {
            try policy.enforce(.copyImage, p, .image(current))
        } else {
            // Glance checks an import into the image as `modify_image`.
            guard policy.allows(.modifyImage, p, .image(current)) else { throw ServiceError.policy("import_image") }
        }
        let staleLock = try await replaceableImportLock(of: current)
        var targets = try importTargets(request, header: storeHeader)
        if method == .copyImage {
            if request.allStores {
                targets.removeAll { current.location(in: $0) != nil }
                if targets.isEmpty {
                    logger.info("image already in every store; nothing to copy", metadata: ["image_id": "\(id)"])
                    return nil
                }
            } else if let held = targets.first(where: { current.location(in: $0) != nil }) {
                throw ServiceError.badRequest("Image is already present at store '\(held)'")
            }
        }
        if method == .webDownload {
            try await checkWebDownload(request.uri)
            remote = request.uri.map { .web($0) }
        }
        var run = ImportRun(
            imageId: id, taskId: Identifiers.uuid(), method: method, targets: targets,
            allMustSucceed: request.allMustSucceed, staged: method == .glanceDirect ? current.locations.first : nil,
            processesData: method.fillsImage && processesData(of: current))
        if let overLimit = try await importQuotaFailure(method, size: current.size, project: p.projectId) {
            try await rejectImport(
                run, overLimit: overLimit, staleLock: staleLock, body: body, requestId: requestId, by: p)
            return nil
        }
        let next = await nextWriter(for: &run)
        let lease = next.map {
            UploadLease(
                imageId: id, owner: owner, storeId: $0.store, pendingLocation: $0.writer.pendingLocation,
                expiresAt: clock.now().adding(seconds: config.uploadLeaseSeconds), expected: current.size)
        }
        var dropped: [ImageLocation] = []
        do {
            _ = try await mutate(
                id, by: p, notFound: .imageNotFound(id),
                save: lease.map { l in { try await self.store.startUpload($0, lease: l) } }
            ) { image throws(ServiceError) in
                guard image.properties[ImportProperty.lock]?.stringValue == staleLock else {
                    throw .conflict(
                        "New operation on image '\(id)' is not permitted as prior operation is still in progress")
                }
                image.properties.removeValue(forKey: ImportProperty.lock)
                if method == .glanceDirect {
                    guard image.status == .uploading, image.locations.first == run.staged else { throw notStaged }
                    try image.transition(to: .importing)
                } else if fetches {
                    guard image.status == .queued else { throw notQueued }
                    try image.transition(to: .importing)
                } else if image.status != .active {
                    throw .conflict("Only images with status active can be targeted for copying")
                }
                dropped = run.apply(to: &image, adding: [])
                if method != .copyImage, p.roles.isDisjoint(with: self.config.injectIgnoredRoles) {
                    for member in self.config.injectedProperties.members { image.properties[member.key] = member.value }
                }
                return true
            }
        } catch {
            await next?.writer.abort()
            throw error
        }
        await removeData(dropped, of: id, retry: "the orphan sweep will")
        let metadata: Logger.Metadata = ["image_id": "\(id)", "method": "\(method.rawValue)", "stores": "\(targets)"]
        if let staleLock { await endAbandonedImportTask(staleLock) }
        await recordTask(importTask(run, body: body, by: p, requestId: requestId))
        guard let next, let lease else {
            logger.info("image imported", metadata: metadata)
            await endImportTask(run, id: run.taskId, size: current.size)
            return nil
        }
        logger.info("image import started in the background", metadata: metadata)
        return imports.start { [self, run, remote] in
            await self.startTask(run.taskId)
            let ended = await self.runImport(run, into: next.store, next.writer, lease: lease, from: remote)
            // The size of data fetched is known once it is.
            let size =
                remote == nil && !run.processesData
                ? current.size : (try? await self.store.image(id: run.imageId))?.size
            await self.endImportTask(ended, id: run.taskId, size: size)
        }
    }

    /// The quotas an accepted import is held to (`image_size_total` was checked with no delta
    /// before): `glance-direct` adds the staged data to the stored total; the other methods
    /// stage the data first, so they count against the staging total, then against
    /// `image_count_uploading` with the image among the uploads. Returns the first limit
    /// passed, as oslo.limit words it; nil when none is.
    func importQuotaFailure(_ method: ImportRun.Method, size: Int?, project: String?) async throws -> ServiceError? {
        let mib = (size ?? 0) >> 20
        let checks: [(ImageQuota, Int, counted: Int)] =
            method == .glanceDirect
            ? [(.imageSizeTotal, mib, 0)]
            // An image being imported counts among the uploads; this one does not yet.
            : [(.imageStageTotal, mib, 0), (.imageCountUploading, 0, 1)]
        for (quota, delta, counted) in checks {
            if let overLimit = try await limitPassed([(quota, delta)], project: project, uncounted: counted) {
                return overLimit
            }
        }
        return nil
    }

    /// An import accepted, then stopped by a quota as Glance's import task stops it: the task
    /// fails with the limit's message, the image drops the import lock (and an abandoned
    /// import's), its stores leave `os_glance_importing_to_stores` and `os_glance_failed_import`,
    /// and an image whose data was staged goes back to `queued` without it.
    func rejectImport(
        _ run: ImportRun, overLimit: ServiceError, staleLock: String?, body: JSONValue,
        requestId: String?, by p: Principal
    ) async throws {
        var dropped: [ImageLocation] = []
        _ = try await mutate(run.imageId, by: p, notFound: .imageNotFound(run.imageId)) { image throws(ServiceError) in
            guard image.properties[ImportProperty.lock]?.stringValue == staleLock else {
                throw .conflict(
                    "New operation on image '\(run.imageId)' is not permitted as prior operation is still in progress")
            }
            image.properties.removeValue(forKey: ImportProperty.lock)
            for key in [ImportProperty.importing, ImportProperty.failed] {
                ImportProperty.set(key, ImportProperty.stores(key, of: image).subtracting(run.targets), on: &image)
            }
            if run.method == .glanceDirect {
                guard image.status == .uploading, image.locations.first == run.staged else {
                    throw .conflict("Image needs to be staged before 'glance-direct' method can be used")
                }
                try image.transition(to: .importing)
                dropped = ImportRun.requeue(&image)
            }
            return true
        }
        await removeData(dropped, of: run.imageId, retry: "the orphan sweep will")
        if let staleLock { await endAbandonedImportTask(staleLock) }
        await recordTask(importTask(run, body: body, by: p, requestId: requestId))
        let message =
            "The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a "
            + "quota threshold was breached.\n\nThe response body:\n\(overLimit.message)"
        await endTask(run.taskId, succeeded: false, message: message)
        logger.info(
            "image import stopped by a quota",
            metadata: [
                "image_id": "\(run.imageId)", "method": "\(run.method.rawValue)", "error": "\(overLimit.message)",
            ])
    }

    /// The lock of an image whose import is gone (its process died and no lease is left), which
    /// a new import may take over; nil when there is no lock; 409 while its import runs.
    func replaceableImportLock(of image: Image) async throws -> String? {
        guard let lock = image.properties[ImportProperty.lock]?.stringValue else { return nil }
        if try await !store.uploadLeases(imageIds: [image.id]).isEmpty {
            throw ServiceError.conflict("Image has active task")
        }
        return lock
    }

    /// The stores an import writes to, as Glance reads them: every store (`all_stores`), the
    /// body's `stores`, or `X-Image-Meta-Store`, or the default store; each one configured.
    func importTargets(_ r: ImportRequest, header: String?) throws(ServiceError) -> [String] {
        var targets: [String]
        if r.allStores {
            if r.stores != nil || header != nil {
                throw .badRequest(
                    "All_stores parameter can't be used with x-image-meta-store header or stores parameter")
            }
            targets = blobs.all.map(\.id)
        } else if let stores = r.stores {
            if header != nil {
                throw .badRequest("Stores parameter and x-image-meta-store header can't be both specified")
            }
            targets = stores
        } else {
            targets = [header ?? blobs.default.id]
        }
        for t in targets { _ = try knownStore(t, else: ServiceError.conflict) }
        var seen = Set<String>()
        return targets.filter { seen.insert($0).inserted }
    }

    /// A writer in the next store of `run` that can make one; a store that cannot fails.
    func nextWriter(for run: inout ImportRun) async -> (store: String, writer: any BlobWriter)? {
        while !run.finished, let target = run.remaining.first {
            do {
                guard let blobStore = blobs[target] else { throw ServiceError.internalError("store \(target) is gone") }
                return (target, try await blobStore.makeWriter(imageId: run.imageId))
            } catch {
                logger.warning(
                    "could not start writing image data to a store",
                    metadata: ["image_id": "\(run.imageId)", "store": "\(target)", "error": "\(error)"])
                run.fail(target)
            }
        }
        return nil
    }

    /// Runs an import in the background: copies the data into each store in turn, recording
    /// each outcome in the image as it goes (and moving the lease on to the next store's
    /// pending data in the same write). Stops at once if the lease is lost (the image was
    /// deleted); on cancellation the stores not done count as failed. Returns the import as it
    /// ended; nil when it lost its lease.
    ///
    /// - Parameter remote: `web-download`, `glance-download`: the data of the first store
    ///   comes from there (and the others copy it); if it cannot be fetched, every store has
    ///   failed. The same holds for the data the import plugins make of staged data.
    func runImport(
        _ run: ImportRun, into target: String, _ writer: any BlobWriter, lease: UploadLease,
        from remote: RemoteData? = nil
    ) async -> ImportRun? {
        var (run, target, writer, lease, remote) = (run, target, writer, lease, remote)
        let id = run.imageId
        while true {
            let keeper = UploadLeaseKeeper(
                lease: lease, store: store, clock: clock, leaseSeconds: config.uploadLeaseSeconds,
                interval: config.uploadProgressInterval)
            var copy: ImageLocation?
            var fetched: ReceivedData?
            var failure: String?
            let makesData = remote != nil || (run.processesData && run.succeeded.isEmpty)
            do {
                if let remote {
                    let downloaded =
                        switch remote {
                        case .web(let uri): try await download(uri, of: id, into: writer, keeper: keeper)
                        case .glance(let source, let caller):
                            try await download(source, as: caller, of: id, into: writer, keeper: keeper)
                        }
                    fetched = downloaded.data
                    copy = ImageLocation(storeId: target, location: downloaded.location)
                    logger.info(
                        "image data downloaded",
                        metadata: ["image_id": "\(id)", "store": "\(target)", "bytes": "\(downloaded.data.size)"])
                } else if makesData {
                    fetched = try await processStaged(of: id, into: writer, keeper: keeper)
                    copy = ImageLocation(storeId: target, location: try await writer.commit())
                    logger.info("staged image data processed", metadata: ["image_id": "\(id)", "store": "\(target)"])
                } else {
                    copy = ImageLocation(
                        storeId: target, location: try await copyData(of: id, into: writer, keeper: keeper))
                    logger.info("image data copied", metadata: ["image_id": "\(id)", "store": "\(target)"])
                }
            } catch {
                await writer.abort()
                failure = (error as? ImportPluginFailure)?.description
                logger.warning(
                    "could not copy image data to a store",
                    metadata: ["image_id": "\(id)", "store": "\(target)", "error": "\(error)"])
            }
            lease = await keeper.stop()
            if keeper.isLost {
                if let copy { await removeData([copy], of: id, retry: "the orphan sweep will") }
                return nil
            }
            if let copy { run.succeed(copy) } else if makesData { run.stop(because: failure) } else { run.fail(target) }
            if Task.isCancelled { run.stop() }
            let next = await nextWriter(for: &run)
            let nextLease = next.map {
                UploadLease(
                    imageId: id, owner: owner, storeId: $0.store, pendingLocation: $0.writer.pendingLocation,
                    expiresAt: clock.now().adding(seconds: config.uploadLeaseSeconds), expected: lease.expected)
            }
            guard await record(run, adding: copy.map { [$0] } ?? [], data: fetched, lease: lease, next: nextLease)
            else {
                if let copy { await removeData([copy], of: id, retry: "the orphan sweep will") }
                await next?.writer.abort()
                return nil
            }
            guard let next, let nextLease else {
                logger.info(
                    "image import ended",
                    metadata: ["image_id": "\(id)", "failed": "\(run.failed)", "undone": "\(run.undone)"])
                return run
            }
            (target, writer, lease, remote) = (next.store, next.writer, nextLease, nil)
        }
    }

    /// Streams the image's data from its best copy into `writer` and commits it, checking the
    /// size and both digests against the image's: the copy is exactly the image's data.
    func copyData(of id: String, into writer: any BlobWriter, keeper: UploadLeaseKeeper) async throws -> String {
        guard let image = try await store.image(id: id) else { throw Self.leaseLost(id) }
        let source = try dataSource(of: image)
        let (stream, _) = try await source.openCopy(range: nil)
        var digests = ImageDigests(pool: hashing)
        var total = 0
        do {
            for try await chunk in stream {
                try Task.checkCancellation()
                total += chunk.readableBytes
                if total > source.size { break }
                await digests.update(chunk)
                try await writer.write(chunk)
                keeper.received(total)
                if keeper.isLost { throw Self.leaseLost(id) }
            }
        } catch {
            stream.cancel()
            throw error
        }
        let (md5, sha512) = await digests.finalize()
        guard total == source.size, image.checksum.map({ $0 == md5 }) ?? true,
            image.osHashAlgo != "sha512" || image.osHashValue.map({ $0 == sha512 }) ?? true
        else {
            stream.cancel()
            throw ServiceError.internalError("the data read from the image's copy does not match its size or digests")
        }
        return try await writer.commit()
    }

    /// Applies `run` to the image and moves its lease on to `next` (or ends it), in one write
    /// retried on concurrent changes; then deletes the data of copies the image dropped.
    /// False when the lease is gone (the image was deleted or the import taken over).
    ///
    /// - Parameter data: what a `web-download` fetched, now the image's data.
    func record(
        _ run: ImportRun, adding new: [ImageLocation], data: ReceivedData? = nil, lease: UploadLease,
        next: UploadLease?
    ) async -> Bool {
        do {
            for _ in 0..<16 {
                guard var image = try await store.image(id: run.imageId) else { return false }
                data?.describe(&image)
                let dropped = run.apply(to: &image, adding: new)
                image.updatedAt = clock.now()
                let saved =
                    if let next {
                        try await store.handOverLease(image, from: lease, to: next)
                    } else {
                        try await store.endUpload(image, lease: lease)
                    }
                if saved != nil {
                    await removeData(dropped, of: run.imageId, retry: "the orphan sweep will")
                    return true
                }
                guard try await store.uploadLeases(imageIds: [run.imageId]).contains(lease) else { return false }
            }
        } catch {
            logger.warning(
                "could not record the progress of an import; its lease will run out",
                metadata: ["image_id": "\(run.imageId)", "error": "\(error)"])
        }
        return false
    }
}
