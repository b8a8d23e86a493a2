import GlimpseCore
import OpenStackEncoding

/// Reads the query string of `GET /v2/images` the way Glance does: every filter, both sort
/// syntaxes, paging, with Glance's 400 messages for bad values. Unknown parameters filter
/// on custom properties.
enum ListParameters {
    static let exactColumns: [String: ImageColumn] = [
        "name": .name, "id": .id, "status": .status, "container_format": .containerFormat, "disk_format": .diskFormat,
    ]
    static let plainColumns: [String: ImageColumn] = [
        "owner": .owner, "checksum": .checksum, "os_hash_value": .osHashValue,
    ]
    static let numericColumns: [String: ImageColumn] = [
        "size": .size, "virtual_size": .virtualSize, "min_ram": .minRam, "min_disk": .minDisk,
    ]

    /// The filters read by name that are not one column compared with its value.
    enum NamedFilter: String, CaseIterable {
        case visibility
        case memberStatus = "member_status"
        case osHidden = "os_hidden"
        case protected, tag
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    /// Every filter parameter the list reads by name; any other name (but paging, sorting
    /// and the retired `changes-since`) filters on a custom property.
    static var filterNames: [String] {
        NamedFilter.allCases.map(\.rawValue) + exactColumns.keys.sorted() + plainColumns.keys.sorted()
            + numericColumns.keys.sorted().flatMap { [$0, $0 + "_min", $0 + "_max"] }
    }

    static func parse(_ query: [(String, String)]) throws(ServiceError) -> ImageListRequest {
        var r = ImageListRequest()
        var sortKeys: [String] = []
        var sortDirs: [String] = []
        var newSort: String?
        var tags: [String] = []
        for (name, value) in query {
            switch name {
            case "limit":
                guard let n = Int(value) else { throw .badRequest("limit param must be an integer") }
                guard n >= 0 else { throw .badRequest("limit param must be positive") }
                r.limit = n
            case "marker": r.marker = value
            case "sort_key": sortKeys.append(value)
            case "sort_dir": sortDirs.append(value)
            case "sort": newSort = value
            case "changes-since":
                throw .badRequest("The \"changes-since\" filter is no longer available on v2.")
            default:
                if let filter = NamedFilter(rawValue: name) {
                    try apply(filter, value, to: &r, tags: &tags)
                } else if let column = exactColumns[name] {
                    r.conditions.append(.oneOf(column, try operatorValues(value)))
                } else if let column = plainColumns[name] {
                    r.conditions.append(.oneOf(column, [value]))
                } else if let column = numericColumns[name] {
                    guard let n = Int(value) else {
                        throw .badRequest("Unable to filter on a non-numeric value for \(name).")
                    }
                    r.conditions.append(.atLeast(column, n))
                    r.conditions.append(.atMost(column, n))
                } else if name.hasSuffix("_min") || name.hasSuffix("_max"),
                    let column = numericColumns[String(name.dropLast(4))]
                {
                    guard let n = Int(value) else {
                        throw .badRequest("Unable to filter on a range with a non-numeric value.")
                    }
                    r.conditions.append(name.hasSuffix("_min") ? .atLeast(column, n) : .atMost(column, n))
                } else {
                    r.conditions.append(.property(name, value))
                }
            }
        }
        if !tags.isEmpty { r.conditions.append(.tags(tags)) }
        r.sort = try sort(keys: sortKeys, dirs: sortDirs, newSyntax: newSort)
        return r
    }

    static func apply(
        _ filter: NamedFilter, _ value: String, to r: inout ImageListRequest, tags: inout [String]
    ) throws(ServiceError) {
        switch filter {
        case .visibility:
            if value == "all" {
                r.visibility = .all
            } else if let v = Visibility(rawValue: value) {
                r.visibility = .only(v)
            } else {
                throw .badRequest("Invalid visibility value: \(value)")
            }
        case .memberStatus:
            guard let s = ListScope.MemberStatusFilter(rawValue: value) else {
                throw .badRequest("Invalid status: \(value)")
            }
            r.memberStatus = s
        case .osHidden:
            switch value.lowercased() {
            case "true": r.hidden = true
            case "false": r.hidden = false
            default:
                throw .badRequest(
                    "Invalid value '\(value)' for 'os_hidden' filter. Valid values are 'true' or 'false'.")
            }
        case .protected:
            guard value == "true" || value == "false" else {
                throw .badRequest(
                    "Invalid value '\(value)' for 'protected' filter. Valid values are 'true' or 'false'.")
            }
            r.conditions.append(.flag(.isProtected, value == "true"))
        case .tag: tags.append(value)
        case .createdAt, .updatedAt:
            r.conditions.append(try timeFilter(filter.rawValue, value))
        }
    }

