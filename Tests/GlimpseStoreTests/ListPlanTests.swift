import GlimpseCore
import GlimpsePostgres
import GlimpseSQLite
import GlimpseTestSupport
import Logging
import OpenStackEncoding
import OpenStackJSON
import Testing

@testable import GlimpseHTTP
@testable import GlimpseSQL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every list shape the API can be asked for reads the catalog through an index, on SQLite
/// (`EXPLAIN QUERY PLAN`) and on PostgreSQL (`EXPLAIN (FORMAT JSON)`).
///
/// The shapes come from the API itself: every filter `ListParameters` reads by name (each
/// enumerated value of visibility, member_status, status, os_hidden, protected and every
/// time comparison), a custom property, and a representative set of combinations; each
/// with the default order and every sort key in both directions; as an admin, a member
/// and a reader. A query string goes through `ListParameters.parse`, `ImageService.listQuery`
/// and `ImageQueryBuilder.select`, as a request does.
///
/// What counts as using an index (SQLite), for the images table and the side tables:
/// - a seek (`SEARCH`): the rows read are bounded by the matches of the seek's key, a
///   filter or the caller's scope; a sort after it sorts only those matches;
/// - an ordered walk (`SCAN … USING INDEX`, no sort after it) stops after LIMIT rows only
///   when the rows it passes match: it is accepted for a shape that narrows nothing (the
///   scope's defaults, which nearly every image meets, a flag's `false`, `neq` and one-sided
///   ranges: see `narrowing`). A walk that checks an equality, a set of values or a
///   two-sided range along the way reads the whole index when the value is rare, which is
///   a scan;
/// - a project's own images or those shared with it found other than by owner, membership
///   or id (among a filter's matches in the whole catalog: bounded by the catalog, not by
///   the project);
/// - a full table scan, a walk followed by a sort of everything it walked, a scan of a
///   side table, or images shared with the caller found by checking every shared image's
///   memberships (rather than reading the caller's), is never accepted.
///
/// PostgreSQL plans by its statistics, value by value: it seeks a rare value and walks the
/// order for a common one, by itself. Its plans are read over a seeded catalog with its
/// statistics (`postgresCatalog`), where a `Seq Scan` of the image table means that no
/// index serves the shape better than reading the whole catalog.
@Suite("List plans")
struct ListPlanTests {
    /// One list request and the statement it becomes.
    struct Shape: CustomStringConvertible {
        var caller: String
        var query: [(String, String)]
        var statement: SQLStatement
        /// Whether the request narrows each part of the scope (a filter, a visibility, a
        /// non-admin's scope), so that an ordered walk would have to filter along.
        var narrows: [Bool]
        /// Which parts of the scope (`b0`, `b1`… in the plan) are one project's images,
        /// sought by the project.
        var projectBranches: [Bool]
        /// The store's query, and what the store's counts found for it (see
        /// `ImageQueryBuilder.ListPlan`).
        var listQuery: ImageListQuery
        var plan = ImageQueryBuilder.ListPlan()

        var description: String {
            var counted: [String] = []
            if !plan.commonFilters.isEmpty { counted.append("the matches of filters \(plan.commonFilters.sorted())") }
            if !plan.commonVisibleFilters.isEmpty {
                counted.append("the visible matches of filters \(plan.commonVisibleFilters.sorted())")
            }
            if !plan.commonConditions.isEmpty {
                counted.append("the matches of conditions \(plan.commonConditions.sorted())")
            }
            if plan.walkPastOwner { counted.append("the caller's own images") }
            if plan.walkPastVisibility { counted.append("the images of a visibility") }
            return "\(caller): GET /v2/images?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
                + (counted.isEmpty ? "" : " (many: " + counted.joined(separator: ", ") + ")")
        }
    }

    static let callers: [(String, Principal)] = [
        ("admin", Principal(userId: "u-admin", projectId: "p-admin", roles: ["admin", "member", "reader"])),
        ("member", Principal(userId: "u-member", projectId: "p-member", roles: ["member", "reader"])),
        ("reader", Principal(userId: "u-reader", projectId: "p-reader", roles: ["reader"])),
        // A member of the project that owns the catalog: its own images are all of them.
        ("owner", Principal(userId: "u-owner", projectId: "p-admin", roles: ["member", "reader"])),
    ]

