import GlimpseCore
import HTTPTypes
import Hummingbird
import OpenStackJSON

/// The compute ("Nova") images API over the same catalog: `/compute/v2.1[/{project}]/images…`
/// and `/compute/v2/{project}/images…`, as Rackspace-era and novaclient-era tools use it.
struct ComputeAPI: Sendable {
    let images: ImageService
    let validator: any TokenValidator

    /// The highest microversion that still has the images proxy (2.36 removed it).
    static let maxVersion = (2, 35)
    static let metadataLimit = 128

    static func versionObject(_ id: String, base: String) -> JSONValue {
        let current = id == "v2.1"
        return [
            "id": .string(id), "status": current ? "CURRENT" : "SUPPORTED",
            "version": current ? "\(maxVersion.0).\(maxVersion.1)" : "", "min_version": current ? "2.1" : "",
            "updated": current ? "2013-07-23T11:33:21Z" : "2011-01-21T11:33:21Z",
            "links": [["rel": "self", "href": .string("\(base)/compute/\(id == "v2.1" ? "v2.1" : "v2")/")]],
            "media-types": [["base": "application/json", "type": .string("application/vnd.openstack.compute+json;version=\(id == "v2.1" ? "2.1" : "2")")]],
        ]
    }

    /// Handles the segments after `/compute`.
    func handle(_ req: APIRequest, _ segments: [String]) async throws -> Response {
        let base = req.baseURL
        guard let version = segments.first, !version.isEmpty else {
            guard req.method == .get else { throw notAllowed("GET") }
            return req.json(["versions": [Self.versionObject("v2.0", base: base), Self.versionObject("v2.1", base: base)]])
        }
        guard version == "v2" || version == "v2.1" else { throw ServiceError.notFound("Image not found.") }
        var rest = Array(segments.dropFirst()).filter { !$0.isEmpty }
        if rest.isEmpty {
            guard req.method == .get else { throw notAllowed("GET") }
            return req.json(["version": Self.versionObject(version == "v2" ? "v2.0" : "v2.1", base: base)])
        }
        let p = try await principal(req)
        try checkMicroversion(req)
        var project: String?
        if rest.first != "images" {
            project = rest.removeFirst()
            if project != p.projectId {
                throw ServiceError.badRequest("Malformed request URL: URL's project_id '\(project!)' doesn't match Context's project_id '\(p.projectId ?? "None")'")
            }
        } else if version == "v2" {
            throw ServiceError.notFound("The resource could not be found.")
        }
        let links = Links(base: base, version: version, project: project)
        guard rest.first == "images" else { throw ServiceError.notFound("The resource could not be found.") }
        var response = try await route(req, Array(rest.dropFirst()), p, links)
        response.headers[HTTPField.Name("OpenStack-API-Version")!] = "compute 2.1"
        response.headers[HTTPField.Name("X-OpenStack-Nova-API-Version")!] = "2.1"
        response.headers[.vary] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return response
    }

    func notAllowed(_ allowed: String) -> ServiceError {
        ServiceError(.methodNotAllowed(allowed: allowed.split(separator: ",").map { $0.trimmingCharacters(in: " ") }))
    }

    func principal(_ req: APIRequest) async throws -> Principal {
        guard let token = req.header(.authToken), !token.isEmpty,
              let p = try await validator.principal(forToken: token)
        else { throw AuthenticationRequired() }
        return p
    }

