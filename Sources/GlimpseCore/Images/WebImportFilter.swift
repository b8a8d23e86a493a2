#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which URIs `web-download` may fetch: Glance's `import_filtering_opts` (schemes, hosts and
/// ports, each with an allowed list that, when not empty, replaces its disallowed list), and
/// beyond Glance, no address that is not public (loopback, private, link-local, …) unless
/// `allowPrivate`, every address a host name resolves to checked. Applied when the import is
/// asked for and again to each redirect.
public struct WebImportFilter: Sendable {
    public var allowedSchemes = ["http", "https"]
    public var disallowedSchemes: [String] = []
    /// Host names or addresses, as a URI names them.
    public var allowedHosts: [String] = []
    public var disallowedHosts: [String] = []
    /// Checked against a port the URI names; a URI without one passes (as in Glance).
    public var allowedPorts = [80, 443]
    public var disallowedPorts: [Int] = []
    /// Let URIs reach loopback, private, link-local and other non-public addresses.
    public var allowPrivate = false

    public init() {}

    /// A URI that passed, and the addresses its host has (the host itself when it is an
    /// address): the fetch connects to one of these, not to what a later lookup might say.
    public struct Target: Sendable, Equatable {
        public let uri: WebURI
        public let addresses: [String]
    }

    /// `uri` if it passes: Glance's `validate_import_uri`, then the host's addresses, from
    /// `resolve` for a name (none, or a failure, refuses it as Glance refuses a name that does
    /// not resolve).
    public func check(_ text: String, resolve: (String) async throws -> [String]) async -> Target? {
        guard let uri = WebURI(text), permits(uri) else { return nil }
        var addresses = [uri.host]
        if !uri.hostIsAddress {
            guard let resolved = try? await resolve(uri.host), !resolved.isEmpty else { return nil }
            addresses = resolved
        }
        let disallowed = allowedHosts.isEmpty ? Set(disallowedHosts.map { $0.lowercased() }) : []
        guard addresses.allSatisfy({ IPAddress($0).map { !disallowed.contains($0.text) } ?? false }) else {
            return nil
        }
        if !allowPrivate, !addresses.allSatisfy({ IPAddress($0)?.isPublic ?? false }) { return nil }
        return Target(uri: uri, addresses: addresses)
    }

    /// The scheme, host and port rules, in Glance's order; whatever they allow, only `http`
    /// and `https` are fetched (the HTTP client would read `unix://` as a socket's path).
    func permits(_ uri: WebURI) -> Bool {
        guard ["http", "https"].contains(uri.scheme) else { return false }
        let schemeOK =
            allowedSchemes.isEmpty
            ? !disallowedSchemes.contains(uri.scheme) : allowedSchemes.contains(uri.scheme)
        // A name and the same name with a final dot are one host.
        func plain(_ host: String) -> String {
            host.hasSuffix(".") ? String(host.lowercased().dropLast()) : host.lowercased()
        }
        let host = plain(uri.host)
        let hosts = (allowed: allowedHosts.map(plain), disallowed: disallowedHosts.map(plain))
        let hostOK = hosts.allowed.isEmpty ? !hosts.disallowed.contains(host) : hosts.allowed.contains(host)
        let portOK =
            uri.port.map { port in
                allowedPorts.isEmpty ? !disallowedPorts.contains(port) : allowedPorts.contains(port)
            } ?? true
        return schemeOK && hostOK && portOK
    }
}

