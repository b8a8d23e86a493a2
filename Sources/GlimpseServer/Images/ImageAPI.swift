import GlimpseCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenStackJSON

/// The Glance v2 image API: routes requests under `/v2/` to the image service and
/// translates between the wire and the domain.
struct ImageAPI: Sendable {
    let images: ImageService
    let metadefs: MetadefAPI
    let validator: any TokenValidator
    let schemas: ImageSchemas

    init(images: ImageService, metadefs: MetadefService, validator: any TokenValidator) {
        self.images = images
        self.metadefs = MetadefAPI(metadefs: metadefs)
        self.validator = validator
        self.schemas = images.schemas
    }

    // MARK: Versions

    /// Versions advertised, newest first; each maps to the same `/v2/` endpoint.
    static let versions: [(id: String, status: String)] = [
        ("v2.15", "CURRENT"), ("v2.13", "SUPPORTED"), ("v2.9", "SUPPORTED"), ("v2.8", "SUPPORTED"),
        ("v2.7", "SUPPORTED"), ("v2.6", "SUPPORTED"), ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"),
        ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"), ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED"),
    ]

    /// Path prefixes rewritten to `/v2` (Glance's version negotiation).
    static let aliases: Set<String> = Set(["v2"] + versions.map(\.id))

    static func versionsDocument(baseURL: String) -> JSONValue {
        let href = JSONValue.string(baseURL + "/v2/")
        return ["versions": .array(versions.map { v in
            ["id": .string(v.id), "status": .string(v.status), "links": [["rel": "self", "href": href]]]
        })]
    }

    // MARK: Dispatch

    /// Handles a request whose path is `segments` (the version prefix already removed).
    func handle(_ req: APIRequest, _ segments: [String]) async throws -> Response {
        let m = req.method
        switch segments.count {
        case 1 where segments[0] == "images":
            switch m {
            case .get: return try await list(req)
            case .post: return try await create(req)
            default: throw notAllowed("GET, POST")
            }
        case 2 where segments[0] == "images":
            let id = segments[1]
            if id.isEmpty { throw ServiceError.notFound() }
            switch m {
            case .get:
                try req.requireNoBody()
                return req.json(ImageJSON.image(try await images.show(id, by: try await principal(req))))
            case .patch: return try await update(req, id)
            case .delete:
                try req.requireNoBody()
                try await images.delete(id, by: try await principal(req))
                return req.empty()
            default: throw notAllowed("GET, PATCH, DELETE")
            }
        case 3 where segments[0] == "images":
            let id = segments[1]
            switch segments[2] {
            case "file":
                switch m {
                case .get: return try await download(req, id)
                case .put: return try await upload(req, id, stage: false)
                default: throw notAllowed("GET, PUT")
                }
            case "stage":
                guard m == .put else { throw notAllowed("PUT") }
                return try await upload(req, id, stage: true)
            case "import":
                guard m == .post else { throw notAllowed("POST") }
                let p = try await principal(req)
                try await images.importImage(id, body: try await req.jsonBody(), by: p)
                return req.empty(.accepted)
            case "members":
                switch m {
                case .get:
                    try req.requireNoBody()
                    return req.json(ImageJSON.members(try await images.members(id, by: try await principal(req))))
                case .post:
                    let p = try await principal(req)
                    let body = try await req.jsonBody()
                    return req.json(ImageJSON.member(try await images.addMember(id, body: body, by: p)))
                default: throw notAllowed("GET, POST")
                }
            default: throw ServiceError.notFound()
            }
        case 4 where segments[0] == "images" && segments[2] == "actions":
            guard m == .post else { throw notAllowed("POST") }
            try req.requireNoBody()
            let p = try await principal(req)
            switch segments[3] {
            case "deactivate": try await images.deactivate(segments[1], by: p)
            case "reactivate": try await images.reactivate(segments[1], by: p)
            default: throw ServiceError.notFound()
            }
            return req.empty()
        case 4 where segments[0] == "images" && segments[2] == "tags":
            try req.requireNoBody()
            let (id, tag) = (segments[1], segments[3])
            switch m {
            case .put: try await images.addTag(id, tag, by: try await principal(req))
            case .delete: try await images.removeTag(id, tag, by: try await principal(req))
            default: throw notAllowed("PUT, DELETE")
            }
            return req.empty()
        case 4 where segments[0] == "images" && segments[2] == "members":
            let (id, member) = (segments[1], segments[3])
            switch m {
            case .get:
                try req.requireNoBody()
                return req.json(ImageJSON.member(try await images.member(id, member, by: try await principal(req))))
            case .put:
                let p = try await principal(req)
                let body = try await req.jsonBody()
                return req.json(ImageJSON.member(try await images.updateMember(id, member, body: body, by: p)))
            case .delete:
                try req.requireNoBody()
                try await images.removeMember(id, member, by: try await principal(req))
                return req.empty()
            default: throw notAllowed("GET, PUT, DELETE")
            }
        case 2 where segments[0] == "schemas":
            guard m == .get else { throw notAllowed("GET") }
            try req.requireNoBody()
            _ = try await principal(req)
            switch segments[1] {
            case "image": return req.json(schemas.image)
            case "images": return req.json(schemas.images)
            case "member": return req.json(schemas.member)
            case "members": return req.json(schemas.members)
            default: throw ServiceError.notFound()
            }
        case 3 where segments[0] == "schemas" && segments[1] == "metadefs":
            guard m == .get else { throw notAllowed("GET") }
            _ = try await principal(req)
            guard let schema = MetadefAPI.schemas[segments[2]] else { throw ServiceError.notFound() }
            return req.json(schema)
        case 2...5 where segments[0] == "metadefs":
            return try await metadefs.handle(req, Array(segments.dropFirst()), principal: try await principal(req))
        case 2 where segments[0] == "info", 3 where segments[0] == "info":
            guard m == .get else { throw notAllowed("GET") }
            try req.requireNoBody()
            return try await info(req, Array(segments.dropFirst()))
        default:
            throw ServiceError.notFound()
        }
    }

    func notAllowed(_ allowed: String) -> ServiceError {
        ServiceError(.methodNotAllowed(allowed: allowed.split(separator: ",").map { $0.trimmingCharacters(in: " ") }))
    }

    /// The caller behind `X-Auth-Token`; 401 in keystonemiddleware's form otherwise.
    func principal(_ req: APIRequest) async throws -> Principal {
        guard let token = req.header(.authToken), !token.isEmpty,
              let p = try await validator.principal(forToken: token)
        else { throw AuthenticationRequired() }
        return p
    }

    // MARK: Images

    func create(_ req: APIRequest) async throws -> Response {
        let p = try await principal(req)
        let body = try await req.jsonBody()
        let image = try await images.create(body, by: p)
        var headers: HTTPFields = [.location: req.baseURL + "/v2/images/" + image.id]
        if !images.config.importMethods.isEmpty {
            headers[.importMethods] = images.config.importMethods.joined(separator: ",")
        }
        headers[.storeIds] = images.blobs.id
        return req.json(ImageJSON.image(image), status: .created, headers: headers)
    }

    func list(_ req: APIRequest) async throws -> Response {
        let p = try await principal(req)
        let request = try ListParameters.parse(req.query)
        let page = try await images.list(request, by: p)
        let params = req.query.filter { $0.0 != "marker" }
        let first = params.isEmpty ? "/v2/images" : "/v2/images?" + URLCoding.encodeQuery(params)
        var next: String?
        if page.hasMore, let last = page.images.last {
            next = "/v2/images?" + URLCoding.encodeQuery(params + [("marker", last.id)])
        }
        return req.json(ImageJSON.page(page.images, first: first, next: next))
    }

    func update(_ req: APIRequest, _ id: String) async throws -> Response {
        let p = try await principal(req)
        let contentType = req.header(.contentType) ?? ""
        guard let dialect = PatchDialect(contentType: contentType) else {
            throw ServiceError(
                .unsupportedMediaType(contentType: contentType),
                detail: "Image PATCH expects Content-Type one of: \(PatchDialect.v20MediaType), \(PatchDialect.v21MediaType)",
                headers: [("Accept-Patch", "\(PatchDialect.v20MediaType), \(PatchDialect.v21MediaType)")])
        }
        let ops = try dialect.parse(try await req.jsonBody())
        return req.json(ImageJSON.image(try await images.update(id, ops, by: p)))
    }

    // MARK: Data

    func upload(_ req: APIRequest, _ id: String, stage: Bool) async throws -> Response {
        let p = try await principal(req)
        let contentType = req.header(.contentType) ?? ""
        if contentType.split(separator: ";").first?.trimmingCharacters(in: " ").lowercased() != "application/octet-stream" {
            throw ServiceError(.unsupportedMediaType(contentType: contentType), detail: "Invalid content type \(contentType)")
        }
        var declared: Int?
        if let sizeHeader = req.header(.imageSize) {
            guard let n = Int(sizeHeader), n >= 0 else {
                throw ServiceError.badRequest("Invalid value for x-openstack-image-size: \(sizeHeader)")
            }
            declared = n
        }
        let contentLength = req.header(.contentLength).flatMap { Int($0) }
        if let declared, let contentLength, declared != contentLength {
            throw ServiceError.badRequest("The x-openstack-image-size header (\(declared)) does not match the Content-Length (\(contentLength)).")
        }
        if stage {
            try await images.stage(id, body: req.request.body, declaredSize: declared ?? contentLength, by: p,
                                   willRead: { await req.sendContinueIfExpected() })
        } else {
            try await images.upload(id, body: req.request.body, declaredSize: declared ?? contentLength, by: p,
                                    willRead: { await req.sendContinueIfExpected() })
        }
        return req.empty()
    }

    func download(_ req: APIRequest, _ id: String) async throws -> Response {
        try req.requireNoBody()
        let p = try await principal(req)
        guard let source = try await images.data(id, by: p) else { return Response(status: .noContent) }
        let size = source.size
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        if let md5 = source.image.checksum { headers[.contentMD5] = md5 }
        var status = HTTPResponse.Status.ok
        var range: ClosedRange<Int>?
        if let spec = req.header(.range) ?? req.header(.contentRange) {
            range = try ByteRange.resolve(spec, size: size, isContentRange: req.header(.range) == nil)
            if let range {
                status = .partialContent
                headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
            }
        }
        let length = range.map { $0.count } ?? size
        headers[.contentLength] = String(length)
        if length == 0 {
            return Response(status: status, headers: headers)
        }
        let stream = try await source.open(range: range)
        let logger = req.logger
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: length) { writer in
            var sent = 0
            do {
                for try await chunk in stream {
                    sent += chunk.readableBytes
                    try await writer.write(chunk)
                }
                try await writer.finish(nil)
            } catch {
                stream.cancel()
                logger.warning("download interrupted", metadata: ["image_id": "\(id)", "sent": "\(sent)", "error": "\(error)"])
                throw error
            }
        })
    }

    // MARK: Info

    func info(_ req: APIRequest, _ rest: [String]) async throws -> Response {
        let p = try await principal(req)
        switch rest {
        case ["import"]:
            return req.json(["import-methods": [
                "description": "Import methods available.", "type": "array",
                "value": .array(images.config.importMethods.map { .string($0) }),
            ]])
        case ["stores"]:
            return req.json(["stores": [["id": .string(images.blobs.id), "default": "true"]]])
        case ["stores", "detail"]:
            guard p.isAdmin else { throw ServiceError.policy("stores_info_detail") }
            var store: JSONValue = [
                "id": .string(images.blobs.id), "default": "true", "type": .string(images.blobs.type), "weight": 0,
            ]
            if case .object(var o) = store {
                o["properties"] = ["free_space": await images.blobs.freeSpace().map { .number(JSONNumber($0)) } ?? .null]
                store = .object(o)
            }
            return req.json(["stores": [store]])
        case ["usage"]:
            guard let project = p.projectId else { return req.json(["usage": [:]]) }
            let usage = try await images.usage(of: project)
            func mib(_ bytes: Int) -> JSONValue { .number(JSONNumber((bytes + (1 << 20) - 1) >> 20)) }
            let quota = images.config.userStorageQuota
            return req.json(["usage": [
                "image_size_total": ["limit": quota > 0 ? mib(quota) : -1, "usage": mib(usage.bytes)],
                "image_stage_total": ["limit": -1, "usage": 0],
                "image_count_total": ["limit": -1, "usage": .number(JSONNumber(usage.images))],
                "image_count_uploading": ["limit": -1, "usage": .number(JSONNumber(usage.uploading))],
            ]])
        default:
            throw ServiceError.notFound()
        }
    }
}

