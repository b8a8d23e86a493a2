import GlimpseCore
import OpenStackEncoding

/// Turns an `ImageListQuery` into one SELECT over the `images` table: the caller's
/// visibility scope, the filters, keyset pagination after the marker, the sort and a LIMIT.
/// The sort expressions match the indexes the stores create, so a page costs the same
/// whatever the size of the catalog.
public enum ImageQueryBuilder {
    /// The SQL expression an image column sorts and compares by. Nullable columns sort as
    /// `''` or 0, as Glance's marker logic treats NULL.
    public static func sortExpression(_ column: ImageColumn) -> String {
        switch column {
        case .name, .owner, .diskFormat, .containerFormat, .checksum, .osHashValue:
            "COALESCE(i.\(column.rawValue), '')"
        case .size, .virtualSize:
            "COALESCE(i.\(column.rawValue), 0)"
        default:
            "i.\(column.rawValue)"
        }
    }

    /// The sort expression of a column in a branch read from a driving side table (see
    /// `Driver`): its copy of the image's creation time and its image id are in its index.
    static func sortExpression(_ column: ImageColumn, driver: Driver?) -> String {
        switch (column, driver?.carriesImageOrder) {
        case (.createdAt, true?): "d.created_at"
        case (.id, true?): "d.image_id"
        default: sortExpression(column)
        }
    }

    /// The side table a branch reads first (`d`), joined to its images by id: a tag or
    /// property filter, whose index on (key, created_at, image_id) yields the matching
    /// images in the default order, so that a common value stops after LIMIT rows and a rare
    /// one reads only its matches; or the caller's memberships, for the images shared with it.
    struct Driver {
        let condition: ImageCondition?
        let table: String
        let predicate: (inout SQLStatement) -> Void
        /// Whether `d.created_at` is the image's creation time (not the membership's).
        var carriesImageOrder = true

        init(table: String, predicate: @escaping (inout SQLStatement) -> Void) {
            self.condition = nil
            self.table = table
            self.predicate = predicate
            self.carriesImageOrder = false
        }

        /// The first tag or property filter of the query, if any.
        init?(_ conditions: [ImageCondition]) {
            for c in conditions {
                switch c {
                case .tags(let tags) where !tags.isEmpty:
                    condition = c
                    table = "image_tags"
                    predicate = { s in
                        s.append("d.tag = ")
                        s.bind(.text(tags[0]))
                    }
                    return
                case .property(let name, let value):
                    condition = c
                    table = "image_properties"
                    predicate = { s in
                        s.append("d.name = ")
                        s.bind(.text(name))
                        s.append(" AND d.value = ")
                        s.bind(.text(value))
                    }
                    return
                default: continue
                }
            }
            return nil
        }
    }

    /// Columns the stores index by their sort expression (`COALESCE(column, '')` or
    /// `COALESCE(column, 0)`), so that one index serves both sorting and a filter.
    static let indexedBySortExpression: Set<ImageColumn> = [
        .name, .diskFormat, .containerFormat, .checksum, .osHashValue, .size, .virtualSize,
    ]

    /// The value an image has for a sort expression.
    static func sortValue(_ column: ImageColumn, of image: Image) -> SQLValue {
        switch image.sortValue(column) {
        case .text(let t): .text(t)
        case .number(let n): .int(n)
        }
    }

    public static func select(_ query: ImageListQuery) -> SQLStatement {
        let branches = scopeBranches(query.scope)
        var s = SQLStatement()
        guard branches.count > 1 else {
            appendBranch(query, branches[0], to: &s)
            return s
        }
        // One ordered, limited SELECT per part of the scope, merged: each walks an index of
        // its own (the public images, the project's, those shared with it), so a project
        // that sees few images is not served by scanning everyone's.
        s.append("SELECT * FROM (")
        for (k, branch) in branches.enumerated() {
            if k > 0 { s.append(" UNION ALL ") }
            s.append("SELECT * FROM (")
            appendBranch(query, branch, to: &s)
            s.append(") b\(k)")
        }
        s.append(") i")
        appendOrderAndLimit(query, to: &s)
        return s
    }

    static func appendBranch(_ query: ImageListQuery, _ scope: ScopeBranch, to s: inout SQLStatement) {
        // A project's own images and those shared with it are read from the project's index;
        // the rest of the catalog from a filter's, or the order's.
        let driver = scope.driver ?? (scope.ofProject ? nil : Driver(query.conditions))
        s.append("SELECT \(ImageTable.selectList) FROM ")
        if let driver {
            // CROSS JOIN: SQLite keeps the side table first; PostgreSQL plans it as any join.
            s.append("\(driver.table) d CROSS JOIN images i WHERE ")
            driver.predicate(&s)
            s.append(" AND i.id = d.image_id AND ")
        } else {
            s.append("images i WHERE ")
        }
        s.append(
            query.scope.includeDeleted
                ? "i.status NOT IN ('killed', 'pending_delete')"
                : "i.deleted_at IS NULL AND i.status NOT IN ('killed', 'deleted', 'pending_delete')")
        appendFlag(.osHidden, query.scope.hidden, seekable: !scope.ofProject, to: &s)
        scope.predicate(&s)
        for c in query.conditions {
            if let driver, c == driver.condition {
                if case .tags(let tags) = c {
                    appendCondition(.tags(Array(tags.dropFirst())), seekable: true, to: &s)
                }
            } else if case .atLeast(let column, let v) = c, query.conditions.contains(.atMost(column, v)) {
                appendEquality(column, v, seekable: !scope.ofProject, to: &s)
            } else if case .atMost(let column, let v) = c, query.conditions.contains(.atLeast(column, v)) {
                continue  // with its `atLeast`, as one equality
            } else {
                appendCondition(c, seekable: !scope.ofProject, to: &s)
            }
        }
        if let marker = query.marker { appendKeyset(query.sort, after: marker, driver: driver, to: &s) }
        appendOrderAndLimit(query, driver: driver, to: &s)
    }

