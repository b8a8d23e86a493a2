import GlimpseCore
import HTTPTypes
import Hummingbird
import OpenStackEncoding
import OpenStackJSON

/// The compute ("Nova") images API over the same catalog: `/compute/v2.1[/{project}]/images…`
/// and `/compute/v2/{project}/images…`, as Rackspace-era and novaclient-era tools use it.
struct ComputeRoutes {
    let images: ImageService
    let validator: any TokenValidator

    /// The highest microversion that still has the images proxy (2.36 removed it).
    static let maxVersion = (2, 35)
    static let metadataLimit = 128

    func add(to router: Router<GlimpseRequestContext>) {
        let routes = APIRoutes(middleware: [
            TokenAuthenticator(validator: validator, policy: images.policy), RequireIdentity(), ComputeMiddleware(),
        ])
        routes.resource("/", open: [(.get, versions)])
        routes.resource("/v2.1", open: [(.get, version("v2.1"))])
        routes.resource("/v2", open: [(.get, version("v2.0"))])
        for base in ["/v2.1", "/v2.1/:project", "/v2/:project"] {
            routes.resource(RouterPath(base + "/images"), [(.get, list(detail: false))])
            routes.resource(RouterPath(base + "/images/detail"), [(.get, list(detail: true))])
            routes.resource(RouterPath(base + "/images/:id"), [(.get, show), (.delete, delete)])
            routes.resource(
                RouterPath(base + "/images/:id/metadata"),
                [(.get, metadata), (.post, mergeMetadata), (.put, replaceMetadata)])
            routes.resource(
                RouterPath(base + "/images/:id/metadata/:key"),
                [(.get, metadataItem), (.put, setMetadataItem), (.delete, deleteMetadataItem)])
        }
        routes.add(to: router, at: "/compute")
    }

    static func versionObject(_ id: String, base: String) -> JSONValue {
        let current = id == "v2.1"
        return [
            "id": .string(id), "status": current ? "CURRENT" : "SUPPORTED",
            "version": current ? "\(maxVersion.0).\(maxVersion.1)" : "", "min_version": current ? "2.1" : "",
            "updated": current ? "2013-07-23T11:33:21Z" : "2011-01-21T11:33:21Z",
            "links": [["rel": "self", "href": .string("\(base)/compute/\(current ? "v2.1" : "v2")/")]],
            "media-types": [
                [
                    "base": "application/json",
                    "type": .string("application/vnd.openstack.compute+json;version=\(current ? "2.1" : "2")"),
                ]
            ],
        ]
    }

    @Sendable func versions(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        .json([
            "versions": [
                Self.versionObject("v2.0", base: context.baseURL), Self.versionObject("v2.1", base: context.baseURL),
            ]
        ])
    }

    func version(_ id: String) -> Handler {
        { _, context in .json(["version": Self.versionObject(id, base: context.baseURL)]) }
    }

    /// The links of the endpoint form the request used.
    func links(_ request: Request, _ context: GlimpseRequestContext) -> Links {
        let version = request.uri.path.hasPrefix("/compute/v2.1") ? "v2.1" : "v2"
        let project = context.parameters.get("project").map { URLCoding.decode($0) }
        return Links(base: context.baseURL, version: version, project: project)
    }

    /// Link builders for one request's endpoint form.
    struct Links {
        let base: String
        let version: String
        let project: String?

        var prefix: String { base + "/compute/" + version + (project.map { "/" + $0 } ?? "") }
        func image(_ id: String) -> JSONValue {
            [
                ["rel": "self", "href": .string(prefix + "/images/" + id)],
                [
                    "rel": "bookmark",
                    "href": .string(base + "/compute" + (project.map { "/" + $0 } ?? "") + "/images/" + id),
                ],
                [
                    "rel": "alternate", "type": "application/vnd.openstack.image",
                    "href": .string(base + "/images/" + id),
                ],
            ]
        }
        func server(_ id: String) -> JSONValue {
            [
                ["rel": "self", "href": .string(prefix + "/servers/" + id)],
                [
                    "rel": "bookmark",
                    "href": .string(base + "/compute" + (project.map { "/" + $0 } ?? "") + "/servers/" + id),
                ],
            ]
        }
    }

