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

    static func appendBranch(_ query: ImageListQuery, _ scope: ScopePredicate, to s: inout SQLStatement) {
        s.append("SELECT \(ImageTable.selectList) FROM images i WHERE ")
        s.append(
            query.scope.includeDeleted
                ? "i.status NOT IN ('killed', 'pending_delete') AND i.os_hidden = "
                : "i.deleted_at IS NULL AND i.status NOT IN ('killed', 'deleted', 'pending_delete') AND i.os_hidden = ")
        s.bind(.bool(query.scope.hidden))
        scope(&s)
        for c in query.conditions { appendCondition(c, to: &s) }
        if let marker = query.marker { appendKeyset(query.sort, after: marker, to: &s) }
        appendOrderAndLimit(query, to: &s)
    }

    static func appendOrderAndLimit(_ query: ImageListQuery, to s: inout SQLStatement) {
        s.append(" ORDER BY ")
        s.append(
            query.sort.map { Self.sortExpression($0.column) + ($0.ascending ? " ASC" : " DESC") }.joined(
                separator: ", "))
        s.append(" LIMIT ")
        s.bind(.int(query.limit))
    }

    /// Appends `AND …` restricting rows to part of the caller's scope.
    typealias ScopePredicate = (inout SQLStatement) -> Void

    /// Which rows the caller may see (Glance's `_select_images_query`), as disjoint parts
    /// whose union is the scope.
    static func scopeBranches(_ scope: ListScope) -> [ScopePredicate] {
        func text(_ sql: String) -> ScopePredicate { { $0.append(sql) } }
        if scope.isAdmin {
            switch scope.visibility {
            case .default:
                return [
                    { s in
                        s.append(" AND (i.visibility <> 'community' OR i.owner = ")
                        s.bind(.optional(scope.projectId))
                        s.append(")")
                    }
                ]
            case .all: return [text("")]
            case .only(let v):
                return [
                    { s in
                        s.append(" AND i.visibility = ")
                        s.bind(.text(v.rawValue))
                    }
                ]
            }
        }
        guard let project = scope.projectId else {
            switch scope.visibility {
            case .default: return [text(" AND i.visibility = 'public'")]
            case .all: return [text(" AND i.visibility IN ('public', 'community')")]
            case .only(let v):
                return [
                    { s in
                        s.append(" AND i.visibility = ")
                        s.bind(.text(v == .public || v == .community ? v.rawValue : "-"))
                    }
                ]
            }
        }
        // Images of other projects shared with this one.
        let sharedWithMe: ScopePredicate = { s in
            s.append(" AND i.visibility = 'shared' AND COALESCE(i.owner, '') <> ")
            s.bind(.text(project))
            s.append(" AND EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = ")
            s.bind(.text(project))
            if scope.memberStatus != .all {
                s.append(" AND m.status = ")
                s.bind(.text(scope.memberStatus.rawValue))
            }
            s.append(")")
        }
        func own(_ condition: String) -> ScopePredicate {
            { s in
                s.append(" AND i.owner = ")
                s.bind(.text(project))
                s.append(condition)
            }
        }
        switch scope.visibility {
        case .default:
            return [text(" AND i.visibility = 'public'"), own(" AND i.visibility <> 'public'"), sharedWithMe]
        case .all:
            return [
                text(" AND i.visibility IN ('public', 'community')"),
                own(" AND i.visibility NOT IN ('public', 'community')"), sharedWithMe,
            ]
        case .only(.public): return [text(" AND i.visibility = 'public'")]
        case .only(.community): return [text(" AND i.visibility = 'community'")]
        case .only(.private): return [own(" AND i.visibility = 'private'")]
        case .only(.shared): return [own(" AND i.visibility = 'shared'"), sharedWithMe]
        }
    }

    static func appendCondition(_ c: ImageCondition, to s: inout SQLStatement) {
        switch c {
        case .oneOf(let column, let values):
            // Equal to the column for any non-empty value, and what the column's index is on.
            let byIndexedExpression = indexedBySortExpression.contains(column) && !values.contains("")
            s.append(" AND " + (byIndexedExpression ? sortExpression(column) : "i.\(column.rawValue)") + " IN ")
            s.bindList(values.map { .text($0) })
        case .atLeast(let column, let v):
            // Above zero, a missing value (sorted as 0) is out either way.
            let indexed = indexedBySortExpression.contains(column) && v > 0
            s.append(" AND " + (indexed ? sortExpression(column) : "i.\(column.rawValue)") + " >= ")
            s.bind(.int(v))
        case .atMost(let column, let v):
            if indexedBySortExpression.contains(column) {
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
            s.append(" AND i.\(column.rawValue) = ")
            s.bind(.bool(v))
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
    static func appendKeyset(_ sort: [SortKey], after marker: Image, to s: inout SQLStatement) {
        let values = sort.map { Self.sortValue($0.column, of: marker) }
        let exprs = sort.map { Self.sortExpression($0.column) }
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