    /// `AND i.flag = TRUE`, or `AND NOT i.flag`: few images are hidden or protected, and an
    /// index on the flag serves only the equality, so that the common case walks the order
    /// it is sorted by instead of seeking every image that is not hidden.
    /// (`<> FALSE` where the flag's index must not be sought: see `appendCondition`.)
    static func appendFlag(_ column: ImageColumn, _ value: Bool, seekable: Bool, to s: inout SQLStatement) {
        let isTrue = seekable ? " = TRUE" : " <> FALSE"
        s.append(value ? " AND i.\(column.rawValue)\(isTrue)" : " AND NOT i.\(column.rawValue)")
    }

    static func appendOrderAndLimit(_ query: ImageListQuery, driver: Driver? = nil, to s: inout SQLStatement) {
        s.append(" ORDER BY ")
        s.append(
            query.sort.map { Self.sortExpression($0.column, driver: driver) + ($0.ascending ? " ASC" : " DESC") }
                .joined(separator: ", "))
        s.append(" LIMIT ")
        s.bind(.int(query.limit))
    }

    /// Part of the caller's scope: `predicate` appends `AND …` restricting rows to it.
    struct ScopeBranch {
        let predicate: (inout SQLStatement) -> Void
        /// One project's images (its own, or those shared with it): bounded by the project,
        /// not by the catalog, so they are sought by the project alone (see `appendCondition`).
        var ofProject = false
        /// The side table the branch starts from, if any.
        var driver: Driver? = nil
    }

    /// Which rows the caller may see (Glance's `_select_images_query`), as disjoint parts
    /// whose union is the scope.
    static func scopeBranches(_ scope: ListScope) -> [ScopeBranch] {
        func text(_ sql: String) -> ScopeBranch { ScopeBranch(predicate: { $0.append(sql) }) }
        if scope.isAdmin {
            switch scope.visibility {
            case .default:
                return [
                    ScopeBranch(predicate: { s in
                        s.append(" AND (i.visibility <> 'community' OR i.owner = ")
                        s.bind(.optional(scope.projectId))
                        s.append(")")
                    })
                ]
            case .all: return [text("")]
            case .only(let v):
                return [
                    ScopeBranch(predicate: { s in
                        s.append(" AND i.visibility = ")
                        s.bind(.text(v.rawValue))
                    })
                ]
            }
        }
        guard let project = scope.projectId else {
            switch scope.visibility {
            case .default: return [text(" AND i.visibility = 'public'")]
            case .all: return [text(" AND i.visibility IN ('public', 'community')")]
            case .only(let v):
                return [
                    ScopeBranch(predicate: { s in
                        s.append(" AND i.visibility = ")
                        s.bind(.text(v == .public || v == .community ? v.rawValue : "-"))
                    })
                ]
            }
        }
        // Images of other projects shared with this one.
        // Read from the caller's memberships (a seek of image_members by member), not by
        // checking the memberships of every shared image.
        let memberships = Driver(table: "image_members") { s in
            s.append("d.member = ")
            s.bind(.text(project))
            if scope.memberStatus != .all {
                s.append(" AND d.status = ")
                s.bind(.text(scope.memberStatus.rawValue))
            }
        }
        let sharedWithMe = ScopeBranch(
            predicate: { s in
                s.append(" AND i.visibility = 'shared' AND COALESCE(i.owner, '') <> ")
                s.bind(.text(project))
            }, ofProject: true, driver: memberships)
        // The project's own images, sought by owner: their visibility (as the filters, see
        // `appendCondition`) is written so that no visibility index is sought instead.
        func own(_ condition: String) -> ScopeBranch {
            ScopeBranch(
                predicate: { s in
                    s.append(" AND i.owner = ")
                    s.bind(.text(project))
                    s.append(condition)
                }, ofProject: true)
        }
        switch scope.visibility {
        case .default:
            return [text(" AND i.visibility = 'public'"), own(" AND (i.visibility || '') <> 'public'"), sharedWithMe]
        case .all:
            return [
                text(" AND i.visibility IN ('public', 'community')"),
                own(" AND (i.visibility || '') NOT IN ('public', 'community')"), sharedWithMe,
            ]
        case .only(.public): return [text(" AND i.visibility = 'public'")]
        case .only(.community): return [text(" AND i.visibility = 'community'")]
        case .only(.private): return [own(" AND (i.visibility || '') = 'private'")]
        case .only(.shared): return [own(" AND (i.visibility || '') = 'shared'"), sharedWithMe]
        }
    }