    @Sendable func show(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let image = try await show(context.parameters.decoded("id"), try context.principal())
        return .json([
            "image": try await detail(
                image, links(request, context), progress: try await images.uploadProgress(of: [image]))
        ])
    }

    @Sendable func delete(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        do {
            try await images.delete(context.parameters.decoded("id"), by: try context.principal())
        } catch let e as ServiceError where e.kind == .forbidden {
            throw ServiceError.forbidden("You are not allowed to delete the image.")
        } catch let e as ServiceError where e.kind == .notFound {
            throw ServiceError.notFound("Image not found.")
        }
        return .empty()
    }

    func show(_ id: String, _ p: Principal) async throws -> Image {
        do {
            return try await images.show(id, by: p)
        } catch let e as ServiceError where e.kind == .notFound {
            throw ServiceError.notFound("Image not found.")
        }
    }

    // MARK: Listing

    /// Compute statuses and the image statuses behind them.
    static let statusMap: [String: [ImageStatus]] = [
        "ACTIVE": [.active], "SAVING": [.queued, .saving], "DELETED": [.deleted, .pendingDelete],
        "ERROR": [.killed], "UNKNOWN": [.uploading, .importing, .deactivated],
    ]

    func list(detail: Bool) -> Handler {
        { request, context in
            let p = try context.principal()
            var r = ImageListRequest()
            let query = request.queryItems
            for (name, value) in query {
                switch name {
                case "limit":
                    guard let n = Int(value) else { throw ServiceError.badRequest("limit param must be an integer") }
                    guard n >= 0 else { throw ServiceError.badRequest("limit param must be positive") }
                    r.limit = n
                case "marker": r.marker = value
                case "name": r.conditions.append(.oneOf(.name, [value]))
                case "status":
                    let statuses = Self.statusMap[value.uppercased()] ?? []
                    r.conditions.append(.oneOf(.status, statuses.isEmpty ? ["-"] : statuses.map(\.rawValue)))
                case "changes-since":
                    guard let t = Timestamp(iso8601: value) else {
                        throw ServiceError.badRequest("Invalid changes-since value")
                    }
                    r.includeDeleted = true
                    r.conditions.append(.time(.updatedAt, .gte, t))
                case "server":
                    let id = value.split(separator: "/").last.map(String.init) ?? value
                    r.conditions.append(.property("instance_uuid", id))
                case "type":
                    switch value.lowercased() {
                    case "base": r.conditions.append(.propertyAbsent("image_type"))
                    default: r.conditions.append(.property("image_type", value.lowercased()))
                    }
                case "minDisk", "minRam":
                    guard let n = Int(value) else { throw ServiceError.badRequest("Invalid \(name) filter [\(value)]") }
                    r.conditions.append(.atLeast(name == "minDisk" ? .minDisk : .minRam, n))
                default:
                    if name.hasPrefix("property-") { r.conditions.append(.property(String(name.dropFirst(9)), value)) }
                }
            }
            r.limit = min(r.limit ?? images.config.maxPageSize, images.config.maxPageSize)
            let page: ImagePage
            do {
                page = try await images.list(r, by: p)
            } catch let e as ServiceError where e.kind == .badRequest && r.marker != nil {
                throw ServiceError.badRequest("marker [\(r.marker!)] not found")
            }
            let links = links(request, context)
            let progress = detail ? try await images.uploadProgress(of: page.images) : [:]
            var items: [JSONValue] = []
            for image in page.images {
                items.append(
                    detail
                        ? try await self.detail(image, links, progress: progress)
                        : [
                            "id": .string(image.id), "name": .optionalString(image.name),
                            "links": links.image(image.id),
                        ])
            }
            var body: JSONObject = ["images": .array(items)]
            if page.hasMore, let last = page.images.last {
                let params = query.filter { $0.0 != "marker" } + [("marker", last.id)]
                body["images_links"] = [
                    [
                        "rel": "next",
                        "href": .string(
                            links.prefix + "/images" + (detail ? "/detail" : "") + "?"
                                + URLCoding.encodeQuery(params)),
                    ]
                ]
            }
            return .json(.object(body))
        }
    }