/// Raised when a request has no valid token.
struct AuthenticationRequired: Error {}

/// `Range: bytes=…` (and Glance's legacy `Content-Range: bytes a-b/*` request header).
enum ByteRange {
    static func resolve(_ spec: String, size: Int, isContentRange: Bool) throws(ServiceError) -> ClosedRange<Int>? {
        var s = spec.trimmingCharacters(in: " ")
        guard s.lowercased().hasPrefix("bytes") else { return nil }
        s = String(s.dropFirst(5)).trimmingCharacters(in: " =")
        if isContentRange, let slash = s.firstIndex(of: "/") { s = String(s[..<slash]) }
        if s.contains(",") {
            throw .badRequest("Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.")
        }
        let parts = s.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: " ") }
        let unsatisfiable = ServiceError(.rangeNotSatisfiable,
                                         detail: "Invalid start position in Range header. Start position MUST be in the inclusive range [0, \(max(0, size - 1))].")
        guard parts.count == 2 else { throw unsatisfiable }
        if parts[0].isEmpty {
            guard let n = Int(parts[1]), n > 0 else { throw unsatisfiable }
            if size == 0 { throw unsatisfiable }
            return max(0, size - n)...(size - 1)
        }
        guard let start = Int(parts[0]), start >= 0, start < size else { throw unsatisfiable }
        if parts[1].isEmpty { return start...(size - 1) }
        guard let end = Int(parts[1]), end >= start else { throw unsatisfiable }
        return start...min(end, size - 1)
    }
}
