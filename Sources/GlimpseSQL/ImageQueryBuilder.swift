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
        /// The filter the side table answers (its other tags are checked on the image).
        let filter: SideFilter?
        let table: String
        let predicate: (inout SQLStatement) -> Void
        /// Whether `d.created_at` is the image's creation time (not the membership's).
        var carriesImageOrder = true

        init(table: String, predicate: @escaping (inout SQLStatement) -> Void) {
            self.filter = nil
            self.table = table
            self.predicate = predicate
            self.carriesImageOrder = false
        }

        /// The first tag or property filter of the query not counted as common, if any,
        /// among the images of `visibilities` (any, if empty).
        init?(_ conditions: [ImageCondition], common: Set<Int> = [], visibilities: [String] = []) {
            let filters = SideFilter.all(conditions)
            guard let k = filters.indices.first(where: { !common.contains($0) }) else { return nil }
            self.init(filters[k], visibilities: visibilities)
        }

        /// The images with `filter`, of `visibilities` (any, if empty): the side rows carry
        /// their image's visibility, and an index has it after the key.
        init(_ filter: SideFilter, visibilities: [String] = []) {
            self.filter = filter
            let key: (inout SQLStatement) -> Void
            switch filter.key {
            case .tag(let tag):
                table = "image_tags"
                key = { s in
                    s.append("d.tag = ")
                    s.bind(.text(tag))
                }
            case .property(let name, let value):
                table = "image_properties"
                key = { s in
                    s.append("d.name = ")
                    s.bind(.text(name))
                    s.append(" AND d.value = ")
                    s.bind(.text(value))
                }
            }
            predicate = { s in
                key(&s)
                guard !visibilities.isEmpty else { return }
                s.append(" AND d.visibility IN ")
                s.bindList(visibilities.map { .text($0) })
            }
        }
    }

    /// One tag, or one property's value, a query filters by: what a side table's index seeks.
    struct SideFilter: Equatable {
        enum Key: Equatable {
            case tag(String)
            case property(name: String, value: String)
        }
        /// The query's condition it is part of.
        let condition: ImageCondition
        let key: Key

        /// The query's side filters, in its order.
        static func all(_ conditions: [ImageCondition]) -> [SideFilter] {
            conditions.flatMap { c -> [SideFilter] in
                switch c {
                case .tags(let tags): tags.map { SideFilter(condition: c, key: .tag($0)) }
                case .property(let name, let value):
                    [SideFilter(condition: c, key: .property(name: name, value: value))]
                default: []
                }
            }
        }
    }

    /// Columns the stores index by their sort expression (`COALESCE(column, '')` or
    /// `COALESCE(column, 0)`), so that one index serves both sorting and a filter.
    static let indexedBySortExpression: Set<ImageColumn> = [
        .name, .diskFormat, .containerFormat, .checksum, .osHashValue, .size, .virtualSize,
    ]

    /// The condition of the partial index on a column that indexes only the images whose
    /// value differs from the one most share (`minimum` 0, or none), written as the index
    /// writes it: a filter that excludes the common value appends it, so that the planner
    /// sees the index serves it.
    static func partialIndexTerm(_ column: ImageColumn) -> String? {
        switch column {
        case .checksum, .osHashValue, .virtualSize: " AND i.\(column.rawValue) IS NOT NULL"
        case .minDisk, .minRam: " AND i.\(column.rawValue) > 0"
        default: nil
        }
    }

    /// The value an image has for a sort expression.
    static func sortValue(_ column: ImageColumn, of image: Image) -> SQLValue {
        switch image.sortValue(column) {
        case .text(let t): .text(t)
        case .number(let n): .int(n)
        }
    }

    /// What the store has counted before planning a list. SQLite plans without statistics,
    /// and where the better plan depends on how many images match, no fixed form of the query
    /// is right for every catalog: reading a filter's matches and sorting them costs their
    /// number; walking the requested order and checking each image costs about the page size
    /// divided by their share of the catalog. The store counts the matches, up to a cap
    /// (`probes`, `probeCap`), and the statement reads the matches when they are fewer.
    public struct ListPlan: Sendable, Equatable {
        /// The tag and property filters (by their place in `SideFilter.all`) with many
        /// matches. The first filter not among them is read first; when all are, the order
        /// is walked and the filters checked on each image, instead of matches read and sorted.
        public var commonFilters: Set<Int> = []
        /// The same among the images of the visibilities a part of the catalog is restricted
        /// to (the public ones, for a project's list), which that part reads.
        public var commonVisibleFilters: Set<Int> = []
        /// The conditions (by their place in the query) with many matches, whose index would
        /// not yield them in the requested order: checked on each image, not sought.
        public var commonConditions: Set<Int> = []
        /// The caller's own images in the part of the scope asked for are many: the order (or
        /// another filter's index) is walked, and the owner checked on each image, instead of
        /// all of them read by owner and sorted.
        public var walkPastOwner = false
        /// The images of the visibilities a part of the whole catalog is restricted to (the
        /// public ones, for a project's list) are many: the order is walked and the
        /// visibility checked on each image, instead of all of them read and sorted.
        public var walkPastVisibility = false

        public init(
            commonFilters: Set<Int> = [], commonVisibleFilters: Set<Int> = [], commonConditions: Set<Int> = [],
            walkPastOwner: Bool = false, walkPastVisibility: Bool = false
        ) {
            self.commonFilters = commonFilters
            self.commonVisibleFilters = commonVisibleFilters
            self.commonConditions = commonConditions
            self.walkPastOwner = walkPastOwner
            self.walkPastVisibility = walkPastVisibility
        }
    }

    /// A count a plan depends on: of `rows` (`SELECT 1 FROM … WHERE …`), up to a cap; `apply`
    /// records in the plan that the cap was reached.
    public struct ListProbe: Sendable {
        public let rows: SQLStatement
        public let apply: @Sendable (inout ListPlan) -> Void

        /// The count of the rows, stopped at `cap`.
        public func statement(cap: Int) -> SQLStatement {
            var s = SQLStatement("SELECT COUNT(*) FROM (")
            s.append(rows)
            s.append(" LIMIT ")
            s.bind(.int(cap))
            s.append(") c")
            return s
        }
    }

    /// The cap of a probe's count: the number of matches at which reading them all costs
    /// about as much as walking the order past the others, `√(limit × catalog size)`. Either
    /// plan then reads at most about that many rows for a page.
    public static func probeCap(limit: Int, catalogSize: Int) -> Int {
        max(100, Int(Double(max(limit, 1) * max(catalogSize, 1)).squareRoot()))
    }

    /// A cheap estimate of the number of images, for `probeCap`, in the backend's dialect.
    public static func catalogSizeEstimate(backend: String) -> String {
        backend == "postgresql"
            ? "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = 'images'::regclass"
            : "SELECT COALESCE(MAX(rowid), 0) FROM images"
    }

    /// The counts the plan of a query depends on: of the caller's own images (in creation
    /// order, which the owner's index is in, only when something is filtered) and, unless the
    /// order is the creation time (which a side table's index is in), of each tag and
    /// property filter. Where the planner has no statistics (`plannerCounts`
    /// false: SQLite), also of each condition whose index does not yield its matches in the
    /// requested order, and of the visibilities a part of the catalog is restricted to;
    /// PostgreSQL's statistics choose between those indexes and walking the order by
    /// themselves, except for the ranges `ImageBlocks` serves.
    public static func probes(_ query: ImageListQuery, plannerCounts: Bool = false) -> [ListProbe] {
        var probes: [ListProbe] = []
        func count(
            _ table: String, _ rows: (inout SQLStatement) -> Void,
            apply: @escaping @Sendable (inout ListPlan) -> Void
        ) {
            var s = SQLStatement("SELECT 1 FROM \(table) WHERE ")
            rows(&s)
            probes.append(ListProbe(rows: s, apply: apply))
        }
        let images = "images i"
        // The bounds of a range on one column are one seek, counted together.
        var groups: [[Int]] = []
        var rangeGroup: [ImageColumn: Int] = [:]
        for (k, c) in query.conditions.enumerated() {
            if let column = rangeColumn(c) {
                if let g = rangeGroup[column] {
                    groups[g].append(k)
                    continue
                }
                rangeGroup[column] = groups.count
            }
            groups.append([k])
        }
        // PostgreSQL's statistics do not see a range's matches follow the creation order:
        // those `ImageBlocks` can skip to (in creation order, by name or by update time) are
        // counted there too.
        let blocksHelp = { (k: Int) in
            ([.createdAt] + ImageBlocks.summarizedOrders).contains(query.sort.first?.column)
                && ImageBlocks.summarizes(query.conditions[k])
        }
        for group in groups
        where (!plannerCounts || group.contains(where: blocksHelp))
            && group.contains(where: { isProbed(query.conditions[$0], query) })
        {
            count(images) { s in
                s.append("i.deleted_at IS NULL")
                for k in group {
                    if case .atMost(.size, let v) = query.conditions[k] {
                        // The images without data are indexed as size 0, before the others:
                        // counted from 1 (an estimate), the count does not pass them all.
                        let size = sortExpression(.size)
                        s.append(" AND \(size) > 0 AND \(size) <= ")
                        s.bind(.int(v))
                    } else {
                        appendCondition(query.conditions[k], k, query, seekable: true, to: &s)
                    }
                }
                // In the range's index order: PostgreSQL otherwise scans the table for the first
                // matches, past every image created before them. (The minimums' indexes hold
                // the images with one: an upper bound, which admits those without, has none.)
                if plannerCounts, let column = rangeColumn(query.conditions[group[0]]),
                    !group.contains(where: {
                        if case .atMost(let c, _) = query.conditions[$0] {
                            [.minDisk, .minRam].contains(c)
                        } else {
                            false
                        }
                    })
                {
                    s.append(" ORDER BY \(sortExpression(column))")
                }
            } apply: {
                $0.commonConditions.formUnion(group)
            }
        }
        let branches = scopeBranches(query.scope)
        func countOwn() {
            guard let own = branches.first(where: { $0.owner != nil }), let owner = own.owner else { return }
            count(images) { s in
                s.append("i.deleted_at IS NULL AND i.owner = ")
                s.bind(.text(owner))
                own.predicate(&s)
            } apply: {
                $0.walkPastOwner = true
            }
        }
        // In creation order the owner's index is in the order too; a project owning much of the
        // catalog still walks past its images when a filter's index can be sought instead.
        guard query.sort.first?.column != .createdAt else {
            if !query.conditions.isEmpty { countOwn() }
            return probes
        }
        let visible = branches.first(where: { !$0.visibilities.isEmpty })?.visibilities
        // Counted over the whole catalog for the parts that read it (an admin's, the caller's
        // own images), and among the visible images for the part restricted to them.
        let wholeCatalog = branches.contains { $0.visibilities.isEmpty && $0.driver == nil }
        for (k, filter) in SideFilter.all(query.conditions).enumerated() {
            if wholeCatalog {
                let driver = Driver(filter)
                count("\(driver.table) d", driver.predicate) { _ = $0.commonFilters.insert(k) }
            }
            if let visible {
                let driver = Driver(filter, visibilities: visible)
                count("\(driver.table) d", driver.predicate) { _ = $0.commonVisibleFilters.insert(k) }
            }
        }
        // The public images by name are an index of their own (`images_public_name`).
        if !plannerCounts, let part = branches.first(where: { !$0.visibilities.isEmpty }),
            !(part.visibilities == [Visibility.public.rawValue] && query.sort.first?.column == .name)
        {
            count(images) { s in
                s.append("i.deleted_at IS NULL")
                appendVisibilities(part.visibilities, seekable: true, to: &s)
            } apply: {
                $0.walkPastVisibility = true
            }
        }
        countOwn()
        return probes
    }

    /// The column of a range condition (a bound, or a time comparison).
    static func rangeColumn(_ c: ImageCondition) -> ImageColumn? {
        switch c {
        case .atLeast(let column, _), .atMost(let column, _), .time(let column, _, _): column
        default: nil
        }
    }

    /// Whether a condition is counted: one an index seeks (not an id, always rare) whose
    /// index does not yield its matches in the requested order. An equality's index, on
    /// (column, created_at, id), yields them in the default order; a range's in its column's.
    static func isProbed(_ c: ImageCondition, _ query: ImageListQuery) -> Bool {
        let first = query.sort.first?.column
        switch c {
        case .oneOf(let column, let values):
            return column != .id && (values.count > 1 || first != .createdAt)
        case .atLeast(let column, let v):
            return query.conditions.contains(.atMost(column, v)) ? first != .createdAt : first != column
        case .atMost(let column, let v):
            return query.conditions.contains(.atLeast(column, v)) ? false : first != column
        case .time(let column, let op, _):
            return op != .neq && first != column
        case .flag(_, let value):
            return value && first != .createdAt
        case .tags, .property, .propertyAbsent:
            return false
        }
    }

    /// Appends condition `k` of the query: sought, or checked on each image (an exact number,
    /// `_min` and `_max` at once, as one equality).
    static func appendCondition(
        _ c: ImageCondition, _ k: Int, _ query: ImageListQuery, seekable: Bool, to s: inout SQLStatement
    ) {
        if case .atLeast(let column, let v) = c, query.conditions.contains(.atMost(column, v)) {
            appendEquality(column, v, seekable: seekable, to: &s)
        } else if case .atMost(let column, let v) = c, query.conditions.contains(.atLeast(column, v)) {
            return  // with its `atLeast`, as one equality
        } else {
            appendCondition(c, seekable: seekable, to: &s)
        }
    }

    /// The statement of a page; `createdWithin` restricts it to images created in that range
    /// (a run of `ImageBlocks`). With `readThenSort`, a range listed in another order than the
    /// creation time is read, then sorted (a materialized CTE): PostgreSQL's planner may
    /// otherwise walk the order's index, past every image ordered before the range's (a range
    /// holds about a block). SQLite seeks the range by itself, and a copy of the rows would
    /// cost it more than the sort.
    public static func select(
        _ query: ImageListQuery, plan: ListPlan = ListPlan(), createdWithin: ClosedRange<Int64>? = nil,
        readThenSort: Bool = false
    ) -> SQLStatement {
        let branches = scopeBranches(query.scope)
        var s = SQLStatement()
        guard branches.count > 1 else {
            appendBranch(
                query, branches[0], plan: plan, createdWithin: createdWithin, readThenSort: readThenSort, to: &s)
            return s
        }
        // One ordered, limited SELECT per part of the scope, merged: each walks an index of
        // its own (the public images, the project's, those shared with it), so a project
        // that sees few images is not served by scanning everyone's.
        s.append("SELECT * FROM (")
        for (k, branch) in branches.enumerated() {
            if k > 0 { s.append(" UNION ALL ") }
            s.append("SELECT * FROM (")
            appendBranch(
                query, branch, plan: plan, createdWithin: createdWithin, readThenSort: readThenSort, to: &s)
            s.append(") b\(k)")
        }
        s.append(") i")
        appendOrderAndLimit(query, to: &s)
        return s
    }

    static func appendBranch(
        _ query: ImageListQuery, _ scope: ScopeBranch, plan: ListPlan, createdWithin: ClosedRange<Int64>? = nil,
        readThenSort: Bool = false, to s: inout SQLStatement
    ) {
        // A project's own images and those shared with it are read from the project's index
        // (unless its own are many); the rest of the catalog from a filter's, or the order's.
        let byProject = scope.ofProject && !(scope.owner != nil && plan.walkPastOwner)
        let driver =
            scope.driver
            ?? (byProject
                ? nil
                : Driver(
                    query.conditions,
                    common: scope.visibilities.isEmpty ? plan.commonFilters : plan.commonVisibleFilters,
                    visibilities: scope.visibilities))
        let fenced = readThenSort && createdWithin != nil && query.sort.first?.column != .createdAt
        if fenced { s.append("WITH i AS MATERIALIZED (") }
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
        appendFlag(.osHidden, query.scope.hidden, seekable: !byProject, to: &s)
        if let owner = scope.owner {
            // Walking past many own images, the owner is checked, not sought.
            s.append(byProject ? " AND i.owner = " : " AND (i.owner || '') = ")
            s.bind(.text(owner))
        }
        if !byProject, let checked = scope.checkedPredicate { checked(&s) } else { scope.predicate(&s) }
        appendVisibilities(scope.visibilities, seekable: !plan.walkPastVisibility, to: &s)
        for (k, c) in query.conditions.enumerated() {
            if let filter = driver?.filter, c == filter.condition {
                if case .tags(let tags) = c, case .tag(let tag) = filter.key {
                    appendCondition(.tags(tags.filter { $0 != tag }), seekable: true, to: &s)
                }
            } else {
                let seekable = !byProject && !plan.commonConditions.contains(k)
                appendCondition(c, k, query, seekable: seekable, to: &s)
            }
        }
        if let range = createdWithin {
            let created = sortExpression(.createdAt, driver: driver)
            s.append(" AND \(created) >= ")
            s.bind(.int(range.lowerBound))
            s.append(" AND \(created) <= ")
            s.bind(.int(range.upperBound))
        }
        if let marker = query.marker { appendKeyset(query.sort, after: marker, driver: driver, to: &s) }
        if fenced { s.append(") SELECT * FROM i") }
        appendOrderAndLimit(query, driver: fenced ? nil : driver, to: &s)
    }

    /// `AND i.visibility IN (…)`, as literals (a partial index on a visibility serves only
    /// those), or checked on each image.
    static func appendVisibilities(_ names: [String], seekable: Bool, to s: inout SQLStatement) {
        guard !names.isEmpty else { return }
        let column = seekable ? "i.visibility" : checked(.visibility)
        let list = names.map { "'\($0)'" }.joined(separator: ", ")
        s.append(names.count == 1 ? " AND \(column) = \(list)" : " AND \(column) IN (\(list))")
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
        /// The project whose own images the part is (`i.owner = …`, written before
        /// `predicate`), if it is.
        var owner: String? = nil
        /// The predicate in a form no index serves, for walking past many own images.
        var checkedPredicate: ((inout SQLStatement) -> Void)? = nil
        /// The visibilities of a part of the whole catalog restricted to them (`i.visibility
        /// IN …`, written after `predicate`), if it is.
        var visibilities: [String] = []
        /// The side table the branch starts from, if any.
        var driver: Driver? = nil
    }

    /// Which rows the caller may see (Glance's `_select_images_query`), as disjoint parts
    /// whose union is the scope.
    static func scopeBranches(_ scope: ListScope) -> [ScopeBranch] {
        func text(_ sql: String) -> ScopeBranch { ScopeBranch(predicate: { $0.append(sql) }) }
        func visible(_ names: Visibility...) -> ScopeBranch {
            ScopeBranch(predicate: { _ in }, visibilities: names.map(\.rawValue))
        }
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
                // A literal (one of four names), which a partial index on it can serve.
                return [visible(v)]
            }
        }
        guard let project = scope.projectId else {
            switch scope.visibility {
            case .default: return [visible(.public)]
            case .all: return [visible(.public, .community)]
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
        // The project's own images, sought by owner, or by owner and visibility (an index
        // has both): other visibilities (as the filters, see `appendCondition`) are written
        // so that no index over the whole catalog is sought instead.
        func own(_ visibility: String, checked: String? = nil) -> ScopeBranch {
            ScopeBranch(
                predicate: { $0.append(visibility) }, ofProject: true, owner: project,
                checkedPredicate: { $0.append(checked ?? visibility) })
        }
        switch scope.visibility {
        case .default:
            return [visible(.public), own(" AND (i.visibility || '') <> 'public'"), sharedWithMe]
        case .all:
            return [
                visible(.public, .community),
                own(" AND (i.visibility || '') NOT IN ('public', 'community')"), sharedWithMe,
            ]
        case .only(.public): return [visible(.public)]
        case .only(.community): return [visible(.community)]
        case .only(.private):
            return [own(" AND i.visibility = 'private'", checked: " AND (i.visibility || '') = 'private'")]
        case .only(.shared):
            return [own(" AND i.visibility = 'shared'", checked: " AND (i.visibility || '') = 'shared'"), sharedWithMe]
        }
    }

    /// `AND column = v`, for a number filtered exactly (`min_disk=7`, which is `_min` and
    /// `_max` at once): an equality, which an index on (column, created_at, id) serves in the
    /// default order, where a range would be sorted.
    static func appendEquality(_ column: ImageColumn, _ v: Int, seekable: Bool, to s: inout SQLStatement) {
        // Above zero, a missing value (sorted as 0) is out either way.
        let indexed = seekable && indexedBySortExpression.contains(column) && v > 0
        let plain = seekable ? "i.\(column.rawValue)" : checked(column)
        s.append(" AND " + (indexed ? sortExpression(column) : plain) + " = ")
        s.bind(.int(v))
        if seekable && v > 0, let term = partialIndexTerm(column) { s.append(term) }
    }

    /// A column in a form no index serves (the same value, or NULL), for a condition checked
    /// on each image rather than sought.
    static func checked(_ column: ImageColumn) -> String {
        switch column {
        case .size, .virtualSize, .minDisk, .minRam, .isProtected, .osHidden, .createdAt, .updatedAt:
            "(i.\(column.rawValue) + 0)"
        default:
            "(i.\(column.rawValue) || '')"
        }
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
            let plain = seekable || column == .id ? "i.\(column.rawValue)" : checked(column)
            s.append(" AND " + (byIndexedExpression ? sortExpression(column) : plain) + " IN ")
            s.bindList(values.map { .text($0) })
            if byIndexedExpression, let term = partialIndexTerm(column) { s.append(term) }
        case .atLeast(let column, let v):
            // Above zero, a missing value (sorted as 0) is out either way.
            let indexed = seekable && indexedBySortExpression.contains(column) && v > 0
            let plain = seekable ? "i.\(column.rawValue)" : checked(column)
            s.append(" AND " + (indexed ? sortExpression(column) : plain) + " >= ")
            s.bind(.int(v))
            if seekable && v > 0, let term = partialIndexTerm(column) { s.append(term) }
        case .atMost(let column, let v):
            if seekable && indexedBySortExpression.contains(column) {
                s.append(" AND i.\(column.rawValue) IS NOT NULL AND \(sortExpression(column)) <= ")
            } else {
                s.append(" AND " + (seekable ? "i.\(column.rawValue)" : checked(column)) + " <= ")
            }
            s.bind(.int(v))
        case .time(let column, let op, let t):
            // Compare at whole seconds, as the API shows times.
            let second = Timestamp(seconds: t.seconds).microseconds
            let next = second + 1_000_000
            let col = seekable ? "i.\(column.rawValue)" : checked(column)
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
