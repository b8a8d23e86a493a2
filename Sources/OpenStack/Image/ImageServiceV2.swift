import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OpenStackEncoding
import OpenStackJSON

/// The image service (Glance v2 API): images, their data, tags, members, schemas.
///
/// Get one from ``OpenStack/imagesV2(region:interface:endpoint:)``.
public final class ImageServiceV2: Sendable {
    let transport: Transport
    let endpoint: ServiceEndpoint

    init(transport: Transport, endpoint: ServiceEndpoint) {
        self.transport = transport
        self.endpoint = endpoint
    }

    /// The unversioned root of the image API (the catalog URL without any `/v2…`).
    func root() async throws -> String {
        var url = try await endpoint.url()
        if let r = url.range(of: "/v2", options: .backwards), !url[r.upperBound...].contains("/"),
            url[r.upperBound...].allSatisfy({ $0.isNumber || $0 == "." })
        {
            url = String(url[..<r.lowerBound])
        }
        return url
    }

    func url(_ path: String, query: [(String, String)] = []) async throws -> String {
        var s = try await root() + "/v2/" + path
        if !query.isEmpty { s += "?" + URLCoding.encodeQuery(query) }
        return s
    }

    // MARK: Plumbing

    func getJSON(_ path: String, query: [(String, String)] = []) async throws -> JSONValue {
        try await transport.send(ServiceRequest(.GET, try await url(path, query: query))).json()
    }

    /// Follows a link the server gave (`/v2/images?marker=…`), relative to the API root.
    func getJSON(link: String) async throws -> JSONValue {
        let target = link.hasPrefix("http") ? link : try await root() + (link.hasPrefix("/") ? link : "/" + link)
        return try await transport.send(ServiceRequest(.GET, target)).json()
    }

    func sendJSON(
        _ method: HTTPMethod, _ path: String, _ body: JSONValue?, contentType: String = "application/json",
        expected: Set<Int> = [200]
    ) async throws -> ServiceResponse {
        var r = ServiceRequest(method, try await url(path), expected: expected)
        if let body { r.body = .bytes(body.serialized(), contentType: contentType) }
        return try await transport.send(r)
    }

    // MARK: Images

    /// Creates an image record (status `queued`); upload data with ``uploadData(_:from:progress:)``.
    public func createImage(_ options: ImageCreate) async throws -> Image {
        let r = try await sendJSON(.POST, "images", options.json, expected: [201])
        return try Image(json: try r.json())
    }

    /// Creates an image and uploads its data, verified; deletes the image if the upload fails.
    public func createImage(
        _ options: ImageCreate, data: UploadSource,
        progress: (@Sendable (TransferProgress) -> Void)? = nil
    ) async throws -> Image {
        let image = try await createImage(options)
        do {
            return try await uploadData(image.id, from: data, progress: progress)
        } catch {
            try? await delete(image.id)
            throw error
        }
    }

    /// Every image matching `filter`, lazily: pages are fetched as the sequence is iterated
    /// and `next` links are followed to the end.
    /// - Parameters:
    ///   - pageSize: images per request (`limit`); the server's default if nil.
    ///   - maxItems: stop after this many images.
    ///   - marker: start after the image with this id.
    public func listImages(
        _ filter: ImageFilter = ImageFilter(), sort: [ImageSort] = [], pageSize: Int? = nil,
        maxItems: Int? = nil, after marker: String? = nil
    ) -> ImageList {
        var query = filter.queryItems
        if let marker { query.append(("marker", marker)) }
        if !sort.isEmpty {
            query.append(
                ("sort", sort.map { "\($0.key.rawValue):\($0.ascending ? "asc" : "desc")" }.joined(separator: ",")))
        }
        if let pageSize { query.append(("limit", String(pageSize))) }
        return ImageList(service: self, firstQuery: query, maxItems: maxItems)
    }

    public func getImage(_ id: String) async throws -> Image {
        try Image(json: try await getJSON("images/" + URLCoding.quotePath(id)))
    }

