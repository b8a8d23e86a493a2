import Crypto
import OpenStackEncoding
import Synchronization

/// Signs HTTP requests with AWS Signature Version 4 (`AWS4-HMAC-SHA256`, credentials in the
/// `Authorization` header), as S3 and S3-compatible object stores check them.
///
/// The signer is pure: it takes the parts of a request and computes the headers to add,
/// without touching the network or the clock. It derives the signing key once per date and
/// keeps it, so one signer is best kept for the life of its credentials.
///
/// ```swift
/// let signer = SigV4Signer(accessKey: id, secretKey: secret, region: "us-east-1", service: "s3")
/// let signed = signer.sign(
///     method: "GET", path: "/bucket/" + SigV4Signer.uriEncode(key, keepSlash: true),
///     headers: [("host", "s3.example.com")], payloadHash: SigV4Signer.emptyPayloadHash,
///     amzDate: SigV4Signer.amzDate(secondsSinceEpoch: now))
/// // Send `signed.headers` (Authorization, x-amz-date, x-amz-content-sha256) with the request.
/// ```
public struct SigV4Signer: Sendable {
    /// How the path becomes the canonical URI.
    public enum PathCanonicalization: Sendable, Hashable {
        /// The path exactly as sent, already percent-encoded: S3's rule. An empty path is `/`.
        case asSent
        /// `.` and `..` segments resolved, empty segments dropped, then each segment
        /// percent-encoded once more ("double encoding"): the rule of every service but S3.
        case normalizedAndEncoded
    }

    /// The outcome of signing: the headers to add to the request, and the intermediate steps.
    public struct SigningResult: Sendable {
        /// The `Authorization` header's value.
        public var authorization: String
        /// The `x-amz-date` header's value.
        public var amzDate: String
        /// The `x-amz-content-sha256` header's value, when the signer sends it (S3).
        public var contentSHA256: String?
        /// The lower-cased names of the signed headers, joined by `;`.
        public var signedHeaders: String
        /// The canonical request (step 1); S3 returns its own in `SignatureDoesNotMatch` errors.
        public var canonicalRequest: String
        /// The string to sign (step 2).
        public var stringToSign: String
        /// The signature, 64 lower-case hex digits.
        public var signature: String
        /// The headers to add, in order: `Authorization`, `x-amz-date`, then
        /// `x-amz-content-sha256` and `x-amz-security-token` when they apply.
        public var headers: [(String, String)]
    }

    /// The signing algorithm's name.
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// The payload hash that leaves the body out of the signature.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// The SHA-256 of an empty body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The access key ID.
    public let accessKey: String
    /// The secret access key.
    public let secretKey: String
    /// The region in the credential scope, e.g. `us-east-1`.
    public let region: String
    /// The service in the credential scope, e.g. `s3`.
    public let service: String
    /// A temporary credential's session token, signed as `x-amz-security-token`.
    public let sessionToken: String?
    /// How the path is canonicalized; `.asSent` for S3, `.normalizedAndEncoded` otherwise.
    public let pathCanonicalization: PathCanonicalization
    /// Whether `x-amz-content-sha256` is signed and sent; true for S3, which requires it.
    public let sendsContentSHA256: Bool

    private let keyCache = SigningKeyCache()

