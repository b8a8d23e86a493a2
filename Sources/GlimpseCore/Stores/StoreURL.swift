import OpenStackEncoding

/// An image store named by URL, as `store_url` and `stores` give it:
/// `scheme://user:secret@host:port/path?option=value`. User and secret are percent-decoded
/// (`test%3Atester` is `test:tester`; a `/` or `@` in a secret is written `%2F`, `%40`). Each backend reads its options with `take(_:)` and
/// refuses the ones it does not know with `rejectUnknownOptions()`.
public struct StoreURL: Sendable, CustomStringConvertible {
    public var scheme: String
    public var user: String?
    public var secret: String?
    public var host: String
    public var port: Int?
    /// The path, starting with `/` (or empty).
    public var path: String
    /// The options not taken yet, in order.
    public private(set) var options: [(String, String)]

    /// Parses `text`; throws a message naming what is wrong.
    public init(_ text: String) throws(StoreURLError) {
        guard let (scheme, afterScheme) = Self.splitScheme(text) else {
            throw StoreURLError("'\(Self.redacted(text))' is not a store URL (scheme://…)")
        }
        self.scheme = scheme.lowercased()
        var rest = afterScheme
        var query = Substring("")
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var authority = rest
        path = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = String(rest[slash...])
        }
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                user = URLCoding.decode(info[..<colon])
                secret = URLCoding.decode(info[info.index(after: colon)...])
            } else {
                user = URLCoding.decode(info)
            }
        }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[...close])
            authority = authority[authority.index(after: close)...]
            if authority.hasPrefix(":") {
                authority = authority.dropFirst()
            } else if !authority.isEmpty {
                throw StoreURLError("bad host in store URL '\(Self.redacted(text))'")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            authority = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
            authority = ""
        }
        if !authority.isEmpty {
            guard let p = Int(authority), (1...65535).contains(p) else {
                throw StoreURLError("bad port '\(authority)' in store URL '\(Self.redacted(text))'")
            }
            port = p
        }
        options = URLCoding.parseQuery(query)
    }

    /// Removes and returns the option `name` (the last one if it is repeated).
    public mutating func take(_ name: String) -> String? {
        let value = options.last { $0.0 == name }?.1
        options.removeAll { $0.0 == name }
        return value
    }

    /// Removes and returns the option `name` as a whole number, at least `minimum`.
    public mutating func takeInt(_ name: String, minimum: Int = 0) throws(StoreURLError) -> Int? {
        guard let text = take(name) else { return nil }
        guard let value = Int(text), value >= minimum else {
            throw StoreURLError("store URL option \(name)=\(text): a whole number of at least \(minimum) is expected")
        }
        return value
    }

    /// Removes and returns the option `name` as a boolean (`true`/`false`, `1`/`0`, `yes`/`no`).
    public mutating func takeBool(_ name: String) throws(StoreURLError) -> Bool? {
        guard let text = take(name) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw StoreURLError("store URL option \(name)=\(text): true or false is expected")
        }
    }

    /// Throws if an option is left that no one took.
    public func rejectUnknownOptions(known: [String]) throws(StoreURLError) {
        guard let unknown = options.first?.0 else { return }
        throw StoreURLError(
            "unknown option '\(unknown)' in a \(scheme) store URL (known: \(known.joined(separator: ", ")))")
    }

    /// `host:port`, or the host alone.
    public var hostAndPort: String { port.map { "\(host):\($0)" } ?? host }

    /// The URL without its secret, for messages and logs.
    public var description: String {
        let info = user.map { "\($0)\(secret == nil ? "" : ":***")@" } ?? ""
        let query = options.isEmpty ? "" : "?" + URLCoding.encodeQuery(options)
        return "\(scheme)://\(info)\(hostAndPort)\(path)\(query)"
    }

    /// The scheme and what follows its `://`.
    static func splitScheme(_ text: String) -> (String, Substring)? {
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else { return nil }
        return (String(text[..<colon]), text[text.index(colon, offsetBy: 3)...])
    }

    /// A store URL text with any secret hidden.
    public static func redacted(_ text: String) -> String {
        guard let (_, rest) = splitScheme(text), let at = rest.lastIndex(of: "@"),
            let colon = rest[..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}

/// A store URL that cannot be used, and why.
public struct StoreURLError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
