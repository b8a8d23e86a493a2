import Logging
import NIOCore
import OpenStackJSON

/// One endpoint of a service catalog.
public struct CatalogEndpoint: Sendable, Equatable {
    public var region: String
    public var interface: String
    public var url: String

    public init(region: String, interface: String, url: String) {
        self.region = region
        self.interface = interface
        self.url = url
    }
}

/// The service catalog a caller's token sees: where `glance-download` finds the image service
/// of a region.
public protocol ServiceCatalogReader: Sendable {
    /// The endpoints of the `image` service that the catalog of `token` lists.
    func imageEndpoints(token: String) async throws -> [CatalogEndpoint]
}

/// The caller of a `glance-download` import, whose token reads the source image: as in
/// Glance, the import acts with the caller's own rights on the other side.
public struct ImportCaller: Sendable {
    public var token: String
    public var catalog: any ServiceCatalogReader

    public init(token: String, catalog: any ServiceCatalogReader) {
        self.token = token
        self.catalog = catalog
    }
}

/// Where an import that gives an image its data gets it from, other than the staging area.
enum RemoteData: Sendable {
    /// `web-download`: a URI.
    case web(String)
    /// `glance-download`: an image of the image service of a region.
    case glance(GlanceSource, ImportCaller)
}

/// The image a `glance-download` import copies: `glance_image_id` in the image service that
/// the caller's catalog lists for `glance_region` at `glance_service_interface`.
struct GlanceSource: Sendable {
    var region: String
    var imageId: String
    var interface: String

    /// The import request's method parameters, checked as Glance checks them (400s).
    init(_ method: JSONValue?) throws(ServiceError) {
        guard let region = method?["glance_region"]?.stringValue else {
            throw .badRequest("'glance_region' needs to be set for glance-download import method")
        }
        guard let imageId = method?["glance_image_id"]?.stringValue else {
            throw .badRequest("'glance_image_id' needs to be set for glance-download import method")
        }
        guard Self.isUUID(imageId) else {
            throw .badRequest("Remote image id does not look like a UUID: \(imageId)")
        }
        self.region = region
        self.imageId = imageId
        interface = method?["glance_service_interface"]?.stringValue ?? "public"
    }

    /// Whether Python's `uuid.UUID` takes `text`: 32 hex digits, with or without hyphens,
    /// braces or a `urn:uuid:` prefix.
    static func isUUID(_ text: String) -> Bool {
        var hex = Substring(text)
        if hex.lowercased().hasPrefix("urn:") { hex = hex.dropFirst(4) }
        if hex.lowercased().hasPrefix("uuid:") { hex = hex.dropFirst(5) }
        hex = hex.drop { $0 == "{" }
        hex = Substring(hex.reversed().drop { $0 == "}" }.reversed())
        let digits = hex.filter { $0 != "-" }
        return digits.count == 32 && digits.allSatisfy(\.isHexDigit)
    }
}

/// `glance-download`, as Glance's flow runs it: the source image's record is read first (it
/// must be active); its disk and container formats and the properties named by
/// `glance_download_properties` are set on the image; then its data is fetched, with the
/// caller's token, through the web-download filters. If anything fails, the image gets its
/// formats and properties back, and goes back to `queued`.
extension ImageService {
    /// Larger image records than this are refused.
    static let maxRemoteRecord = 1 << 20

    /// Fetches `source` into `writer` and commits it; see `download(_:token:of:into:keeper:)`.
    func download(
        _ source: GlanceSource, as caller: ImportCaller, of id: String, into writer: any BlobWriter,
        keeper: UploadLeaseKeeper
    ) async throws -> (location: String, data: ReceivedData) {
        let endpoint = try await imageEndpoint(source, caller)
        let imageURL = "\(endpoint)/v2/images/\(source.imageId)"
        let remote = try await remoteRecord(imageURL, token: caller.token)
        guard remote["status"]?.stringValue == "active" else {
            throw ServiceError.badRequest(
                "Source image status should be active instead of \(remote["status"]?.stringValue ?? "None")")
        }
        guard let size = remote["size"]?.intValue else {
            throw ServiceError.badRequest("Size attribute of remote image \(source.imageId) could not be determined.")
        }
        let before = try await takeMetadata(of: remote, into: id)
        do {
            // The source's size, checked before the data is committed.
            return try await download(
                imageURL + "/file", token: caller.token, size: size, of: id, into: writer, keeper: keeper)
        } catch {
            await restoreMetadata(before, of: id)
            throw error
        }
    }

