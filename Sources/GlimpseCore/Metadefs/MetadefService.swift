import OpenStackEncoding
import OpenStackJSON

/// The metadata definitions catalog (`/v2/metadefs`): namespaces and their objects,
/// properties, tags and resource-type associations. Everyone may read public namespaces and
/// their own project's; only admins write (Glance's default policy).
public final class MetadefService: Sendable {
    public let store: any MetadefStore
    /// The operator's policy rules (`*_metadef_*`).
    public let policy: PolicyEnforcer

    /// The resource types a new deployment knows.
    public static let defaultResourceTypes = [
        "OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor", "OS::Nova::Aggregate", "OS::Nova::Server",
        "OS::Trove::Instance", "OS::Cinder::Volumetype", "OS::Glance::Metadef",
    ]

    public init(store: any MetadefStore, policy: PolicyEnforcer = .init()) {
        self.store = store
        self.policy = policy
    }

    /// Creates the default resource types if the store has none.
    public func seed() async throws {
        guard try await store.metadefResourceTypes().isEmpty else { return }
        let now = Timestamp.now()
        for name in Self.defaultResourceTypes {
            try await store.insertMetadefResourceType(MetadefResourceType(name: name, createdAt: now, updatedAt: now))
        }
    }

    static func notFound(_ namespace: String) -> ServiceError {
        .notFound("Metadata definition namespace=\(namespace) was not found.")
    }

    static func itemNotFound(_ kind: MetadefKind, _ name: String, _ namespace: String) -> ServiceError {
        let noun = kind == .resourceType ? "resource-type association" : kind.rawValue
        return .notFound("Metadata definition \(noun)=\(name) was not found in namespace=\(namespace).")
    }

    /// A change's policy check, on the namespace it changes (its owner is the target's
    /// `project_id`; a namespace to be created is the caller's project's). `action` names the
    /// refusal where Glance's wording differs from the rule's name.
    func requireAllowed(
        _ rule: PolicyRule, _ p: Principal, namespace: String?, action: String? = nil
    ) async throws {
        var target = PolicyTarget.project(p.projectId)
        if let namespace {
            let ns = try await store.metadefNamespace(namespace)
            target = PolicyTarget(projectId: ns?.owner, owner: ns?.owner, visibility: ns?.visibility)
        }
        guard policy.allows(rule, p, target) else { throw ServiceError.policy(action ?? rule.rawValue) }
    }

    /// The rule that guards `verb` (add, modify, delete) on items of `kind`.
    static func rule(_ verb: String, _ kind: MetadefKind) -> PolicyRule {
        switch (verb, kind) {
        case ("add", .object): .addMetadefObject
        case ("add", .property): .addMetadefProperty
        case ("add", .tag): .addMetadefTag
        case ("add", .resourceType): .addMetadefResourceTypeAssociation
        case ("modify", .object): .modifyMetadefObject
        case ("modify", .property): .modifyMetadefProperty
        case ("modify", .tag): .modifyMetadefTag
        case (_, .object): .deleteMetadefObject
        case (_, .property): .removeMetadefProperty
        case (_, .tag): .deleteMetadefTag
        case (_, .resourceType): .removeMetadefResourceTypeAssociation
        }
    }

    /// `get_metadef_namespace`: by default admins see all, others public namespaces and their own.
    func visible(_ ns: MetadefNamespace, _ p: Principal) -> Bool {
        policy.allows(
            .getMetadefNamespace, p, PolicyTarget(projectId: ns.owner, owner: ns.owner, visibility: ns.visibility))
    }

    // MARK: Namespaces

    public func namespaces(
        visibility: String?, resourceTypes: [String], by p: Principal
    ) async throws -> [MetadefNamespace] {
        try policy.enforce(.getMetadefNamespaces, p, .project(p.projectId))
        var out: [MetadefNamespace] = []
        for ns in try await store.metadefNamespaces() where visible(ns, p) {
            if let visibility, ns.visibility != visibility { continue }
            if !resourceTypes.isEmpty {
                let associated = try await store.metadefItems(ns.namespace, .resourceType).map(\.name)
                if !resourceTypes.contains(where: associated.contains) { continue }
            }
            out.append(ns)
        }
        return out
    }

    public func namespace(_ name: String, by p: Principal) async throws -> MetadefNamespace {
        try ImagePolicy.requireReader(p, "get_metadef_namespace")
        guard let ns = try await store.metadefNamespace(name), visible(ns, p) else { throw Self.notFound(name) }
        return ns
    }