    /// Status and progress as the compute API shows them. An upload in flight reports the
    /// share of bytes received so far, whichever server receives it.
    func statusAndProgress(_ image: Image, _ progress: [String: Int]) -> (String, Int) {
        switch image.status {
        case .active: ("ACTIVE", 100)
        case .queued: ("SAVING", 0)
        case .saving: ("SAVING", progress[image.id] ?? 50)
        case .deleted, .pendingDelete: ("DELETED", 0)
        case .killed: ("ERROR", 0)
        case .uploading, .importing, .deactivated: ("UNKNOWN", 0)
        }
    }

    static func metadataValue(_ v: JSONValue) -> JSONValue {
        if case .string = v { return v }
        return .string(v.jsonString)
    }

    func detail(_ image: Image, _ links: Links, progress uploads: [String: Int]) async throws -> JSONValue {
        let (status, progress) = statusAndProgress(image, uploads)
        let metadata = Self.metadata(of: image)
        var o: JSONObject = [
            "id": .string(image.id), "name": .optionalString(image.name),
            "minRam": .number(JSONNumber(image.minRam)), "minDisk": .number(JSONNumber(image.minDisk)),
            "metadata": .object(metadata), "created": .string(image.createdAt.iso8601),
            "updated": .string(image.updatedAt.iso8601),
            "status": .string(status), "progress": .number(JSONNumber(progress)),
            "OS-EXT-IMG-SIZE:size": .number(JSONNumber(image.size ?? 0)), "links": links.image(image.id),
        ]
        if case .string(let server)? = image.properties["instance_uuid"] {
            o["server"] = ["id": .string(server), "links": links.server(server)]
        }
        if let auto = image.properties["auto_disk_config"] {
            let truthy = ["true", "1", "yes", "on"].contains((auto.stringValue ?? auto.jsonString).lowercased())
            o["OS-DCF:diskConfig"] = truthy ? "AUTO" : "MANUAL"
        }
        return .object(o)
    }

    // MARK: Metadata

    static func metadata(of image: Image) -> JSONObject {
        var out = JSONObject()
        for m in image.properties { out[m.key] = metadataValue(m.value) }
        return out
    }

    @Sendable func metadata(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let image = try await show(context.parameters.decoded("id"), try context.principal())
        return .json(["metadata": .object(Self.metadata(of: image))])
    }

    @Sendable func mergeMetadata(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await setMetadata(request, context, replace: false)
    }

    @Sendable func replaceMetadata(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        try await setMetadata(request, context, replace: true)
    }

    func setMetadata(_ request: Request, _ context: GlimpseRequestContext, replace: Bool) async throws -> Response {
        let p = try context.principal()
        let id = context.parameters.decoded("id")
        let image = try await show(id, p)
        guard case .object(let given)? = try await request.jsonBody(context)["metadata"] else {
            throw ServiceError.badRequest("Malformed request body")
        }
        try Self.check(given)
        var ops: [PatchOperation] = given.map { PatchOperation(.add, $0.key, $0.value) }
        if replace {
            ops += image.properties.filter { given[$0.key] == nil }.map { PatchOperation(.remove, $0.key) }
        }
        let count =
            replace ? given.count : image.properties.count + given.filter { image.properties[$0.key] == nil }.count
        if count > Self.metadataLimit { throw ServiceError.forbidden("Image metadata limit exceeded") }
        let updated = try await update(id, ops, p)
        return .json(["metadata": .object(replace ? given : Self.metadata(of: updated))])
    }

    @Sendable func metadataItem(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let image = try await show(context.parameters.decoded("id"), try context.principal())
        let key = context.parameters.decoded("key")
        guard let value = image.properties[key] else { throw ServiceError.notFound("Metadata item was not found") }
        return .json(["meta": [key: Self.metadataValue(value)]])
    }

