import GlimpseCore
import HTTPTypes
import Hummingbird
import NIOCore
import OpenStackEncoding
import OpenStackJSON

/// Maps every `ServiceError` kind to its HTTP status: the one place this happens.
extension ServiceError.Kind {
    var status: HTTPResponse.Status {
        switch self {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .notAcceptable: .notAcceptable
        case .conflict: .conflict
        case .gone: .gone
        case .payloadTooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .rangeNotSatisfiable: .rangeNotSatisfiable
        case .requestHeaderTooLarge: .requestHeaderFieldsTooLarge
        case .tooManyRequests: .tooManyRequests
        case .internalError: .internalServerError
        case .notImplemented: .notImplemented
        case .serviceUnavailable: .serviceUnavailable
        case .insufficientStorage: HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
        }
    }

    /// WebOb's status line text (`404 Not Found`).
    var statusLine: String {
        switch self {
        case .payloadTooLarge: "413 Request Entity Too Large"
        case .rangeNotSatisfiable: "416 Request Range Not Satisfiable"
        default: "\(status.code) \(status.reasonPhrase)"
        }
    }

    var title: String { String(statusLine.drop(while: { $0 != " " }).dropFirst()) }

    /// WebOb's stock explanation of the status.
    var stockExplanation: String {
        switch self {
        case .badRequest:
            "The server could not comply with the request since it is either malformed or otherwise incorrect."
        case .unauthorized:
            "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required."
        case .forbidden: "Access was denied to this resource."
        case .notFound: "The resource could not be found."
        case .methodNotAllowed: "The method is not allowed for this resource."
        case .notAcceptable: "The resource could not be generated in a form the client accepts."
        case .conflict: "There was a conflict when trying to complete your request."
        case .gone: "This resource is no longer available.  No forwarding address is given."
        case .payloadTooLarge: "The request is larger than the server is willing or able to process."
        case .unsupportedMediaType: "The request media type is not supported by this server."
        case .rangeNotSatisfiable: "The Range requested is not available."
        case .requestHeaderTooLarge: "The request header fields were too large."
        case .tooManyRequests: "Too many requests have been made in a given amount of time."
        case .internalError: "The server has either erred or is incapable of performing the requested operation."
        case .notImplemented: "The server has not implemented the requested functionality."
        case .serviceUnavailable: "The server is currently unavailable. Please try again at a later time."
        case .insufficientStorage: "There was not enough space to save the resource"
        }
    }
}

/// The error bodies of the three APIs: Glance's (WebOb's HTML, JSON or text by `Accept`),
/// Keystone's JSON and Nova's JSON.
enum ErrorFormat {
    case glance, keystone, nova

    func response(_ error: ServiceError, request: Request, baseURL: String) -> Response {
        var response =
            switch self {
            case .glance: Self.glance(error, accept: request.headers[.accept], method: request.method.rawValue)
            case .keystone: Self.keystone(error, authURL: baseURL + "/identity")
            case .nova: Self.nova(error)
            }
        if case .methodNotAllowed(let allowed) = error.kind {
            response.headers[.allow] = allowed.joined(separator: ", ")
        }
        for (name, value) in error.headers {
            if let field = HTTPField.Name(name) { response.headers[field] = value }
        }
        return response
    }

    // MARK: Glance

    enum Media { case html, json, plain }

    /// WebOb's choice: the best of `text/html` and `application/json` by q-value (html wins
    /// ties); neither acceptable, or no header, means plain text.
    static func media(accept: String?) -> Media {
        guard let accept, !accept.trimming(" ").isEmpty else { return .plain }
        let html = MediaRanges.quality(of: "text/html", in: accept)
        let json = MediaRanges.quality(of: "application/json", in: accept)
        if html <= 0, json <= 0 { return .plain }
        return json > html ? .json : .html
    }

    static func glanceBody(for error: ServiceError, method: String, escape: Bool) -> String {
        func esc(_ s: String) -> String { escape ? Markup.escape(s) : s }
        switch error.kind {
        case .unsupportedMediaType(let contentType):
            return "The request media type \(esc(contentType)) is not supported by this server.\n<br /><br />\n"
                + esc(error.detail ?? "")
        case .methodNotAllowed where error.explanation != nil:
            // An explanation of its own is the whole body (Glance's `body_template='${explanation}'`).
            return esc(error.explanation ?? "")
        case .methodNotAllowed:
            return "The method \(esc(method)) is not allowed for this resource. <br /><br />\n"
                + esc(error.detail ?? "")
        default:
            let explanation = error.explanation ?? error.kind.stockExplanation
            return esc(explanation) + "<br /><br />\n" + esc(error.detail ?? "") + "\n\n"
        }
    }

