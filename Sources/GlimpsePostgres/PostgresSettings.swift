import NIOSSL
import OpenStackEncoding
import PostgresNIO

/// Where a PostgreSQL database is and how to reach it, from a URL as libpq takes it:
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=require&sslrootcert=/path/ca.pem`.
///
/// `sslmode` is libpq's: `disable`, `prefer` (the default: TLS if the server offers it),
/// `require` (TLS, certificate not checked), `verify-ca` (certificate signed by
/// `sslrootcert` or the system's roots), `verify-full` (and issued to `HOST`).
/// `schema` puts Glimpse's tables in a schema of their own.
public struct PostgresSettings: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    public var sslRootCertificate: String?
    /// The schema (`search_path`) the tables live in; the user's default if nil.
    public var schema: String?
    /// Most connections this process opens.
    public var maxConnections = 20

    public enum SSLMode: String, Sendable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public struct InvalidURL: Error, CustomStringConvertible {
        public let description: String
    }

    public init(url: String) throws(InvalidURL) {
        func fail(_ why: String) -> InvalidURL { InvalidURL(description: "database_url: \(why)") }
        let scheme = ["postgres://", "postgresql://"].first { url.lowercased().hasPrefix($0) }
        guard let scheme else { throw fail("expected postgres://USER:PASSWORD@HOST:PORT/DATABASE") }
        var rest = url.dropFirst(scheme.count)
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        } else {
            path = ""
        }
        // user:password@ — the password may itself hold '@' only percent-encoded.
        var userInfo: Substring = ""
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        if let colon = userInfo.firstIndex(of: ":") {
            user = URLCoding.decode(userInfo[..<colon])
            password = URLCoding.decode(userInfo[userInfo.index(after: colon)...])
        } else {
            user = URLCoding.decode(userInfo)
        }
        guard !user.isEmpty else { throw fail("no user name") }
        if rest.hasPrefix("[") {
            // [IPv6]:port
            guard let close = rest.firstIndex(of: "]") else { throw fail("unclosed '['") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let p = Int(rest.dropFirst()) else { throw fail("bad port") }
                port = p
            } else {
                port = 5432
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw fail("bad port")
            }
            port = p
        } else {
            host = String(rest)
            port = 5432
        }
        guard !host.isEmpty else { throw fail("no host") }
        database = path.isEmpty ? user : URLCoding.decode(path)
        sslMode = .prefer
        for (key, value) in URLCoding.parseQuery(query) {
            switch key {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw fail("sslmode must be disable, prefer, require, verify-ca or verify-full")
                }
                sslMode = mode
            case "sslrootcert": sslRootCertificate = value
            case "schema": schema = value.isEmpty ? nil : value
            case "max_connections":
                guard let n = Int(value), n > 0 else { throw fail("max_connections must be a positive integer") }
                maxConnections = n
            default: throw fail("unknown parameter '\(key)' (known: sslmode, sslrootcert, schema, max_connections)")
            }
        }
    }

    /// The URL without its password: safe to log.
    public var description: String {
        var s = "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
        var query = sslMode == .prefer ? [] : ["sslmode=\(sslMode.rawValue)"]
        if let schema { query.append("schema=\(schema)") }
        if !query.isEmpty { s += "?" + query.joined(separator: "&") }
        return s
    }

    /// postgres-nio's configuration for these settings.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let sslRootCertificate { tls.trustRoots = .file(sslRootCertificate) }
        let mode: PostgresClient.Configuration.TLS =
            switch sslMode {
            case .disable: .disable
            case .prefer: .prefer(tls)
            case .require, .verifyCA, .verifyFull: .require(tls)
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: mode)
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = .seconds(5)
        if let schema { configuration.options.additionalStartupParameters.append(("search_path", schema)) }
        return configuration
    }
}