    static func checkVisibility(_ v: JSONValue?) throws(ServiceError) -> String? {
        guard let v else { return nil }
        guard let s = v.stringValue, s == "public" || s == "private" else {
            throw .badRequest(
                "Provided object does not match schema 'namespace': \(PythonRepr.repr(v)) is not one of ['public', 'private']"
            )
        }
        return s
    }

    static func optionalString(_ body: JSONValue, _ key: String) throws(ServiceError) -> String? {
        guard let v = body[key], !v.isNull else { return nil }
        guard let s = v.stringValue else {
            throw .badRequest(
                "Provided object does not match schema 'namespace': \(PythonRepr.repr(v)) is not of type 'string'")
        }
        return s
    }

    public func createNamespace(_ body: JSONValue, by p: Principal) async throws -> MetadefNamespace {
        try await requireAllowed(.addMetadefNamespace, p, namespace: nil)
        guard case .object = body, let name = try Self.optionalString(body, "namespace"), !name.isEmpty else {
            throw ServiceError.badRequest(
                "Provided object does not match schema 'namespace': 'namespace' is a required property")
        }
        let now = Timestamp.now()
        let ns = MetadefNamespace(
            namespace: name, displayName: try Self.optionalString(body, "display_name"),
            description: try Self.optionalString(body, "description"),
            visibility: try Self.checkVisibility(body["visibility"]) ?? "private",
            isProtected: body["protected"]?.boolValue ?? false,
            owner: try Self.optionalString(body, "owner") ?? p.projectId,
            createdAt: now, updatedAt: now)
        do {
            try await store.insertMetadefNamespace(ns)
        } catch StoreError.duplicate {
            throw ServiceError.conflict("Metadata definition namespace=\(name) already exists.")
        }
        for association in body["resource_type_associations"]?.arrayValue ?? [] {
            _ = try await createItem(name, .resourceType, association, by: p)
        }
        for property in body["properties"]?.objectValue ?? [:] {
            var b = property.value.objectValue ?? [:]
            b["name"] = .string(property.key)
            _ = try await createItem(name, .property, .object(b), by: p)
        }
        for object in body["objects"]?.arrayValue ?? [] { _ = try await createItem(name, .object, object, by: p) }
        for tag in body["tags"]?.arrayValue ?? [] { _ = try await createItem(name, .tag, tag, by: p) }
        return ns
    }

    public func updateNamespace(_ name: String, _ body: JSONValue, by p: Principal) async throws -> MetadefNamespace {
        try await requireAllowed(.modifyMetadefNamespace, p, namespace: name)
        guard var ns = try await store.metadefNamespace(name) else { throw Self.notFound(name) }
        if let newName = try Self.optionalString(body, "namespace"), !newName.isEmpty { ns.namespace = newName }
        if body["display_name"] != nil { ns.displayName = try Self.optionalString(body, "display_name") }
        if body["description"] != nil { ns.description = try Self.optionalString(body, "description") }
        if let v = try Self.checkVisibility(body["visibility"]) { ns.visibility = v }
        if let b = body["protected"]?.boolValue { ns.isProtected = b }
        if let owner = try Self.optionalString(body, "owner") { ns.owner = owner }
        ns.updatedAt = Timestamp.now()
        do {
            try await store.updateMetadefNamespace(name, ns)
        } catch StoreError.duplicate {
            throw ServiceError.conflict("Metadata definition namespace=\(ns.namespace) already exists.")
        }
        return ns
    }

    public func deleteNamespace(_ name: String, by p: Principal) async throws {
        try await requireAllowed(.deleteMetadefNamespace, p, namespace: name)
        guard let ns = try await store.metadefNamespace(name) else { throw Self.notFound(name) }
        if ns.isProtected {
            throw ServiceError.forbidden("Namespace \(name) is protected and cannot be deleted.")
        }
        _ = try await store.deleteMetadefNamespace(name)
    }

    // MARK: Items

    public func items(_ namespace: String, _ kind: MetadefKind, by p: Principal) async throws -> [MetadefItem] {
        _ = try await self.namespace(namespace, by: p)
        return try await store.metadefItems(namespace, kind)
    }

    public func item(
        _ namespace: String, _ kind: MetadefKind, _ name: String, by p: Principal
    ) async throws -> MetadefItem {
        _ = try await self.namespace(namespace, by: p)
        guard let item = try await store.metadefItem(namespace, kind, name) else {
            throw Self.itemNotFound(kind, name, namespace)
        }
        return item
    }

    static func action(_ verb: String, _ kind: MetadefKind) -> String {
        kind == .resourceType ? "\(verb)_metadef_resource_type_association" : "\(verb)_metadef_\(kind.rawValue)"
    }