    /// Values to try for a filter: each value of an enumerated one, one typical value otherwise.
    static func samples(_ name: String) -> [String] {
        if let filter = ListParameters.NamedFilter(rawValue: name) {
            switch filter {
            case .visibility: return ["all"] + Visibility.allCases.map(\.rawValue)
            case .memberStatus: return ListScope.MemberStatusFilter.allCases.map(\.rawValue)
            case .osHidden, .protected: return ["true", "false"]
            case .tag: return ["group-3"]
            case .createdAt, .updatedAt: return TimeComparison.allCases.map { "\($0.rawValue):2026-06-01T00:00:00Z" }
            }
        }
        switch ListParameters.exactColumns[name] ?? ListParameters.plainColumns[name] {
        case .status?: return ImageStatus.allCases.map(\.rawValue) + ["in:active,queued"]
        case .id?: return ["00000000-0000-4000-8000-000000000001"]
        case .name?: return ["seed-1", "in:seed-1,seed-2"]
        case .diskFormat?: return ["qcow2"]
        case .containerFormat?: return ["bare"]
        case .owner?: return ["p-other"]
        case .checksum?: return [String(repeating: "0", count: 32)]
        case .osHashValue?: return [String(repeating: "0", count: 128)]
        default: return ["1048576"]  // the numeric filters and their _min/_max
        }
    }

    /// Filters combined, as clients send them.
    static let combinations: [[(String, String)]] = [
        [("status", "queued")],  // with every sort below, as the issue's shapes
        [("visibility", "private"), ("status", "queued")],
        [("visibility", "public"), ("disk_format", "qcow2")],
        [("visibility", "shared"), ("member_status", "all"), ("owner", "p-other")],
        [("name", "seed-1"), ("status", "active")],
        [("tag", "group-3"), ("os_distro", "fedora")],
        [("tag", "group-3"), ("tag", "seeded")],
        [("os_hidden", "true"), ("tag", "group-3")],
        [("disk_format", "qcow2"), ("container_format", "bare"), ("size_min", "1048576")],
        [("size_min", "1048576"), ("size_max", "2097152")],
        [("created_at", "gt:2026-01-01T00:00:00Z"), ("created_at", "lt:2026-06-01T00:00:00Z")],
        [("updated_at", "gte:2026-01-01T00:00:00Z"), ("status", "active")],
        [("checksum", String(repeating: "0", count: 32)), ("os_hidden", "true")],
        [("os_distro", "fedora"), ("hw_disk_bus", "virtio")],
    ]

    /// Every order: the default, and each sort key the API accepts in both directions.
    static let orders: [[(String, String)]] =
        [[]] + SortKey.allowed.flatMap { c in ["asc", "desc"].map { [("sort", "\(c.rawValue):\($0)")] } }