    @Sendable func setMetadataItem(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let (id, key) = (context.parameters.decoded("id"), context.parameters.decoded("key"))
        let image = try await show(id, p)
        guard case .object(let meta)? = try await request.jsonBody(context)["meta"] else {
            throw ServiceError.badRequest("Malformed request body")
        }
        guard meta.count == 1 else { throw ServiceError.badRequest("Request body contains too many items") }
        guard let value = meta[key] else { throw ServiceError.badRequest("Request body and URI mismatch") }
        try Self.check(meta)
        if image.properties[key] == nil, image.properties.count + 1 > Self.metadataLimit {
            throw ServiceError.forbidden("Image metadata limit exceeded")
        }
        _ = try await update(id, [PatchOperation(.add, key, value)], p)
        return .json(["meta": .object(meta)])
    }

    @Sendable func deleteMetadataItem(_ request: Request, _ context: GlimpseRequestContext) async throws -> Response {
        let p = try context.principal()
        let (id, key) = (context.parameters.decoded("id"), context.parameters.decoded("key"))
        let image = try await show(id, p)
        guard image.properties[key] != nil else { throw ServiceError.notFound("Metadata item was not found") }
        _ = try await update(id, [PatchOperation(.remove, key)], p)
        return .empty()
    }

    /// Metadata keys are 1–255 characters, not core image attributes; values are strings.
    static func check(_ metadata: JSONObject) throws(ServiceError) {
        for m in metadata {
            guard !m.key.isEmpty, m.key.unicodeScalars.count <= 255 else {
                throw .badRequest("Invalid metadata key: the key must be 1 to 255 characters.")
            }
            guard !ImageSchemas.coreAttributes.contains(m.key) else {
                throw .badRequest("Invalid metadata key: '\(m.key)' is an image attribute, not metadata.")
            }
            guard case .string(let v) = m.value, v.unicodeScalars.count <= 255 else {
                throw .badRequest(
                    "Invalid metadata value for '\(m.key)': a string of at most 255 characters is expected.")
            }
        }
    }

    func update(_ id: String, _ ops: [PatchOperation], _ p: Principal) async throws -> Image {
        do {
            return try await images.update(id, ops, by: p)
        } catch let e as ServiceError where e.kind == .notFound {
            throw ServiceError.notFound("Image not found.")
        }
    }
}

/// The compute images API's checks and headers: a microversion past the images proxy's last
/// one is refused (406) as Nova refuses it, a project in the URL must be the token's, and
/// answers carry the API version headers.
struct ComputeMiddleware: RouterMiddleware {
    typealias Context = GlimpseRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let p = try context.principal()
        try Self.checkMicroversion(request)
        if let project = context.parameters.get("project").map({ URLCoding.decode($0) }), project != p.projectId {
            throw ServiceError.badRequest(
                "Malformed request URL: URL's project_id '\(project)' doesn't match Context's project_id '\(p.projectId ?? "None")'"
            )
        }
        var response = try await next(request, context)
        response.headers[.openStackAPIVersion] = "compute 2.1"
        response.headers[.novaAPIVersion] = "2.1"
        response.headers[.vary] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return response
    }

    static func checkMicroversion(_ request: Request) throws(ServiceError) {
        var requested = request.headers[.novaAPIVersion]
        if let v = request.headers[.openStackAPIVersion] {
            let parts = v.split(separator: " ")
            if parts.count == 2, parts[0].lowercased() == "compute" { requested = String(parts[1]) }
        }
        guard let requested, requested.lowercased() != "latest" else { return }
        let nums = requested.split(separator: ".").compactMap { Int($0) }
        let max = ComputeRoutes.maxVersion
        guard nums.count == 2, nums[0] == 2, nums[1] >= 1, (nums[0], nums[1]) <= max else {
            throw ServiceError(
                .notAcceptable,
                explanation:
                    "Version \(requested) is not supported by the API. Minimum is 2.1 and maximum is \(max.0).\(max.1)."
            )
        }
    }
}