    /// Creates one item from its JSON (which must carry a `name`).
    public func createItem(
        _ namespace: String, _ kind: MetadefKind, _ body: JSONValue, by p: Principal
    ) async throws -> MetadefItem {
        try await requireAllowed(Self.rule("add", kind), p, namespace: namespace, action: Self.action("add", kind))
        guard try await store.metadefNamespace(namespace) != nil else { throw Self.notFound(namespace) }
        guard case .object(var fields) = body, case .string(let name)? = fields["name"], !name.isEmpty else {
            throw ServiceError.badRequest(
                "Provided object does not match schema '\(kind.rawValue)': 'name' is a required property")
        }
        fields["name"] = nil
        if kind == .resourceType {
            if !(try await store.metadefResourceTypes()).contains(where: { $0.name == name }) {
                let now = Timestamp.now()
                try await store.insertMetadefResourceType(
                    MetadefResourceType(name: name, createdAt: now, updatedAt: now))
            }
        }
        let now = Timestamp.now()
        let item = MetadefItem(
            namespace: namespace, kind: kind, name: name, body: fields, createdAt: now, updatedAt: now)
        do {
            try await store.insertMetadefItem(item)
        } catch StoreError.duplicate {
            let noun = kind == .resourceType ? "resource-type association" : kind.rawValue
            throw ServiceError.conflict(
                "A metadata definition \(noun) with name=\(name) already exists in namespace=\(namespace).")
        }
        return item
    }

    /// Replaces the tags of a namespace (or, with `append`, adds to them).
    public func createTags(
        _ namespace: String, _ body: JSONValue, append: Bool, by p: Principal
    ) async throws -> [MetadefItem] {
        try await requireAllowed(.addMetadefTags, p, namespace: namespace)
        guard try await store.metadefNamespace(namespace) != nil else { throw Self.notFound(namespace) }
        guard let tags = body["tags"]?.arrayValue else {
            throw ServiceError.badRequest("Provided object does not match schema 'tags': 'tags' is a required property")
        }
        let names = tags.compactMap { $0["name"]?.stringValue }
        guard names.count == tags.count, Set(names).count == names.count else {
            throw ServiceError.badRequest("Each tag needs a unique 'name'.")
        }
        if !append { try await store.deleteMetadefItems(namespace, .tag) }
        var out: [MetadefItem] = []
        for name in names { out.append(try await createItem(namespace, .tag, ["name": .string(name)], by: p)) }
        return out
    }

    public func updateItem(
        _ namespace: String, _ kind: MetadefKind, _ name: String, _ body: JSONValue, by p: Principal
    ) async throws -> MetadefItem {
        try await requireAllowed(
            Self.rule("modify", kind), p, namespace: namespace, action: Self.action("modify", kind))
        guard var item = try await store.metadefItem(namespace, kind, name) else {
            throw Self.itemNotFound(kind, name, namespace)
        }
        guard case .object(var fields) = body else {
            throw ServiceError.badRequest("Request body must be a JSON object.")
        }
        if case .string(let newName)? = fields["name"], !newName.isEmpty { item.name = newName }
        fields["name"] = nil
        item.body = kind == .tag ? [:] : fields
        item.updatedAt = Timestamp.now()
        do {
            try await store.updateMetadefItem(name, item)
        } catch StoreError.duplicate {
            throw ServiceError.conflict(
                "A metadata definition \(kind.rawValue) with name=\(item.name) already exists in namespace=\(namespace)."
            )
        }
        return item
    }

    public func deleteItem(_ namespace: String, _ kind: MetadefKind, _ name: String, by p: Principal) async throws {
        try await requireAllowed(
            Self.rule("delete", kind), p, namespace: namespace, action: Self.action("delete", kind))
        guard try await store.metadefNamespace(namespace) != nil else { throw Self.notFound(namespace) }
        guard try await store.deleteMetadefItem(namespace, kind, name) else {
            throw Self.itemNotFound(kind, name, namespace)
        }
    }

    public func deleteItems(_ namespace: String, _ kind: MetadefKind, by p: Principal) async throws {
        // Glance guards removing all of a namespace's objects or properties as a change of it.
        try await requireAllowed(
            kind == .tag ? .deleteMetadefTags : .deleteMetadefNamespace, p, namespace: namespace,
            action: Self.action("delete", kind) + "s")
        guard try await store.metadefNamespace(namespace) != nil else { throw Self.notFound(namespace) }
        try await store.deleteMetadefItems(namespace, kind)
    }

    public func resourceTypes(by p: Principal) async throws -> [MetadefResourceType] {
        try policy.enforce(.listMetadefResourceTypes, p, .project(p.projectId))
        return try await store.metadefResourceTypes()
    }
}