    static func shapes() throws -> [Shape] {
        let filters: [[(String, String)]] =
            [[]] + ListParameters.filterNames.flatMap { name in samples(name).map { [(name, $0)] } }
            + [[("os_distro", "fedora")]] + combinations
        var out: [Shape] = []
        var seen: Set<String> = []
        for (caller, principal) in callers {
            for filter in filters {
                for order in orders {
                    let items = filter + order
                    let request = try ListParameters.parse(items)
                    let query = ImageService.listQuery(request, by: principal, limit: 26)
                    // Each plan the store's counts can lead to: the statement for few matches
                    // and, where a count decides, for many.
                    var plans = [ImageQueryBuilder.ListPlan()]
                    for probe in ImageQueryBuilder.probes(query) {
                        plans += plans.map { plan in
                            var plan = plan
                            probe.apply(&plan)
                            return plan
                        }
                    }
                    for plan in plans {
                        let statement = ImageQueryBuilder.select(query, plan: plan)
                        // The member and the reader make the same statements: plan each once.
                        guard seen.insert(statement.sql + "\(statement.binds)").inserted else { continue }
                        // Many matches of a counted filter, or many own images, do not narrow
                        // what is walked: the walk passes few rows between matches.
                        let sideFilters = ImageQueryBuilder.SideFilter.all(query.conditions)
                        let branches = ImageQueryBuilder.scopeBranches(query.scope)
                        // Each part of the scope narrows unless counted as many (or an
                        // admin's whole catalog); a filter counted as common in the rows a
                        // part reads narrows nothing there.
                        let narrows = branches.map { branch in
                            let common = branch.visibilities.isEmpty ? plan.commonFilters : plan.commonVisibleFilters
                            let dense = { (c: ImageCondition) in
                                let parts = sideFilters.indices.filter { sideFilters[$0].condition == c }
                                return !parts.isEmpty && parts.allSatisfy(common.contains)
                            }
                            let conditionsNarrow =
                                request.hidden
                                || query.conditions.indices.contains { k in
                                    !dense(query.conditions[k]) && !plan.commonConditions.contains(k)
                                        && narrowing(query.conditions[k], query.conditions)
                                }
                            if conditionsNarrow { return true }
                            if !branch.visibilities.isEmpty { return !plan.walkPastVisibility }
                            if branch.owner != nil { return !plan.walkPastOwner }
                            return branch.ofProject || !principal.isAdmin
                        }
                        out.append(
                            Shape(
                                caller: caller, query: items, statement: statement, narrows: narrows,
                                projectBranches: branches.map {
                                    $0.ofProject && !($0.owner != nil && plan.walkPastOwner)
                                }, listQuery: query, plan: plan))
                    }
                }
            }
        }
        return out
    }

    /// Whether a condition can match few images. A flag's `false`, `neq` and a one-sided
    /// range match nearly every image or everything on one side of a bound: walking the
    /// requested order and filtering along is the plan for those (a seek would sort most of
    /// the catalog), and is a scan only for a bound at the very edge of the catalog. A range
    /// bounded on both sides, an equality or a set of values can be rare and must be sought.
    static func narrowing(_ c: ImageCondition, _ all: [ImageCondition]) -> Bool {
        switch c {
        case .flag(_, let value): return value
        case .atLeast(let column, _):
            return all.contains { if case .atMost(column, _) = $0 { true } else { false } }
        case .atMost(let column, _):
            return all.contains { if case .atLeast(column, _) = $0 { true } else { false } }
        case .time(let column, let op, _):
            func bounds(_ ops: Set<TimeComparison>) -> Bool {
                all.contains { if case .time(column, let o, _) = $0 { ops.contains(o) } else { false } }
            }
            switch op {
            case .eq: return true
            case .neq: return false
            case .gt, .gte, .lt, .lte: return bounds([.gt, .gte]) && bounds([.lt, .lte])
            }
        default: return true
        }
    }

    @Test("the shapes cover every filter the API reads, each as a filter (not a custom property)")
    func coverage() throws {
        for name in ListParameters.filterNames {
            for value in Self.samples(name) {
                let request = try ListParameters.parse([(name, value)])
                let asProperty = request.conditions.contains {
                    if case .property = $0 { true } else { false }
                }
                #expect(!asProperty, "\(name)=\(value) is read as a custom property")
            }
        }
        #expect(try Self.shapes().count > 1000)
    }

    // MARK: Plans chosen by counts

    /// A catalog where a count decides: 150 images, `common` on every one, `rare` on three,
    /// project p1 owning 120 (40 private), p2 the rest (public).
    static func seedCountedCatalog(_ store: any MetadataStore) async throws {
        for n in 1...150 {
            let p1 = n <= 120
            var img = image(
                uuid(n), owner: p1 ? "p1" : "p2", name: "img-\((n * 37) % 150)",
                status: n % 4 == 0 ? .active : .queued,
                visibility: p1 ? (n % 3 == 0 ? .private : .shared) : .public, at: Int64(n),
                tags: ["common"] + (n % 50 == 7 ? ["rare"] : []), properties: ["os": .string(n % 2 == 0 ? "a" : "b")])
            img.updatedAt = Timestamp(seconds: Int64((n * 53) % 150))
            img.size = (n * 13) % 150
            try await store.insertImage(img)
        }
    }

