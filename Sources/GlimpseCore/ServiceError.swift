/// An error a use case reports to its caller. Each kind maps to exactly one HTTP status
/// (in the server's error renderer); the texts follow Glance's wording so that clients and
/// people see the messages they know.
///
/// Glance renders an error as an *explanation* (first line) and an optional *detail*.
/// Some errors state their message as the explanation ("No image found with ID x"); others
/// keep the status's stock explanation ("Access was denied to this resource.") and put the
/// message in the detail.
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case badRequest
        case unauthorized
        case forbidden
        case notFound
        case methodNotAllowed(allowed: [String])
        case notAcceptable
        case conflict
        case gone
        case payloadTooLarge
        case unsupportedMediaType(contentType: String)
        case rangeNotSatisfiable
        case requestHeaderTooLarge
        case tooManyRequests
        case internalError
        case notImplemented
        case serviceUnavailable
        /// 507: the metadata database has no room to write (`StoreError.full`).
        case insufficientStorage
    }

    public var kind: Kind
    /// The first line; nil means the status's stock explanation.
    public var explanation: String?
    /// Further text shown after the explanation.
    public var detail: String?
    /// Extra response headers (e.g. `Accept-Patch` on a 415).
    public var headers: [(String, String)]

    public init(_ kind: Kind, explanation: String? = nil, detail: String? = nil, headers: [(String, String)] = []) {
        self.kind = kind
        self.explanation = explanation
        self.detail = detail
        self.headers = headers
    }

    public static func == (a: ServiceError, b: ServiceError) -> Bool {
        a.kind == b.kind && a.explanation == b.explanation && a.detail == b.detail
    }

    /// The text a log line or a CLI shows.
    public var message: String {
        switch (explanation, detail) {
        case (let e?, let d?): "\(e) \(d)"
        case (let e?, nil): e
        case (nil, let d?): d
        case (nil, nil): "\(kind)"
        }
    }

    public var description: String { "\(kind): \(message)" }

    // MARK: Common constructors

    public static func badRequest(_ message: String) -> ServiceError { ServiceError(.badRequest, explanation: message) }
    public static func forbidden(_ message: String) -> ServiceError { ServiceError(.forbidden, explanation: message) }
    /// 403 with the stock "Access was denied" explanation and the message as detail.
    public static func forbiddenDetail(_ message: String) -> ServiceError { ServiceError(.forbidden, detail: message) }
    public static func notFound(_ message: String? = nil) -> ServiceError {
        ServiceError(.notFound, explanation: message)
    }
    public static func conflict(_ message: String) -> ServiceError { ServiceError(.conflict, explanation: message) }
    /// 409 with the stock "There was a conflict" explanation and the message as detail.
    public static func conflictDetail(_ message: String) -> ServiceError { ServiceError(.conflict, detail: message) }
    public static func tooLarge(_ message: String) -> ServiceError {
        ServiceError(.payloadTooLarge, explanation: message)
    }
    public static func unauthorized(_ message: String? = nil) -> ServiceError {
        ServiceError(.unauthorized, explanation: message)
    }
    public static func internalError(_ message: String? = nil) -> ServiceError {
        ServiceError(.internalError, explanation: message)
    }

    /// Glance's wording for a refused policy check.
    public static func policy(_ action: String) -> ServiceError {
        ServiceError(.forbidden, explanation: "You are not authorized to complete \(action) action.")
    }

    /// Glance's 413 for an upload or stage that filled the store's media.
    public static let storageFull = ServiceError(
        .payloadTooLarge,
        explanation: "Image storage media is full: There is not enough disk space on the image storage media.")

    public static func imageNotFound(_ id: String) -> ServiceError { .notFound("No image found with ID \(id)") }
}