    /// `in:a,b,"c,d"` → [a, b, c,d]; `eq:x` → [x]; a plain value → [value].
    static func operatorValues(_ value: String) throws(ServiceError) -> [String] {
        guard let colon = value.firstIndex(of: ":") else { return [value] }
        let op = String(value[..<colon])
        let rest = String(value[value.index(after: colon)...])
        switch op {
        case "eq": return [rest]
        case "in":
            try validateQuotes(rest)
            return splitQuoted(rest)
        default: throw .badRequest("Unable to filter by unknown operator '\(op)'.")
        }
    }

    /// Glance's checks of a quoted list: a quote opens after a comma (or at the start),
    /// closes before one (or at the end), and is closed.
    static func validateQuotes(_ value: String) throws(ServiceError) {
        let chars = Array(value)
        var opening = true
        for (i, c) in chars.enumerated() where c == "\"" {
            if i > 0, chars[i - 1] == "\\" { continue }
            if opening, i > 0, chars[i - 1] != "," {
                throw .badRequest("Invalid filter value \(value). There is no comma before opening quotation mark.")
            }
            if !opening, i + 1 < chars.count, chars[i + 1] != "," {
                throw .badRequest("Invalid filter value \(value). There is no comma after closing quotation mark.")
            }
            opening.toggle()
        }
        if !opening { throw .badRequest("Invalid filter value \(value). The quote is not closed.") }
    }

    /// Splits a comma list where items may be double-quoted (`\"` escapes a quote).
    static func splitQuoted(_ s: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for c in s {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\", quoted {
                escaped = true
            } else if c == "\"" {
                quoted.toggle()
            } else if c == ",", !quoted {
                out.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        out.append(current)
        return out
    }

    static func timeFilter(_ name: String, _ value: String) throws(ServiceError) -> ImageCondition {
        var op = TimeComparison.eq
        var text = value
        if let colon = value.firstIndex(of: ":"), let parsed = TimeComparison(rawValue: String(value[..<colon])) {
            op = parsed
            text = String(value[value.index(after: colon)...])
        } else if let colon = value.firstIndex(of: ":"), !value[..<colon].contains("-") {
            throw .badRequest("Unable to filter by unknown operator '\(value[..<colon])'.")
        }
        guard let t = Timestamp(iso8601: text) else {
            throw .badRequest("Bad \"\(name)\" query filter format. Use ISO 8601 DateTime notation.")
        }
        return .time(name == "created_at" ? .createdAt : .updatedAt, op, t)
    }

    static func sortColumn(_ key: String) throws(ServiceError) -> ImageColumn {
        guard let c = ImageColumn(rawValue: key), SortKey.allowed.contains(c) else {
            throw .badRequest(
                "Invalid sort key: \(key). It must be one of the following: name, status, container_format, disk_format, size, id, created_at, updated_at."
            )
        }
        return c
    }

    static func direction(_ dir: String) throws(ServiceError) -> Bool {
        switch dir {
        case "asc": return true
        case "desc": return false
        default: throw .badRequest("Invalid sort direction: \(dir)")
        }
    }

    /// Both sort syntaxes, completed with Glance's tie-breakers.
    static func sort(keys: [String], dirs: [String], newSyntax: String?) throws(ServiceError) -> [SortKey] {
        if let newSyntax {
            guard keys.isEmpty, dirs.isEmpty else { throw .badRequest("Old and new sorting syntax cannot be combined") }
            var out: [SortKey] = []
            for item in newSyntax.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = item.split(separator: ":", maxSplits: 1).map { $0.trimming(" ") }
                let column = try sortColumn(parts.first ?? "")
                let ascending = parts.count > 1 ? try direction(parts[1]) : false
                out.append(SortKey(column, ascending: ascending))
            }
            let defaultAscending = out.count == 1 ? out[0].ascending : false
            return ImageListQuery.completeSort(out, defaultAscending: defaultAscending)
        }
        let columns = try keys.map { k throws(ServiceError) in try sortColumn(k) }
        let ascending = try dirs.map { d throws(ServiceError) in try direction(d) }
        if ascending.count > 1, ascending.count != columns.count {
            throw .badRequest("Number of sort dirs does not match the number of sort keys")
        }
        let defaultAscending = ascending.count == 1 ? ascending[0] : false
        let out = columns.enumerated().map { i, c in
            SortKey(c, ascending: ascending.count > 1 ? ascending[i] : defaultAscending)
        }
        return ImageListQuery.completeSort(out, defaultAscending: defaultAscending)
    }
}