    /// Every plan a query can be given, and the pages each lists, must be the same list.
    static func samePagesEveryPlan<D: SQLDatabase>(_ store: SQLMetadataStore<D>) async throws {
        let scopes = [
            ListScope(projectId: "admin", isAdmin: true),
            ListScope(projectId: "p1", isAdmin: false),
            ListScope(projectId: "p1", isAdmin: false, visibility: .only(.private)),
            ListScope(projectId: "p1", isAdmin: false, visibility: .only(.shared)),
        ]
        let filters: [[ImageCondition]] = [
            [.tags(["common"])], [.tags(["common", "rare"])], [.property("os", "a"), .tags(["common"])],
            [.oneOf(.status, ["queued"])],
        ]
        let sorts = [
            [SortKey(.name, ascending: true)], [SortKey(.updatedAt, ascending: false)],
            [SortKey(.status, ascending: true), SortKey(.size, ascending: false)],
        ]
        for scope in scopes {
            for conditions in filters {
                for sort in sorts {
                    let base = ImageListQuery(
                        scope: scope, conditions: conditions,
                        sort: ImageListQuery.completeSort(sort, defaultAscending: false), limit: 7)
                    var plans = [ImageQueryBuilder.ListPlan()]
                    for probe in ImageQueryBuilder.probes(base) {
                        plans += plans.map { plan in
                            var plan = plan
                            probe.apply(&plan)
                            return plan
                        }
                    }
                    var lists: [[String]] = []
                    for plan in plans {
                        var ids: [String] = []
                        var query = base
                        while true {
                            let statement = ImageQueryBuilder.select(query, plan: plan)
                            let page = try await store.db.read { c in
                                try await c.query(statement).map(ImageTable.decode)
                            }
                            ids += page.map(\.id)
                            guard page.count == query.limit, let last = page.last else { break }
                            query.marker = last
                        }
                        lists.append(ids)
                    }
                    let described = "\(scope) \(conditions) \(sort.map(\.column))"
                    #expect(!lists[0].isEmpty || conditions.count > 1, "\(described) lists nothing")
                    #expect(Set(lists).count == 1, "\(described): plans \(plans) list \(lists)")
                }
            }
        }
        // The counts choose: `common` (150 ≥ the cap of 100) is walked past, `rare` read first.
        let query = ImageListQuery(
            scope: ListScope(projectId: "admin", isAdmin: true), conditions: [.tags(["common", "rare"])],
            sort: ImageListQuery.completeSort([SortKey(.name, ascending: true)], defaultAscending: false), limit: 25)
        let counts = RecentCounts()
        let plan = try await store.db.read { c in
            try await SQLMetadataStore<D>.plan(query, backend: store.db.backend, c, counts: counts)
        }
        #expect(plan == ImageQueryBuilder.ListPlan(commonFilters: [0]))
        // Planned again while its counts are recent, the list reads none: with every `common`
        // image gone, the plan stays (a plan chooses how a page is read, not what it holds).
        try await store.db.withTransaction { c in
            try await c.run("DELETE FROM image_tags WHERE tag = 'common'")
        }
        let again = try await store.db.read { c in
            try await SQLMetadataStore<D>.plan(query, backend: store.db.backend, c, counts: counts)
        }
        #expect(again == plan)
        let fresh = try await store.db.read { c in
            try await SQLMetadataStore<D>.plan(query, backend: store.db.backend, c)
        }
        #expect(fresh == ImageQueryBuilder.ListPlan())
        // p1's own images: 120 not public (walked past), 40 private (read by owner).
        for (visibility, many) in [(ListScope.VisibilityFilter.default, true), (.only(.private), false)] {
            let own = ImageListQuery(
                scope: ListScope(projectId: "p1", isAdmin: false, visibility: visibility),
                sort: ImageListQuery.completeSort([SortKey(.updatedAt, ascending: false)], defaultAscending: false),
                limit: 1)
            let ownPlan = try await store.db.read { c in
                try await SQLMetadataStore<D>.plan(own, backend: store.db.backend, c)
            }
            #expect(ownPlan.walkPastOwner == many, "\(visibility)")
        }
    }