    /// The URL of the image service that the caller's catalog lists for the source's region
    /// (compared without case, as Glance does) and interface.
    func imageEndpoint(_ source: GlanceSource, _ caller: ImportCaller) async throws -> String {
        let endpoints = try await caller.catalog.imageEndpoints(token: caller.token)
        guard
            let endpoint = endpoints.first(where: {
                $0.region.lowercased() == source.region.lowercased() && $0.interface == source.interface
            })
        else {
            throw ServiceError.badRequest("\(source.interface) glance endpoint not found for region \(source.region)")
        }
        return String(endpoint.url.reversed().drop { $0 == "/" }.reversed())
    }

    /// The source image's record, as JSON.
    func remoteRecord(_ url: String, token: String) async throws -> JSONValue {
        guard let webDownloader else { throw ServiceError.internalError("glance-download is not configured") }
        let response = try await webDownloader.open(url, token: token)
        var bytes = ByteBuffer()
        do {
            for try await chunk in response.body {
                bytes.writeImmutableBuffer(chunk)
                if bytes.readableBytes > Self.maxRemoteRecord {
                    throw ServiceError.badRequest("The record of the remote image \(url) is too large")
                }
            }
        } catch {
            response.body.cancel()
            throw error
        }
        return try JSONValue.parse(bytes.readableBytesView)
    }

    /// What `takeMetadata` changed, to put back.
    struct TakenMetadata: Sendable {
        var diskFormat: String?
        var containerFormat: String?
        var properties: JSONObject
    }

    /// Sets the source's formats and copied properties on the image; returns what it had.
    func takeMetadata(of remote: JSONValue, into id: String) async throws -> TakenMetadata {
        var copied = JSONObject()
        for member in remote.objectValue?.members ?? []
        where !member.key.hasPrefix("os_glance")
            && config.glanceDownloadProperties.contains(where: { member.key.hasPrefix($0) })
        {
            copied[member.key] = member.value
        }
        for (key, known) in [("disk_format", config.diskFormats), ("container_format", config.containerFormats)] {
            guard let value = remote[key]?.stringValue, known.contains(value) else {
                throw ServiceError.badRequest(
                    "The source's \(key) \(remote[key]?.jsonString ?? "None") is not one this server takes")
            }
        }
        var before: TakenMetadata?
        try await changeImage(id) { image in
            before = TakenMetadata(
                diskFormat: image.diskFormat, containerFormat: image.containerFormat, properties: image.properties)
            image.diskFormat = remote["disk_format"]?.stringValue
            image.containerFormat = remote["container_format"]?.stringValue
            for member in copied.members { image.properties[member.key] = member.value }
        }
        guard let before else { throw Self.leaseLost(id) }
        return before
    }

    /// Gives the image back the formats and properties `takeMetadata` changed (the import's
    /// own properties, which it keeps up to date, stay as they are).
    func restoreMetadata(_ before: TakenMetadata, of id: String) async {
        do {
            try await changeImage(id) { image in
                image.diskFormat = before.diskFormat
                image.containerFormat = before.containerFormat
                let own = image.properties.members.filter { $0.key.hasPrefix("os_glance") }
                image.properties = JSONObject(before.properties.members.filter { !$0.key.hasPrefix("os_glance") })
                for member in own { image.properties[member.key] = member.value }
            }
        } catch {
            logger.warning(
                "could not restore the metadata of an image whose glance-download failed",
                metadata: ["image_id": "\(id)", "error": "\(error)"])
        }
    }
}
