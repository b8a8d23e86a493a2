import GlimpseCore

/// Where an S3 store keeps image data: endpoint, bucket and credentials.
public struct S3StoreSettings: Sendable, Equatable {
    /// `http://host:port` or `https://host:port`, without a path.
    public var endpoint: String
    public var host: String
    public var bucket: String
    public var accessKey: String
    public var secretKey: String
    public var region = "us-east-1"
    /// `host/bucket/key` rather than `bucket.host/key`.
    public var pathStyle = true
    /// Data larger than one part is sent as a multipart upload of parts this size (at least
    /// 5 MiB, S3's minimum); the size doubles every 1,000 parts, so any image fits S3's
    /// 10,000 parts.
    public var partSize = 8 << 20
    /// Parts sent at once by one upload.
    public var partsInFlight = 2
    /// Sign each payload's SHA-256 (the default over plain HTTP); over HTTPS, TLS protects
    /// the payload and it is sent as `UNSIGNED-PAYLOAD`.
    public var signPayload: Bool
    /// Create the bucket when it is missing.
    public var createBucket = true

    static let options = [
        "region", "path_style", "part_size_mb", "parts_in_flight", "sign_payload", "create_bucket",
    ]

    /// Reads a store URL, `s3://ACCESS:SECRET@HOST:PORT/BUCKET?region=R&path_style=true`
    /// (`s3+https://` for TLS). Options: `region` (us-east-1), `path_style` (true, except on
    /// `*.amazonaws.com`), `part_size_mb` (8), `parts_in_flight` (2), `sign_payload`,
    /// `create_bucket` (true).
    public init(url text: String) throws(StoreURLError) {
        var url = try StoreURL(text)
        let tls: Bool
        switch url.scheme {
        case "s3", "s3+http": tls = false
        case "s3+https": tls = true
        default: throw StoreURLError("unknown S3 store scheme '\(url.scheme)' (s3, s3+https)")
        }
        guard let access = url.user, let secret = url.secret, !url.host.isEmpty else {
            throw StoreURLError("an S3 store URL names an access key, its secret and a host: \(url)")
        }
        let bucket = String(url.path.drop { $0 == "/" })
        guard Self.isValidBucket(bucket) else {
            throw StoreURLError("'\(bucket)' is not an S3 bucket name (3–63 of a-z, 0-9, '.', '-'): \(url)")
        }
        endpoint = (tls ? "https://" : "http://") + url.hostAndPort
        host = url.hostAndPort
        self.bucket = bucket
        accessKey = access
        secretKey = secret
        signPayload = !tls
        region = url.take("region") ?? region
        pathStyle = try url.takeBool("path_style") ?? !url.host.hasSuffix(".amazonaws.com")
        if let mb = try url.takeInt("part_size_mb", minimum: 5) { partSize = mb << 20 }
        partsInFlight = try url.takeInt("parts_in_flight", minimum: 1) ?? partsInFlight
        signPayload = try url.takeBool("sign_payload") ?? signPayload
        createBucket = try url.takeBool("create_bucket") ?? createBucket
        try url.rejectUnknownOptions(known: Self.options)
    }

    static func isValidBucket(_ name: String) -> Bool {
        (3...63).contains(name.utf8.count)
            && name.utf8.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
            }
    }
}