    @Test("every plan a count can choose lists the same pages", arguments: MetadataBackend.available)
    func samePages(_ backend: MetadataBackend) async throws {
        guard backend != .memory else { return }
        try await backend.with { store in
            try await Self.seedCountedCatalog(store)
            if let sqlite = store as? SQLMetadataStore<SQLiteDatabase> {
                try await Self.samePagesEveryPlan(sqlite)
            } else if let postgres = store as? SQLMetadataStore<PostgresDatabase> {
                try await Self.samePagesEveryPlan(postgres)
            } else {
                Issue.record("\(backend) is not a SQL store")
            }
        }
    }

    // MARK: SQLite

    /// One row of `EXPLAIN QUERY PLAN`.
    struct PlanStep {
        var id: Int64
        var parent: Int64
        var detail: String
    }

    /// Aliases of the image table and of the side tables in the statements.
    static let imageAliases: Set<String> = ["i"]
    static let sideAliases: Set<String> = ["t", "p", "m", "d"]

    /// What is wrong with a SQLite plan for a shape (empty when it uses indexes as above).
    static func sqliteProblems(
        _ plan: [PlanStep], narrows: [Bool], readsMemberships: Bool, projectBranches: [Bool] = []
    ) -> [String] {
        var problems: [String] = []
        // A project's own images, and those shared with it, are bounded by the project: they
        // must be sought by owner, by membership or by id, not found among a filter's matches
        // in the whole catalog.
        for (k, ofProject) in projectBranches.enumerated() where ofProject {
            let steps = projectBranches.count == 1 ? plan : descendants(of: "CO-ROUTINE b\(k)", in: plan)
            let bySeek = steps.contains { step in
                step.detail.contains("(owner=?") || step.detail.contains("image_members_member (member=?")
                    || step.detail.hasPrefix("SEARCH i USING INDEX sqlite_autoindex_images_1 (id=?)")
                        && !steps.contains { $0.detail.hasPrefix("SEARCH d ") }
            }
            if !bySeek { problems.append("reads a project's images (part \(k) of the scope) from the whole catalog") }
        }
        // The rows of a subquery (the parts of a caller's scope, merged), each limited.
        let subqueries = Set(
            plan.compactMap { step in
                ["CO-ROUTINE ", "MATERIALIZE "].first(where: step.detail.hasPrefix).map {
                    String(step.detail.dropFirst($0.count))
                }
            })
        if readsMemberships, !plan.contains(where: { $0.detail.contains("image_members_member (member=?") }) {
            problems.append("finds the images shared with the caller without seeking the caller's memberships")
        }
        for step in plan {
            let words = step.detail.split(separator: " ").map(String.init)
            guard words.count >= 2, words[0] == "SCAN", !subqueries.contains(words[1]) else { continue }
            let alias = words[1]
            let usesIndex = step.detail.contains(" USING INDEX ") || step.detail.contains(" USING COVERING INDEX ")
            if sideAliases.contains(alias) {
                problems.append("reads all of a side table: \(step.detail)")
            } else if imageAliases.contains(alias) {
                if !usesIndex {
                    problems.append("scans the image table: \(step.detail)")
                } else if narrows.indices.contains(where: { k in
                    narrows[k]
                        && (narrows.count == 1
                            || descendants(of: "CO-ROUTINE b\(k)", in: plan).contains { $0.id == step.id })
                }) {
                    problems.append("walks a whole index, filtering along: \(step.detail)")
                } else if plan.contains(where: {
                    $0.parent == step.parent && $0.detail == "USE TEMP B-TREE FOR ORDER BY"
                }) {
                    problems.append("walks a whole index, then sorts it: \(step.detail)")
                }
            }
        }
        return problems
    }

    /// The steps under the step whose detail is `detail`.
    static func descendants(of detail: String, in plan: [PlanStep]) -> [PlanStep] {
        guard let root = plan.first(where: { $0.detail == detail }) else { return [] }
        var ids: Set<Int64> = [root.id]
        var out: [PlanStep] = []
        for step in plan where ids.contains(step.parent) {
            ids.insert(step.id)
            out.append(step)
        }
        return out
    }

    static func render(_ plan: [PlanStep]) -> String {
        var depth: [Int64: Int] = [0: 0]
        return plan.map { step in
            let d = (depth[step.parent] ?? 0) + 1
            depth[step.id] = d
            return String(repeating: "  ", count: d) + step.detail
        }.joined(separator: "\n")
    }