    /// Requests for a microversion past the images proxy's last one are refused (406), as Nova does.
    func checkMicroversion(_ req: APIRequest) throws(ServiceError) {
        var requested = req.header(HTTPField.Name("X-OpenStack-Nova-API-Version")!)
        if let v = req.header(HTTPField.Name("OpenStack-API-Version")!) {
            let parts = v.split(separator: " ")
            if parts.count == 2, parts[0].lowercased() == "compute" { requested = String(parts[1]) }
        }
        guard let requested, requested.lowercased() != "latest" else { return }
        let nums = requested.split(separator: ".").compactMap { Int($0) }
        guard nums.count == 2, nums[0] == 2, nums[1] >= 1, (nums[0], nums[1]) <= Self.maxVersion else {
            throw ServiceError(.notAcceptable, explanation:
                "Version \(requested) is not supported by the API. Minimum is 2.1 and maximum is \(Self.maxVersion.0).\(Self.maxVersion.1).")
        }
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
                ["rel": "bookmark", "href": .string(base + "/compute" + (project.map { "/" + $0 } ?? "") + "/images/" + id)],
                ["rel": "alternate", "type": "application/vnd.openstack.image", "href": .string(base + "/images/" + id)],
            ]
        }
        func server(_ id: String) -> JSONValue {
            [
                ["rel": "self", "href": .string(prefix + "/servers/" + id)],
                ["rel": "bookmark", "href": .string(base + "/compute" + (project.map { "/" + $0 } ?? "") + "/servers/" + id)],
            ]
        }
    }

    func route(_ req: APIRequest, _ rest: [String], _ p: Principal, _ links: Links) async throws -> Response {
        switch rest.count {
        case 0:
            guard req.method == .get else { throw notAllowed("GET") }
            return try await list(req, p, links, detail: false)
        case 1 where rest[0] == "detail":
            guard req.method == .get else { throw notAllowed("GET") }
            return try await list(req, p, links, detail: true)
        case 1:
            let id = rest[0]
            switch req.method {
            case .get: return req.json(["image": try await detail(try await show(id, p), links)])
            case .delete:
                do {
                    try await images.delete(id, by: p)
                } catch let e as ServiceError where e.kind == .forbidden {
                    throw ServiceError.forbidden("You are not allowed to delete the image.")
                } catch let e as ServiceError where e.kind == .notFound {
                    throw ServiceError.notFound("Image not found.")
                }
                return Response(status: .noContent)
            default: throw notAllowed("GET, DELETE")
            }
        case 2 where rest[1] == "metadata":
            return try await metadata(req, rest[0], key: nil, p)
        case 3 where rest[1] == "metadata":
            return try await metadata(req, rest[0], key: rest[2], p)
        default:
            throw ServiceError.notFound("The resource could not be found.")
        }
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

    func list(_ req: APIRequest, _ p: Principal, _ links: Links, detail: Bool) async throws -> Response {
        var r = ImageListRequest()
        for (name, value) in req.query {
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
                guard let t = Timestamp(iso8601: value) else { throw ServiceError.badRequest("Invalid changes-since value") }
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
        var items: [JSONValue] = []
        for image in page.images {
            items.append(detail ? try await self.detail(image, links) : ["id": .string(image.id), "name": .optionalString(image.name), "links": links.image(image.id)])
        }
        var body: JSONObject = ["images": .array(items)]
        if page.hasMore, let last = page.images.last {
            let params = req.query.filter { $0.0 != "marker" } + [("marker", last.id)]
            body["images_links"] = [["rel": "next", "href": .string(links.prefix + "/images" + (detail ? "/detail" : "") + "?" + URLCoding.encodeQuery(params))]]
        }
        return req.json(.object(body))
    }

    /// Status and progress as the compute API shows them. An upload in flight reports the
    /// share of bytes received so far.
    func statusAndProgress(_ image: Image) -> (String, Int) {
        switch image.status {
        case .active: return ("ACTIVE", 100)
        case .queued: return ("SAVING", 0)
        case .saving: return ("SAVING", images.uploads.progress(of: image.id)?.percent.map { min($0, 99) } ?? 50)
        case .deleted, .pendingDelete: return ("DELETED", 0)
        case .killed: return ("ERROR", 0)
        case .uploading, .importing, .deactivated: return ("UNKNOWN", 0)
        }
    }

    static func metadataValue(_ v: JSONValue) -> JSONValue {
        if case .string = v { return v }
        return .string(v.jsonString)
    }

    func detail(_ image: Image, _ links: Links) async throws -> JSONValue {
        let (status, progress) = statusAndProgress(image)
        var metadata = JSONObject()
        for m in image.properties { metadata[m.key] = Self.metadataValue(m.value) }
        var o: JSONObject = [
            "id": .string(image.id), "name": .optionalString(image.name),
            "minRam": .number(JSONNumber(image.minRam)), "minDisk": .number(JSONNumber(image.minDisk)),
            "metadata": .object(metadata), "created": .string(image.createdAt.iso8601), "updated": .string(image.updatedAt.iso8601),
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

    func metadata(_ req: APIRequest, _ id: String, key: String?, _ p: Principal) async throws -> Response {
        let image = try await show(id, p)
        func current(_ image: Image) -> JSONObject {
            var out = JSONObject()
            for m in image.properties { out[m.key] = Self.metadataValue(m.value) }
            return out
        }
        switch (key, req.method) {
        case (nil, .get):
            return req.json(["metadata": .object(current(image))])
        case (nil, .post), (nil, .put):
            guard case .object(let given)? = try await req.jsonBody()["metadata"] else {
                throw ServiceError.badRequest("Malformed request body")
            }
            try Self.check(given)
            let replace = req.method == .put
            var ops: [PatchOperation] = given.map { PatchOperation(.add, $0.key, $0.value) }
            if replace {
                ops += image.properties.filter { given[$0.key] == nil }.map { PatchOperation(.remove, $0.key) }
            }
            let count = replace ? given.count : current(image).count + given.filter { image.properties[$0.key] == nil }.count
            if count > Self.metadataLimit { throw ServiceError.forbidden("Image metadata limit exceeded") }
            let updated = try await update(id, ops, p)
            return req.json(["metadata": .object(replace ? given : current(updated))])
        case (nil, _):
            throw notAllowed("GET, POST, PUT")
        case (let key?, .get):
            guard let value = image.properties[key] else { throw ServiceError.notFound("Metadata item was not found") }
            return req.json(["meta": [key: Self.metadataValue(value)]])
        case (let key?, .put):
            guard case .object(let meta)? = try await req.jsonBody()["meta"] else { throw ServiceError.badRequest("Malformed request body") }
            guard meta.count == 1 else { throw ServiceError.badRequest("Request body contains too many items") }
            guard let value = meta[key] else { throw ServiceError.badRequest("Request body and URI mismatch") }
            try Self.check(meta)
            if image.properties[key] == nil, image.properties.count + 1 > Self.metadataLimit {
                throw ServiceError.forbidden("Image metadata limit exceeded")
            }
            _ = try await update(id, [PatchOperation(.add, key, value)], p)
            return req.json(["meta": .object(meta)])
        case (let key?, .delete):
            guard image.properties[key] != nil else { throw ServiceError.notFound("Metadata item was not found") }
            _ = try await update(id, [PatchOperation(.remove, key)], p)
            return Response(status: .noContent)
        case (_?, _):
            throw notAllowed("GET, PUT, DELETE")
        }
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
                throw .badRequest("Invalid metadata value for '\(m.key)': a string of at most 255 characters is expected.")
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

/// Nova's error bodies: `{"itemNotFound": {"code": 404, "message": "Image not found."}}`.
enum NovaErrorFormat {
    static func name(_ kind: ServiceError.Kind) -> String {
        switch kind {
        case .badRequest: "badRequest"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .notFound: "itemNotFound"
        case .methodNotAllowed: "badMethod"
        case .notAcceptable: "notAcceptable"
        case .conflict: "conflictingRequest"
        case .payloadTooLarge: "overLimit"
        case .unsupportedMediaType: "badMediaType"
        case .notImplemented: "notImplemented"
        case .serviceUnavailable: "serviceUnavailable"
        default: "computeFault"
        }
    }

    static func response(_ error: ServiceError) -> Response {
        let message = [error.explanation, error.detail].compactMap { $0 }.joined(separator: " ")
        let doc: JSONValue = [
            .init(stringLiteral: name(error.kind)): [
                "code": .number(JSONNumber(Int(error.kind.status.code))),
                "message": .string(message.isEmpty ? error.kind.stockExplanation : message),
            ],
        ]
        var headers: HTTPFields = [.contentType: "application/json"]
        if case .methodNotAllowed(let allowed) = error.kind { headers[.allow] = allowed.joined(separator: ", ") }
        return Response(status: error.kind.status, headers: headers, body: ResponseBody(byteBuffer: .init(bytes: doc.serialized())))
    }
}