/// A URI as `web-download` takes it, split as Python's `urllib.parse` splits it (lower-case
/// scheme and host, the port if one is named), with the host normalized as Glance normalizes
/// it: an address in its standard form; no name an address parser would read as a number
/// (`2130706433`, `127.1`, `0x7f.1`). Refuses (nil) anything else, and any character that
/// parsers read differently (spaces, controls, `\`, non-ASCII), so that what is checked is
/// what is fetched.
public struct WebURI: Sendable, Equatable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    public let hostIsAddress: Bool
    public let port: Int?
    /// The path and query, from the first `/` (or `/` when there is none); no fragment.
    public let pathAndQuery: String

    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "\\") }),
            let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://")
        else { return nil }
        let scheme = text[..<colon].lowercased()
        guard let first = scheme.first, first.isLetter,
            scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) })
        else { return nil }
        var rest = text[text.index(colon, offsetBy: 3)...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host: Substring
        var portText: Substring = ""
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return nil }
            portText = after.dropFirst()
            guard let address = IPAddress(String(host)), address.isV6 else { return nil }
            host = Substring(address.text)
            hostIsAddress = true
        } else {
            if let c = authority.firstIndex(of: ":") {
                portText = authority[authority.index(after: c)...]
                host = authority[..<c]
            } else {
                host = authority
            }
            host = Substring(host.lowercased())
            if let address = IPAddress(String(host)), !address.isV6 {
                host = Substring(address.text)
                hostIsAddress = true
            } else {
                let labels = host.split(separator: ".", omittingEmptySubsequences: false)
                let numeric = labels.allSatisfy { label in
                    let hex = label.hasPrefix("0x") ? label.dropFirst(2) : nil
                    return hex.map { $0.allSatisfy(\.isHexDigit) } ?? label.allSatisfy(\.isNumber)
                }
                guard !host.isEmpty, !numeric,
                    host.allSatisfy({ $0.isLetter || $0.isNumber || "-._".contains($0) })
                else { return nil }
                hostIsAddress = false
            }
        }
        if portText.isEmpty {
            port = nil
        } else {
            guard portText.allSatisfy(\.isNumber), let p = Int(portText), (1...65535).contains(p) else { return nil }
            port = p
        }
        self.scheme = scheme
        self.host = String(host)
        pathAndQuery = tail.hasPrefix("/") ? String(tail) : "/" + tail
    }

    /// The URI to fetch: scheme, host, port, path and query only.
    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(h)\(port.map { ":\($0)" } ?? "")\(pathAndQuery)"
    }

    /// The URI a redirect's `Location` names, relative to this one (RFC 3986: absolute,
    /// scheme-relative, absolute path, or relative path); nil if it is no valid URI.
    public func resolving(_ location: String) -> WebURI? {
        if let colon = location.firstIndex(of: ":"), location[colon...].hasPrefix("://") {
            return WebURI(location)
        }
        if location.hasPrefix("//") { return WebURI(scheme + ":" + location) }
        let origin = description.dropLast(pathAndQuery.count)
        if location.hasPrefix("/") { return WebURI(origin + location) }
        let path = pathAndQuery.prefix { $0 != "?" }
        let directory = path[...(path.lastIndex(of: "/") ?? path.startIndex)]
        return WebURI(origin + directory + location)
    }
}

/// An IPv4 or IPv6 address in its standard text form (as `inet_pton` reads it: dotted
/// decimal without leading zeros, or IPv6 text), and whether it is public.
struct IPAddress {
    let bytes: [UInt8]
    var isV6: Bool { bytes.count == 16 }

    init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    /// The standard form (`inet_ntop`): IPv6 compressed and in lower case.
    var text: String {
        var out = [CChar](repeating: 0, count: 64)
        bytes.withUnsafeBytes { _ = inet_ntop(isV6 ? AF_INET6 : AF_INET, $0.baseAddress, &out, 64) }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether the address belongs to the public internet: not unspecified, loopback,
    /// private, shared (carrier NAT), link-local, multicast, reserved or broadcast; an IPv6
    /// address that embeds an IPv4 one (mapped, compatible, NAT64, 6to4) as that one is.
    var isPublic: Bool {
        guard isV6 else { return Self.isPublicV4(bytes) }
        let b = bytes
        if b[0..<10].allSatisfy({ $0 == 0 }), (b[10] == 0xFF && b[11] == 0xFF) || (b[10] == 0 && b[11] == 0) {
            // ::ffff:a.b.c.d and ::a.b.c.d (:: and ::1 among them).
            return Self.isPublicV4(Array(b[12..<16]))
        }
        if b[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0][...] {
            return Self.isPublicV4(Array(b[12..<16]))
        }
        if b[0] == 0x20, b[1] == 0x02 { return Self.isPublicV4(Array(b[2..<6])) }
        // 64:ff9b:1::/48 (local-use NAT64, which may reach private IPv4 addresses).
        if b[0..<6] == [0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01][...] { return false }
        // 2001::/32 (Teredo, which tunnels to an IPv4 address) and 2001:db8::/32 (documentation).
        if b[0] == 0x20, b[1] == 0x01, (b[2] == 0 && b[3] == 0) || (b[2] == 0x0D && b[3] == 0xB8) { return false }
        if b[0..<8].allSatisfy({ $0 == 0 }) { return false }  // the rest of ::/64: not routable
        if b[0] == 0x01, b[1] == 0x00, b[2..<8].allSatisfy({ $0 == 0 }) { return false }  // 100::/64, discard-only
        if b[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique local
        if b[0] == 0xFE, b[1] & 0xC0 == 0x80 || b[1] & 0xC0 == 0xC0 { return false }  // fe80::/10, fec0::/10
        if b[0] == 0xFF { return false }  // multicast
        return true
    }

    static func isPublicV4(_ a: [UInt8]) -> Bool {
        switch (a[0], a[1]) {
        case (0, _), (10, _), (127, _): false
        case (100, 64...127): false  // shared address space (carrier NAT)
        case (169, 254): false
        case (172, 16...31): false
        case (192, 168): false
        case (198, 18...19): false  // benchmarking, often used inside networks
        case (224...255, _): false  // multicast, reserved, broadcast
        case (192, 0) where a[2] == 0: false  // IETF protocol assignments
        default: true
        }
    }
}
