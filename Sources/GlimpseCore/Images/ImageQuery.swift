import OpenStackEncoding

/// Image attributes a list query can filter or sort on.
public enum ImageColumn: String, Sendable, CaseIterable {
    case id, name, status, visibility, owner, size
    case virtualSize = "virtual_size"
    case diskFormat = "disk_format"
    case containerFormat = "container_format"
    case checksum
    case osHashValue = "os_hash_value"
    case minDisk = "min_disk"
    case minRam = "min_ram"
    case isProtected = "protected"
    case osHidden = "os_hidden"
    case createdAt = "created_at"
    case updatedAt = "updated_at"
}

/// What an image sorts by in a column: text, or a number (sizes, times in microseconds,
/// booleans as 0 and 1). A missing name, owner, format or checksum sorts as `''`, a missing
/// size as 0, as Glance's marker logic treats NULL. Text compares by its UTF-8 bytes (the
/// order of SQLite's BINARY and PostgreSQL's "C" collation).
public enum SortValue: Sendable, Hashable, Comparable {
    case text(String)
    case number(Int64)

    public static func < (a: SortValue, b: SortValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x < y
        case (.text(let x), .text(let y)): x.utf8.lexicographicallyPrecedes(y.utf8)
        case (.number, .text): true
        case (.text, .number): false
        }
    }
}

extension Image {
    /// The value of a number column a range filter compares (`size`, `virtual_size`,
    /// `min_disk`, `min_ram`); nil when missing, or for any other column.
    public func number(_ column: ImageColumn) -> Int? {
        switch column {
        case .size: size
        case .virtualSize: virtualSize
        case .minDisk: minDisk
        case .minRam: minRam
        default: nil
        }
    }

    /// The value this image sorts by in `column`.
    public func sortValue(_ column: ImageColumn) -> SortValue {
        switch column {
        case .id: .text(id)
        case .name: .text(name ?? "")
        case .status: .text(status.rawValue)
        case .visibility: .text(visibility.rawValue)
        case .owner: .text(owner ?? "")
        case .size: .number(Int64(size ?? 0))
        case .virtualSize: .number(Int64(virtualSize ?? 0))
        case .diskFormat: .text(diskFormat ?? "")
        case .containerFormat: .text(containerFormat ?? "")
        case .checksum: .text(checksum ?? "")
        case .osHashValue: .text(osHashValue ?? "")
        case .minDisk: .number(Int64(minDisk))
        case .minRam: .number(Int64(minRam))
        case .isProtected: .number(isProtected ? 1 : 0)
        case .osHidden: .number(osHidden ? 1 : 0)
        case .createdAt: .number(createdAt.microseconds)
        case .updatedAt: .number(updatedAt.microseconds)
        }
    }
}

/// Comparison of a time filter (`created_at=gt:…`).
public enum TimeComparison: String, Sendable, CaseIterable {
    case eq, neq, gt, gte, lt, lte
}

/// One condition of a list query. All conditions of a query must hold.
public enum ImageCondition: Sendable, Equatable {
    /// The column equals one of the values (`name=x`, `status=in:a,b`).
    case oneOf(ImageColumn, [String])
    /// Integer column ≥ (`_min`) or ≤ (`_max`) a bound; NULL never matches.
    case atLeast(ImageColumn, Int)
    case atMost(ImageColumn, Int)
    /// A time column compared at one-second precision, as the wire shows it.
    case time(ImageColumn, TimeComparison, Timestamp)
    /// A boolean column (`protected=true`).
    case flag(ImageColumn, Bool)
    /// The image carries every one of these tags.
    case tags([String])
    /// A custom property equals a value (string values compare as text, others as JSON).
    case property(String, String)
    /// The image has no custom property of this name.
    case propertyAbsent(String)
}

/// Which images a caller may list, before filters.
public struct ListScope: Sendable, Equatable {
    public enum VisibilityFilter: Sendable, Equatable {
        /// Glance's default: everything visible except other projects' community images.
        case `default`
        /// Everything visible, community images included.
        case all
        /// Only images with this visibility (within what the caller may see).
        case only(Visibility)
    }

    public enum MemberStatusFilter: String, Sendable, CaseIterable {
        case accepted, pending, rejected, all
    }

    /// The caller's project; nil for unscoped callers.
    public var projectId: String?
    /// Admins see every project's images.
    public var isAdmin: Bool
    public var visibility: VisibilityFilter
    /// For images shared with the caller: which membership states count.
    public var memberStatus: MemberStatusFilter
    /// `os_hidden` images are listed only when asked for (and then only them).
    public var hidden: Bool
    /// Also list deleted images (tombstones), e.g. for the compute API's `changes-since`.
    public var includeDeleted: Bool

    public init(
        projectId: String?, isAdmin: Bool, visibility: VisibilityFilter = .default,
        memberStatus: MemberStatusFilter = .accepted, hidden: Bool = false, includeDeleted: Bool = false
    ) {
        self.projectId = projectId
        self.isAdmin = isAdmin
        self.visibility = visibility
        self.memberStatus = memberStatus
        self.hidden = hidden
        self.includeDeleted = includeDeleted
    }
}

/// One sort key of a list query.
public struct SortKey: Sendable, Equatable {
    public var column: ImageColumn
    public var ascending: Bool
    public init(_ column: ImageColumn, ascending: Bool) {
        self.column = column
        self.ascending = ascending
    }

    /// Whether `a` comes strictly before `b` in the order of `sort`, as the SQL stores
    /// sort: by each key's `SortValue`, ties broken by the next key.
    public static func precedes(_ a: Image, _ b: Image, in sort: [SortKey]) -> Bool {
        for k in sort {
            let (x, y) = (a.sortValue(k.column), b.sortValue(k.column))
            if x != y { return k.ascending ? x < y : y < x }
        }
        return false
    }

    /// The keys `GET /v2/images` accepts in `sort`/`sort_key`.
    public static let allowed: [ImageColumn] = [
        .name, .status, .containerFormat, .diskFormat, .size, .id, .createdAt, .updatedAt,
    ]
}

/// A fully resolved page request: the store answers it with one indexed query.
public struct ImageListQuery: Sendable {
    public var scope: ListScope
    public var conditions: [ImageCondition]
    /// Sort keys, always ending with `created_at` and `id` so that the order is total.
    public var sort: [SortKey]
    /// Rows wanted. The store may be asked for one more to learn whether a next page exists.
    public var limit: Int
    /// The last image of the previous page; the page starts after it in sort order.
    public var marker: Image?

    public init(
        scope: ListScope, conditions: [ImageCondition] = [], sort: [SortKey] = [], limit: Int, marker: Image? = nil
    ) {
        self.scope = scope
        self.conditions = conditions
        self.sort = sort
        self.limit = limit
        self.marker = marker
    }

    /// Glance's tie-breaking: append `created_at` and `id` when absent, in the default
    /// direction (descending, or the single direction given for all keys).
    public static func completeSort(_ keys: [SortKey], defaultAscending: Bool) -> [SortKey] {
        var keys = keys.isEmpty ? [SortKey(.createdAt, ascending: defaultAscending)] : keys
        for column in [ImageColumn.createdAt, .id] where !keys.contains(where: { $0.column == column }) {
            keys.append(SortKey(column, ascending: defaultAscending))
        }
        return keys
    }
}