    /// The image with this id or, failing that, the only image with this name.
    public func findImage(_ nameOrId: String) async throws -> Image {
        do {
            return try await getImage(nameOrId)
        } catch let e as OpenStackError where e.kind == .notFound {
            let matches = try await listImages(ImageFilter(name: .equals(nameOrId)), maxItems: 2).collect()
            guard let first = matches.first else {
                throw OpenStackError(.notFound, "no image with the id or name '\(nameOrId)'")
            }
            guard matches.count == 1 else {
                throw OpenStackError(.conflict, "more than one image is named '\(nameOrId)'; use the id")
            }
            return first
        }
    }

    /// Applies JSON-Patch changes in one request (all or nothing).
    public func update(_ id: String, _ changes: [ImagePatch]) async throws -> Image {
        let r = try await sendJSON(
            .PATCH, "images/" + URLCoding.quotePath(id), .array(changes.map(\.json)),
            contentType: "application/openstack-images-v2.1-json-patch")
        return try Image(json: try r.json())
    }

    /// Adds a location to an image (JSON-Patch `add /locations/-`, as an admin, on a server
    /// that shows locations): the data already at `url`, in a store the server has. With
    /// `validation` (`checksum`, `os_hash_algo`, `os_hash_value`), a queued image takes
    /// those digests and becomes active.
    public func addLocation(
        _ id: String, url: String, metadata: JSONObject = [:], validation: JSONObject? = nil
    ) async throws -> Image {
        var location: JSONObject = ["url": .string(url), "metadata": .object(metadata)]
        if let validation { location["validation_data"] = .object(validation) }
        return try await update(id, [.add("/locations/-", .object(location))])
    }

    /// Makes the server's image look like `image`: sends only what differs from the
    /// current state.
    public func update(_ image: Image) async throws -> Image {
        let current = try await getImage(image.id)
        let ops = ImagePatch.diff(from: current, to: image)
        return ops.isEmpty ? current : try await update(image.id, ops)
    }

    public func delete(_ id: String) async throws {
        _ = try await transport.send(
            ServiceRequest(.DELETE, try await url("images/" + URLCoding.quotePath(id)), expected: [204]))
    }

    public func deactivate(_ id: String) async throws {
        _ = try await transport.send(
            ServiceRequest(
                .POST, try await url("images/\(URLCoding.quotePath(id))/actions/deactivate"),
                idempotent: true, expected: [204]))
    }

    public func reactivate(_ id: String) async throws {
        _ = try await transport.send(
            ServiceRequest(
                .POST, try await url("images/\(URLCoding.quotePath(id))/actions/reactivate"),
                idempotent: true, expected: [204]))
    }

    public func addTag(_ id: String, _ tag: String) async throws {
        _ = try await transport.send(
            ServiceRequest(
                .PUT, try await url("images/\(URLCoding.quotePath(id))/tags/\(URLCoding.quotePath(tag))"),
                expected: [204]))
    }

    public func removeTag(_ id: String, _ tag: String) async throws {
        _ = try await transport.send(
            ServiceRequest(
                .DELETE, try await url("images/\(URLCoding.quotePath(id))/tags/\(URLCoding.quotePath(tag))"),
                expected: [204]))
    }

    // MARK: Waiting

