import Logging

/// The `web-download` import method: the server fetches a URI into the image's first store,
/// in the background, as Glance's web-download flow does; `runImport` then copies it into
/// the other stores asked for.
extension ImageService {
    /// Glance's check of the URI before the import is accepted: 400 when it is missing or
    /// does not pass the import filters.
    func checkWebDownload(_ uri: String?) async throws {
        guard let uri, let webDownloader, await webDownloader.permits(uri) else {
            logger.info("web-download URI refused by the import filters", metadata: ["uri": "\(uri ?? "None")"])
            throw ServiceError.badRequest("URI for web-download does not pass filtering: \(uri ?? "None")")
        }
    }

    /// Fetches `uri` into `writer` and commits it: the image's data (as the import plugins
    /// make it), hashed and inspected as an upload's, within the image size cap (and the
    /// owner's quota) and, if the server announced a length, of that length. Returns the new
    /// location and what it holds.
    ///
    /// - Parameters:
    ///   - token: `glance-download`: the caller's token, for `uri`'s origin.
    ///   - size: `glance-download`: the size the data must have (the source's), checked
    ///     before it is committed.
    func download(
        _ uri: String, token: String? = nil, size: Int? = nil, of id: String, into writer: any BlobWriter,
        keeper: UploadLeaseKeeper
    ) async throws -> (location: String, data: ReceivedData) {
        guard let image = try await store.image(id: id) else { throw Self.leaseLost(id) }
        guard let webDownloader else { throw ServiceError.internalError("web-download is not configured") }
        let limit = try await uploadLimit(for: image)
        let response = try await webDownloader.open(uri, token: token)
        let received: ReceivedData
        do {
            if let length = response.length, length > limit.bytes {
                throw ServiceError.tooLarge(limit.message(length))
            }
            received = try await receiveImportData(
                response.body, of: image, processing: processesData(of: image), into: writer, limit: limit,
                declaredSize: size ?? response.length, keeper: keeper)
        } catch {
            response.body.cancel()
            throw error
        }
        var described = image
        received.describe(&described)
        try checkFormat(received.inspection, of: described)
        return (try await writer.commit(), received)
    }
}