    /// `AND column = v`, for a number filtered exactly (`min_disk=7`, which is `_min` and
    /// `_max` at once): an equality, which an index on (column, created_at, id) serves in the
    /// default order, where a range would be sorted.
    static func appendEquality(_ column: ImageColumn, _ v: Int, seekable: Bool, to s: inout SQLStatement) {
        // Above zero, a missing value (sorted as 0) is out either way.
        let indexed = seekable && indexedBySortExpression.contains(column) && v > 0
        let plain = seekable ? "i.\(column.rawValue)" : "i.\(column.rawValue) + 0"
        s.append(" AND " + (indexed ? sortExpression(column) : plain) + " = ")
        s.bind(.int(v))
    }

    /// Appends `AND` the condition, in the form an index on its column serves when
    /// `seekable`; otherwise in an equivalent form no index serves, so that a project's
    /// images are sought by the project (a filter's index would walk all its matches in the
    /// catalog, checking the owner of each).
    static func appendCondition(_ c: ImageCondition, seekable: Bool, to s: inout SQLStatement) {
        switch c {
        case .oneOf(let column, let values):
            // Equal to the column for any non-empty value, and what the column's index is on.
            let byIndexedExpression =
                seekable && indexedBySortExpression.contains(column) && !values.contains("")
            let plain =
                seekable || ![.status, .owner].contains(column)
                ? "i.\(column.rawValue)" : "(i.\(column.rawValue) || '')"
            s.append(" AND " + (byIndexedExpression ? sortExpression(column) : plain) + " IN ")
            s.bindList(values.map { .text($0) })
        case .atLeast(let column, let v):
            // Above zero, a missing value (sorted as 0) is out either way.
            let indexed = seekable && indexedBySortExpression.contains(column) && v > 0
            s.append(" AND " + (indexed ? sortExpression(column) : "i.\(column.rawValue)") + " >= ")
            s.bind(.int(v))
        case .atMost(let column, let v):
            if seekable && indexedBySortExpression.contains(column) {
                s.append(" AND i.\(column.rawValue) IS NOT NULL AND \(sortExpression(column)) <= ")
            } else {
                s.append(" AND i.\(column.rawValue) <= ")
            }
            s.bind(.int(v))
        case .time(let column, let op, let t):
            // Compare at whole seconds, as the API shows times.
            let second = Timestamp(seconds: t.seconds).microseconds
            let next = second + 1_000_000
            let col = "i.\(column.rawValue)"
            switch op {
            case .eq:
                s.append(" AND \(col) >= ")
                s.bind(.int(second))
                s.append(" AND \(col) < ")
                s.bind(.int(next))
            case .neq:
                s.append(" AND (\(col) < ")
                s.bind(.int(second))
                s.append(" OR \(col) >= ")
                s.bind(.int(next))
                s.append(")")
            case .gt:
                s.append(" AND \(col) >= ")
                s.bind(.int(next))
            case .gte:
                s.append(" AND \(col) >= ")
                s.bind(.int(second))
            case .lt:
                s.append(" AND \(col) < ")
                s.bind(.int(second))
            case .lte:
                s.append(" AND \(col) < ")
                s.bind(.int(next))
            }
        case .flag(let column, let v):
            appendFlag(column, v, seekable: seekable, to: &s)
        case .tags(let tags):
            for tag in tags {
                s.append(" AND EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id AND t.tag = ")
                s.bind(.text(tag))
                s.append(")")
            }
        case .propertyAbsent(let name):
            s.append(" AND NOT EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = i.id AND p.name = ")
            s.bind(.text(name))
            s.append(")")
        case .property(let name, let value):
            s.append(" AND EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = i.id AND p.name = ")
            s.bind(.text(name))
            s.append(" AND p.value = ")
            s.bind(.text(value))
            s.append(")")
        }
    }

    /// Rows strictly after the marker in sort order. With one direction for every key this
    /// is a row-value comparison an index can serve; mixed directions expand into an OR chain.
    static func appendKeyset(_ sort: [SortKey], after marker: Image, driver: Driver?, to s: inout SQLStatement) {
        let values = sort.map { Self.sortValue($0.column, of: marker) }
        let exprs = sort.map { Self.sortExpression($0.column, driver: driver) }
        if let first = sort.first, sort.allSatisfy({ $0.ascending == first.ascending }) {
            s.append(" AND (" + exprs.joined(separator: ", ") + ") " + (first.ascending ? "> " : "< "))
            s.bindList(values)
            return
        }
        s.append(" AND (")
        for k in sort.indices {
            if k > 0 { s.append(" OR ") }
            s.append("(")
            for j in 0..<k {
                s.append(exprs[j] + " = ")
                s.bind(values[j])
                s.append(" AND ")
            }
            s.append(exprs[k] + (sort[k].ascending ? " > " : " < "))
            s.bind(values[k])
            s.append(")")
        }
        s.append(")")
    }
}