    /// Polls until the image reaches `status`. Throws `.failedStatus` if it reaches one of
    /// `failOn` (or disappears, unless `status` is `deleted`), and `.timedOut` when time runs out.
    @discardableResult
    public func waitForStatus(
        _ id: String, _ status: ImageStatus, timeout: Duration = .seconds(600),
        interval: Duration = .seconds(1), failOn: Set<ImageStatus> = [.killed, .deleted],
        onPoll: (@Sendable (Image) -> Void)? = nil
    ) async throws -> Image? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var last = "unknown"
        while true {
            do {
                let image = try await getImage(id)
                onPoll?(image)
                last = image.status.rawValue
                if image.status == status { return image }
                if failOn.contains(image.status) {
                    throw OpenStackError(
                        .failedStatus, "image \(id) reached status \(image.status) while waiting for \(status)")
                }
            } catch let e as OpenStackError where e.kind == .notFound {
                if status == .deleted { return nil }
                throw OpenStackError(.failedStatus, "image \(id) disappeared while waiting for \(status)")
            }
            if clock.now + interval > deadline {
                throw OpenStackError(.timedOut, "image \(id) is still \(last) after \(timeout); waited for \(status)")
            }
            try await Task.sleep(for: interval)
        }
    }

    // MARK: Members

    public func addMember(_ id: String, project: String) async throws -> ImageMember {
        try ImageMember(
            json: try await sendJSON(.POST, "images/\(URLCoding.quotePath(id))/members", ["member": .string(project)])
                .json())
    }

    public func members(_ id: String) async throws -> [ImageMember] {
        try (try await getJSON("images/\(URLCoding.quotePath(id))/members")["members"]?.arrayValue ?? []).map {
            try ImageMember(json: $0)
        }
    }

    public func member(_ id: String, project: String) async throws -> ImageMember {
        try ImageMember(
            json: try await getJSON("images/\(URLCoding.quotePath(id))/members/\(URLCoding.quotePath(project))"))
    }

    /// Accepts, rejects or resets a share (as the member project).
    public func updateMember(_ id: String, project: String, status: MemberStatus) async throws -> ImageMember {
        try ImageMember(
            json: try await sendJSON(
                .PUT, "images/\(URLCoding.quotePath(id))/members/\(URLCoding.quotePath(project))",
                ["status": .string(status.rawValue)]
            ).json())
    }

    public func removeMember(_ id: String, project: String) async throws {
        _ = try await transport.send(
            ServiceRequest(
                .DELETE, try await url("images/\(URLCoding.quotePath(id))/members/\(URLCoding.quotePath(project))"),
                expected: [204]))
    }

    // MARK: Discovery

    /// `GET /v2/schemas/<name>` (`image`, `images`, `member`, `members`, `metadefs/…`).
    public func schema(_ name: String) async throws -> JSONValue { try await getJSON("schemas/" + name) }

    /// The import methods the cloud offers (`glance-direct`, `web-download`, …).
    public func importMethods() async throws -> [String] {
        (try await getJSON("info/import"))["import-methods"]?["value"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// The data stores (multi-store clouds), as `(id, isDefault)`.
    public func stores() async throws -> [(id: String, isDefault: Bool)] {
        try await storeDetails(detail: false).map { ($0.id, $0.isDefault) }
    }

    /// The data stores (multi-store clouds); with `detail` (admins), their type, weight and
    /// properties too (`GET /v2/info/stores/detail`).
    public func storeDetails(detail: Bool = true) async throws -> [ImageStoreInfo] {
        ((try await getJSON(detail ? "info/stores/detail" : "info/stores"))["stores"]?.arrayValue ?? []).compactMap(
            ImageStoreInfo.init)
    }

    /// The project's usage and limits (`/v2/info/usage`).
    public func usage() async throws -> JSONValue { try await getJSON("info/usage")["usage"] ?? [:] }

    /// Major and highest minor version the image API offers, e.g. (2, 15).
    public func apiVersion() async throws -> (major: Int, minor: Int) {
        let r = try await transport.send(
            {
                var r = ServiceRequest(.GET, try await root() + "/", expected: [200, 300])
                r.authenticated = false
                return r
            }())
        let ids = (try r.json()["versions"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        let versions = ids.compactMap { id -> (Int, Int)? in
            let parts = id.dropFirst().split(separator: ".").compactMap { Int($0) }
            return parts.count == 2 ? (parts[0], parts[1]) : parts.count == 1 ? (parts[0], 0) : nil
        }
        guard let best = versions.filter({ $0.0 == 2 }).max(by: { $0 < $1 }) else {
            throw OpenStackError(.invalidResponse, "the image service offers no v2 API")
        }
        return best
    }
}