    @Test("SQLite: every list shape seeks an index, or walks one in order without filtering along")
    func sqlitePlans() async throws {
        let dir = tempDir()
        defer { _ = system("rm -rf '\(dir)'") }
        let store = try SQLiteMetadataStore(path: dir + "/plans.db")
        try await store.migrate()
        let shapes = try Self.shapes()
        let failures = try await store.db.read { c in
            var failures: [String] = []
            for shape in shapes {
                // In the orders `ImageBlocks` serves, also as it reads a run of blocks.
                let bounded =
                    ([.createdAt] + ImageBlocks.summarizedOrders).contains(shape.listQuery.sort.first?.column)
                    ? [ImageQueryBuilder.select(shape.listQuery, plan: shape.plan, createdWithin: 1_000...2_000)] : []
                for statement in [shape.statement] + bounded {
                    let plan = try await c.query(SQLStatement("EXPLAIN QUERY PLAN " + statement.sql, statement.binds))
                        .map { PlanStep(id: $0.int(0) ?? 0, parent: $0.int(1) ?? 0, detail: $0.text(3) ?? "") }
                    let problems = Self.sqliteProblems(
                        plan, narrows: shape.narrows, readsMemberships: statement.sql.contains("image_members"),
                        projectBranches: shape.projectBranches)
                    if !problems.isEmpty {
                        failures.append(
                            "\(shape)\(statement.sql == shape.statement.sql ? "" : " (one run of blocks)")\n  "
                                + problems.joined(separator: "\n  ") + "\n  plan:\n" + Self.render(plan))
                    }
                }
            }
            return failures
        }
        try await store.close()
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
        #expect(failures.isEmpty, "\(failures.count) of \(shapes.count) shapes read without an index")
    }

    // MARK: PostgreSQL

    /// The sequential scans of the image table in a plan (a JSON plan node and its children).
    /// (A side table small enough to be read whole is PostgreSQL's choice to make.)
    /// The sequential scans of the image table in PostgreSQL's plan of `statement`, each with
    /// the whole plan.
    static func seqScans(explaining statement: SQLStatement, _ c: any SQLConnection) async throws -> [String] {
        let rows = try await c.query(SQLStatement("EXPLAIN (FORMAT JSON) " + statement.sql, statement.binds))
        let text = rows.first?.text(0) ?? ""
        guard case .array(let plans) = try JSONValue.parse(text), case .object(let top)? = plans.first,
            let plan = top["Plan"]
        else { return ["unreadable plan: \(text)"] }
        let scans = seqScans(plan)
        return scans.isEmpty ? [] : scans + ["plan:\n" + plan.jsonString]
    }

    static func seqScans(_ node: JSONValue) -> [String] {
        guard case .object(let o) = node else { return [] }
        var out: [String] = []
        if o["Node Type"]?.stringValue == "Seq Scan", let relation = o["Relation Name"]?.stringValue,
            relation == "images"
        {
            out.append("Seq Scan on \(relation)" + (o["Filter"]?.stringValue.map { " (filter: \($0))" } ?? ""))
        }
        if case .array(let children)? = o["Plans"] { out += children.flatMap(seqScans) }
        return out
    }