    static func glance(_ error: ServiceError, accept: String?, method: String) -> Response {
        let kind = error.kind
        var headers = HTTPFields()
        let text: String
        switch media(accept: accept) {
        case .html:
            headers[.contentType] = "text/html; charset=UTF-8"
            text =
                "<html>\n <head>\n  <title>\(kind.statusLine)</title>\n </head>\n <body>\n  <h1>\(kind.statusLine)</h1>\n  "
                + glanceBody(for: error, method: method, escape: true) + "\n </body>\n</html>"
        case .json:
            headers[.contentType] = "application/json"
            let doc: JSONValue = [
                "message": .string(glanceBody(for: error, method: method, escape: false)),
                "code": .string(kind.statusLine), "title": .string(kind.title),
            ]
            text = doc.jsonString
        case .plain:
            headers[.contentType] = "text/plain; charset=UTF-8"
            text = kind.statusLine + "\n\n" + stripTags(glanceBody(for: error, method: method, escape: false))
        }
        return Response(status: kind.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// WebOb's `strip_tags`: newlines become spaces, `<br />` becomes a newline, tags go.
    static func stripTags(_ s: String) -> String {
        var t = s.replacingAll("\r", with: "").replacingAll("\n", with: " ")
        t = t.replacingAll("<br />", with: "\n").replacingAll("<br/>", with: "\n").replacingAll("<br>", with: "\n")
        return t
    }

    // MARK: Keystone

    /// `{"error": {"code": 404, "message": …, "title": "Not Found"}}`.
    static func keystone(_ error: ServiceError, authURL: String) -> Response {
        let kind = error.kind
        let message =
            error.explanation.map { e in error.detail.map { "\(e) \($0)" } ?? e } ?? error.detail
            ?? kind.stockExplanation
        let doc: JSONValue = [
            "error": [
                "code": .number(JSONNumber(Int(kind.status.code))), "message": .string(message),
                "title": .string(kind.status.reasonPhrase),
            ]
        ]
        var headers: HTTPFields = [.contentType: "application/json"]
        if kind == .unauthorized { headers[.wwwAuthenticate] = "Keystone uri=\"\(authURL)\"" }
        return Response(
            status: kind.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: doc.serialized())))
    }

    // MARK: Nova

    static func novaName(_ kind: ServiceError.Kind) -> String {
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

    /// `{"itemNotFound": {"code": 404, "message": "Image not found."}}`.
    static func nova(_ error: ServiceError) -> Response {
        let message = [error.explanation, error.detail].compactMap { $0 }.joined(separator: " ")
        let doc: JSONValue = [
            .init(stringLiteral: novaName(error.kind)): [
                "code": .number(JSONNumber(Int(error.kind.status.code))),
                "message": .string(message.isEmpty ? error.kind.stockExplanation : message),
            ]
        ]
        return Response(
            status: error.kind.status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: doc.serialized())))
    }
}

/// `Accept` header matching with q-values and wildcards.
enum MediaRanges {
    /// The q-value the header gives `type` (the most specific matching range wins); 0 if none.
    static func quality(of type: String, in header: String) -> Double {
        let parts = type.split(separator: "/")
        var best: (specificity: Int, q: Double) = (-1, 0)
        for range in header.split(separator: ",") {
            let fields = range.split(separator: ";").map { $0.trimming(" \t") }
            guard let media = fields.first?.lowercased(), !media.isEmpty else { continue }
            var q = 1.0
            for p in fields.dropFirst() where p.lowercased().hasPrefix("q=") {
                q = Double(p.dropFirst(2)) ?? 0
            }
            let m = media.split(separator: "/")
            guard m.count == 2 else { continue }
            let specificity: Int
            if m[0] == "*", m[1] == "*" {
                specificity = 0
            } else if m[0] == parts[0], m[1] == "*" {
                specificity = 1
            } else if m[0] == parts[0], m[1] == parts[1] {
                specificity = 2
            } else {
                continue
            }
            if specificity > best.specificity { best = (specificity, q) }
        }
        return best.q
    }
}