    /// A signer for one set of credentials and one credential scope. The path and
    /// content-hash options default by service: S3's rules for `s3`, the generic ones otherwise.
    public init(
        accessKey: String, secretKey: String, region: String, service: String, sessionToken: String? = nil,
        pathCanonicalization: PathCanonicalization? = nil, sendsContentSHA256: Bool? = nil
    ) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
        self.sessionToken = sessionToken
        self.pathCanonicalization = pathCanonicalization ?? (service == "s3" ? .asSent : .normalizedAndEncoded)
        self.sendsContentSHA256 = sendsContentSHA256 ?? (service == "s3")
    }

    /// Signs a request.
    ///
    /// - Parameters:
    ///   - method: The HTTP method, e.g. `GET`.
    ///   - path: The path exactly as sent on the wire, already percent-encoded, without the query.
    ///   - query: The query parameters, not encoded; the signer encodes and sorts them. The
    ///     request must send them encoded the same way (``uriEncode(_:keepSlash:)``).
    ///   - headers: The headers to sign, `host` included; a name may repeat. `x-amz-date`,
    ///     `x-amz-content-sha256` (when sent) and `x-amz-security-token` (with a session token)
    ///     are the signer's own and replace any given; `authorization` is never signed.
    ///   - payloadHash: The body's SHA-256 in lower-case hex (``payloadHash(_:)``), or
    ///     ``unsignedPayload``.
    ///   - amzDate: The request time as `YYYYMMDD'T'HHMMSS'Z'` in UTC (``amzDate(secondsSinceEpoch:)``);
    ///     any other form is a programmer error and traps.
    public func sign(
        method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
        payloadHash: String, amzDate: String
    ) -> SigningResult {
        precondition(Self.isValidAmzDate(amzDate), "x-amz-date must be YYYYMMDD'T'HHMMSS'Z', got \(amzDate)")
        var own: [(String, String)] = [("x-amz-date", amzDate)]
        if sendsContentSHA256 { own.append(("x-amz-content-sha256", payloadHash)) }
        if let sessionToken { own.append(("x-amz-security-token", sessionToken)) }
        let ownNames = Set(own.map(\.0))
        var toSign = headers.filter {
            let name = $0.0.lowercased()
            return !ownNames.contains(name) && name != "authorization"
        }
        toSign += own

        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(toSign)
        let canonicalRequest = [
            method,
            canonicalURI(path),
            Self.canonicalQuery(query),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")

        let date = String(amzDate.prefix(8))
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let stringToSign = Self.stringToSign(canonicalRequest: canonicalRequest, amzDate: amzDate, scope: scope)
        let key = keyCache.key(for: date) { signingKey(date: date) }
        let signature = Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization =
            "\(Self.algorithm) Credential=\(accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"

        var out: [(String, String)] = [("Authorization", authorization)]
        out += own
        return SigningResult(
            authorization: authorization, amzDate: amzDate, contentSHA256: sendsContentSHA256 ? payloadHash : nil,
            signedHeaders: signedHeaders, canonicalRequest: canonicalRequest, stringToSign: stringToSign,
            signature: signature, headers: out
        )
    }

    // MARK: Steps

    /// The canonical URI of a path under this signer's ``pathCanonicalization``.
    func canonicalURI(_ path: String) -> String {
        switch pathCanonicalization {
        case .asSent:
            return path.isEmpty ? "/" : path
        case .normalizedAndEncoded:
            return Self.normalizedPath(path).split(separator: "/", omittingEmptySubsequences: false)
                .map { Self.uriEncode(String($0), keepSlash: false) }.joined(separator: "/")
        }
    }

    /// Resolves `.` and `..` segments and drops empty ones (RFC 3986 §5.2.4, plus `//` → `/`):
    /// `//a/./b/../c/` → `/a/c/`. The result starts with `/`.
    static func normalizedPath(_ path: String) -> String {
        var segments: [Substring] = []
        var trailingSlash = false
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            switch segment {
            case "", ".":
                trailingSlash = true
            case "..":
                _ = segments.popLast()
                trailingSlash = true
            default:
                segments.append(segment)
                trailingSlash = false
            }
        }
        if segments.isEmpty { return "/" }
        return "/" + segments.joined(separator: "/") + (trailingSlash ? "/" : "")
    }

    /// The canonical query string: names and values encoded, sorted by name then value,
    /// joined as `a=1&b=&c=3`.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (uriEncode($0.0, keepSlash: false), uriEncode($0.1, keepSlash: false)) }
            .sorted { a, b in
                a.0 == b.0 ? a.1.utf8.lexicographicallyPrecedes(b.1.utf8) : a.0.utf8.lexicographicallyPrecedes(b.0.utf8)
            }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The canonical headers block (each `name:value` line ending in a newline) and the signed
    /// header list. Names are lower-cased and sorted; values are trimmed, inner runs of spaces
    /// collapsed to one, and the values of a repeated name joined by commas in the order given.
    static func canonicalHeaders(_ headers: [(String, String)]) -> (block: String, signed: String) {
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            values[name.lowercased(), default: []].append(trimAll(value))
        }
        let names = values.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var block = ""
        for name in names {
            block += name + ":" + values[name]!.joined(separator: ",") + "\n"
        }
        return (block, names.joined(separator: ";"))
    }

    /// Trims spaces and tabs at both ends and collapses each inner run of them to one space.
    static func trimAll(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for c in value.utf8 {
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(UInt8(ascii: " ")) }
                pendingSpace = false
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The string to sign: algorithm, time, credential scope and the canonical request's hash.
    static func stringToSign(canonicalRequest: String, amzDate: String, scope: String) -> String {
        let hash = Hex.encode(SHA256.hash(data: Array(canonicalRequest.utf8)))
        return [algorithm, amzDate, scope, hash].joined(separator: "\n")
    }

    /// The signing key of a date (`YYYYMMDD`) in this signer's scope:
    /// HMAC chain over date, region, service and `aws4_request`, keyed first by `AWS4` + secret.
    func signingKey(date: String) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
        }
        let secret = SymmetricKey(data: Array(("AWS4" + secretKey).utf8))
        return hmac(hmac(hmac(hmac(secret, date), region), service), "aws4_request")
    }

    // MARK: Helpers

    /// Percent-encodes text the SigV4 way: RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`)
    /// stay, every other UTF-8 byte becomes `%XX` (upper-case hex; a space is `%20`). With
    /// `keepSlash`, `/` stays too, as in S3 object-key paths.
    public static func uriEncode(_ text: String, keepSlash: Bool = false) -> String {
        guard keepSlash else { return URLCoding.quotePath(text) }
        return text.split(separator: "/", omittingEmptySubsequences: false).map { URLCoding.quotePath(String($0)) }
            .joined(separator: "/")
    }

    /// The SHA-256 of a body in lower-case hex, for `payloadHash` and `x-amz-content-sha256`.
    public static func payloadHash(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        let contiguous: Void? = bytes.withContiguousStorageIfAvailable { hasher.update(bufferPointer: .init($0)) }
        if contiguous == nil {
            var chunk: [UInt8] = []
            chunk.reserveCapacity(4096)
            for b in bytes {
                chunk.append(b)
                if chunk.count == 4096 {
                    hasher.update(data: chunk)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            hasher.update(data: chunk)
        }
        return Hex.encode(hasher.finalize())
    }

    /// The `x-amz-date` form (`YYYYMMDD'T'HHMMSS'Z'`, UTC) of seconds since the Unix epoch.
    public static func amzDate(secondsSinceEpoch seconds: Int64) -> String {
        amzDate(Timestamp(seconds: seconds))
    }

    /// The `x-amz-date` form (`YYYYMMDD'T'HHMMSS'Z'`, UTC) of a timestamp; fractions are dropped.
    public static func amzDate(_ time: Timestamp) -> String {
        // `YYYY-MM-DDThh:mm:ssZ` without its separators.
        String(decoding: time.iso8601.utf8.filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: ":") }, as: UTF8.self)
    }

    /// Whether text is an `x-amz-date`: eight digits, `T`, six digits, `Z`.
    public static func isValidAmzDate(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z") else { return false }
        return (b[0..<8] + b[9..<15]).allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}

/// The last signing key derived, by date: a key serves every request of its day.
private final class SigningKeyCache: Sendable {
    private let entry = Mutex<(date: String, key: SymmetricKey)?>(nil)

    func key(for date: String, derive: () -> SymmetricKey) -> SymmetricKey {
        if let hit = entry.withLock({ $0 }), hit.date == date { return hit.key }
        let key = derive()
        entry.withLock { $0 = (date, key) }
        return key
    }
}