    /// A catalog shaped as `glimpse admin seed` makes it (one owner, a fifth public, a
    /// quarter queued, four disk formats, ten `group-N` tags, three `os_distro` values), with
    /// its statistics, for PostgreSQL to plan by.
    static let postgresCatalog = """
        INSERT INTO images (id, name, status, visibility, owner, size, virtual_size, disk_format,
            container_format, checksum, os_hash_algo, os_hash_value, min_disk, min_ram, created_at, updated_at)
        SELECT lpad(n::text, 36, '0'), 'seed-' || n, CASE WHEN n % 4 = 3 THEN 'queued' ELSE 'active' END,
            CASE WHEN n % 5 = 0 THEN 'public' ELSE 'shared' END, 'p-admin',
            CASE WHEN n % 4 = 3 THEN NULL ELSE 1048576 + n END, CASE WHEN n % 4 = 3 THEN NULL ELSE 1048576 + n END,
            (ARRAY['raw', 'qcow2', 'vmdk', 'iso'])[n % 4 + 1], 'bare',
            CASE WHEN n % 4 = 3 THEN NULL ELSE repeat('0', 32) END, CASE WHEN n % 4 = 3 THEN NULL ELSE 'sha512' END,
            CASE WHEN n % 4 = 3 THEN NULL ELSE repeat('0', 128) END, n % 20, (n % 8) * 256,
            1700000000000000 + n * 1000, 1700000000000000 + n * 1000
        FROM generate_series(1, 100000) n;
        INSERT INTO image_tags (image_id, tag, created_at, visibility)
            SELECT id, t, created_at, visibility FROM images, LATERAL (VALUES ('seeded'),
                ('group-' || (substr(id, 30)::bigint % 10))) tags(t);
        INSERT INTO image_properties (image_id, name, value, created_at, visibility)
            SELECT id, 'os_distro', (ARRAY['ubuntu', 'debian', 'fedora'])[substr(id, 30)::bigint % 3 + 1], created_at,
                visibility
            FROM images;
        INSERT INTO image_members (image_id, member, status, created_at, updated_at)
            SELECT id, 'p-member', 'accepted', created_at, created_at FROM images WHERE substr(id, 30)::bigint % 1000 = 1;
        ANALYZE;
        """

    @Test(
        "PostgreSQL: no list shape reads a whole image table, over a seeded catalog",
        .enabled(if: PostgresTestDatabase.url != nil, "GLIMPSE_TEST_DATABASE_URL is not set"))
    func postgresPlans() async throws {
        let shapes = try Self.shapes()
        let failures = try await PostgresTestDatabase.withSchema { settings in
            let store = try PostgresMetadataStore(settings, logger: Logger(label: "test"))
            do {
                try await store.migrate()
                let failures = try await store.db.withTransaction { c in
                    for statement in Self.postgresCatalog.split(separator: ";")
                    where !statement.allSatisfy(\.isWhitespace) {
                        try await c.run(String(statement))
                    }
                    var failures: [String] = []
                    // The counts before the pages, each read through an index up to its cap.
                    var probed = Set<String>()
                    let cap = ImageQueryBuilder.probeCap(limit: 25, catalogSize: 100_000)
                    for shape in shapes {
                        for probe in ImageQueryBuilder.probes(shape.listQuery, plannerCounts: true)
                        where probed.insert(probe.rows.sql).inserted {
                            let count = probe.statement(cap: cap)
                            let problems = try await Self.seqScans(explaining: count, c)
                            if !problems.isEmpty {
                                failures.append(
                                    "count before \(shape): \(count.sql)\n  " + problems.joined(separator: "\n  "))
                            }
                        }
                    }
                    // Each shape in the plan the store's counts choose over this catalog.
                    for shape in shapes
                    where try await SQLMetadataStore<PostgresDatabase>.plan(
                        shape.listQuery, backend: "postgresql", c) == shape.plan
                    {
                        let problems = try await Self.seqScans(explaining: shape.statement, c)
                        if !problems.isEmpty { failures.append("\(shape)\n  " + problems.joined(separator: "\n  ")) }
                    }
                    return failures
                }
                try await store.close()
                return failures
            } catch {
                try? await store.close()
                throw error
            }
        }
        // Known: a common tag or property value sorted by a key of few values (status, disk or
        // container format) is hashed against the whole table, which PostgreSQL costs below
        // walking the order and probing each image.
        // And the count before a list with an upper bound on a minimum (disk, memory): the
        // minimums' indexes hold the images with one, and the bound admits those without, so
        // the count reads the table until its cap.
        let known = failures.filter { f in
            (f.contains("tag=") || f.contains("os_distro="))
                && ["status", "disk_format", "container_format"].contains { f.contains("sort=\($0):") }
                || ["min_disk_max=", "min_ram_max="].contains { f.hasPrefix("count before") && f.contains($0) }
        }
        withKnownIssue(isIntermittent: true) {
            for failure in known { Issue.record(Comment(rawValue: failure)) }
        }
        let unexpected = failures.filter { !known.contains($0) }
        for failure in unexpected { Issue.record(Comment(rawValue: failure)) }
        #expect(unexpected.isEmpty, "\(unexpected.count) of \(shapes.count) shapes need a sequential scan")
    }
}
