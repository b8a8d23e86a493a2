import GlimpseCore
import GlimpseIdentity
import OpenStackEncoding
import Synchronization

extension MemoryMetadataStore: IdentityStore {
    /// Byte order, as the SQL stores sort names.
    static func byName<T>(_ items: some Sequence<T>, _ name: (T) -> String) -> [T] {
        items.sorted { name($0).utf8.lexicographicallyPrecedes(name($1).utf8) }
    }

    public func domains() async throws -> [Domain] {
        state.withLock { Self.byName($0.domains.values, \.name) }
    }

    public func domain(id: String) async throws -> Domain? { state.withLock { $0.domains[id] } }

    public func domain(name: String) async throws -> Domain? {
        state.withLock { $0.domains.values.first { $0.name == name } }
    }

    public func insertDomain(_ domain: Domain) async throws {
        try state.withLock { s in
            guard s.domains[domain.id] == nil, !s.domains.values.contains(where: { $0.name == domain.name }) else {
                throw StoreError.duplicate
            }
            s.domains[domain.id] = domain
        }
    }

    public func projects(domainId: String?, name: String?) async throws -> [Project] {
        state.withLock { s in
            Self.byName(
                s.projects.values.filter {
                    (domainId == nil || $0.domainId == domainId) && (name == nil || $0.name == name)
                },
                \.name)
        }
    }

    public func project(id: String) async throws -> Project? { state.withLock { $0.projects[id] } }

    public func project(name: String, domainId: String) async throws -> Project? {
        state.withLock { $0.projects.values.first { $0.name == name && $0.domainId == domainId } }
    }

    public func insertProject(_ project: Project) async throws {
        try state.withLock { s in
            guard s.projects[project.id] == nil,
                !s.projects.values.contains(where: { $0.name == project.name && $0.domainId == project.domainId })
            else { throw StoreError.duplicate }
            s.projects[project.id] = project
        }
    }

    public func updateProject(_ project: Project) async throws {
        try state.withLock { s in
            guard s.projects[project.id] != nil else { return }
            if s.projects.values.contains(where: {
                $0.id != project.id && $0.name == project.name && $0.domainId == project.domainId
            }) {
                throw StoreError.duplicate
            }
            s.projects[project.id]?.name = project.name
            s.projects[project.id]?.description = project.description
            s.projects[project.id]?.enabled = project.enabled
        }
    }

    public func deleteProject(id: String) async throws -> Bool {
        state.withLock { s in
            s.tokens = s.tokens.filter { $0.value.projectId != id }
            s.assignments = s.assignments.filter { $0.projectId != id }
            s.projectLimits = s.projectLimits.filter { $0.value.projectId != id }
            return s.projects.removeValue(forKey: id) != nil
        }
    }

    public func users(domainId: String?, name: String?) async throws -> [User] {
        state.withLock { s in
            Self.byName(
                s.users.values.filter {
                    (domainId == nil || $0.domainId == domainId) && (name == nil || $0.name == name)
                },
                \.name)
        }
    }

    public func user(id: String) async throws -> User? { state.withLock { $0.users[id] } }

    public func user(name: String, domainId: String) async throws -> User? {
        state.withLock { $0.users.values.first { $0.name == name && $0.domainId == domainId } }
    }

    public func insertUser(_ user: User) async throws {
        try state.withLock { s in
            guard s.users[user.id] == nil,
                !s.users.values.contains(where: { $0.name == user.name && $0.domainId == user.domainId })
            else { throw StoreError.duplicate }
            s.users[user.id] = user
        }
    }

    public func updateUser(_ user: User) async throws {
        try state.withLock { s in
            guard let current = s.users[user.id] else { return }
            if s.users.values.contains(where: {
                $0.id != user.id && $0.name == user.name && $0.domainId == current.domainId
            }) {
                throw StoreError.duplicate
            }
            var updated = user
            updated.domainId = current.domainId
            s.users[user.id] = updated
        }
    }

    public func deleteUser(id: String) async throws -> Bool {
        state.withLock { s in
            s.tokens = s.tokens.filter { $0.value.userId != id }
            s.assignments = s.assignments.filter { $0.userId != id }
            s.systemRoles[id] = nil
            return s.users.removeValue(forKey: id) != nil
        }
    }

    public func roles() async throws -> [Role] { state.withLock { Self.byName($0.roles.values, \.name) } }

    public func role(id: String) async throws -> Role? { state.withLock { $0.roles[id] } }

    public func role(name: String) async throws -> Role? {
        state.withLock { $0.roles.values.first { $0.name == name } }
    }

    public func insertRole(_ role: Role) async throws {
        try state.withLock { s in
            guard s.roles[role.id] == nil, !s.roles.values.contains(where: { $0.name == role.name }) else {
                throw StoreError.duplicate
            }
            s.roles[role.id] = role
        }
    }

    public func deleteRole(id: String) async throws -> Bool {
        state.withLock { s in
            s.assignments = s.assignments.filter { $0.roleId != id }
            for user in s.systemRoles.keys { s.systemRoles[user]?.remove(id) }
            return s.roles.removeValue(forKey: id) != nil
        }
    }

    public func grant(_ assignment: RoleAssignment) async throws {
        _ = state.withLock { $0.assignments.insert(assignment) }
    }

    public func revoke(_ assignment: RoleAssignment) async throws -> Bool {
        state.withLock { $0.assignments.remove(assignment) != nil }
    }

    public func assignments(userId: String?, projectId: String?, roleId: String?) async throws -> [RoleAssignment] {
        state.withLock { s in
            s.assignments.filter {
                (userId == nil || $0.userId == userId) && (projectId == nil || $0.projectId == projectId)
                    && (roleId == nil || $0.roleId == roleId)
            }.sorted { ($0.userId, $0.projectId, $0.roleId) < ($1.userId, $1.projectId, $1.roleId) }
        }
    }

    public func systemAssignments(userId: String?, roleId: String?) async throws -> [SystemRoleAssignment] {
        state.withLock { s in
            s.systemRoles.filter { userId == nil || $0.key == userId }.flatMap { user, roles in
                roles.filter { roleId == nil || $0 == roleId }.map { SystemRoleAssignment(userId: user, roleId: $0) }
            }.sorted { ($0.userId, $0.roleId) < ($1.userId, $1.roleId) }
        }
    }

    public func grantSystemRole(userId: String, roleId: String) async throws {
        state.withLock { _ = $0.systemRoles[userId, default: []].insert(roleId) }
    }

    public func revokeSystemRole(userId: String, roleId: String) async throws -> Bool {
        state.withLock { $0.systemRoles[userId]?.remove(roleId) != nil }
    }

    public func insertToken(_ token: TokenRecord) async throws {
        try state.withLock { s in
            guard s.tokens[token.hash] == nil else { throw StoreError.duplicate }
            s.tokens[token.hash] = token
        }
    }

    public func token(hash: String) async throws -> TokenRecord? { state.withLock { $0.tokens[hash] } }

    public func deleteToken(hash: String) async throws {
        _ = state.withLock { $0.tokens.removeValue(forKey: hash) }
    }

    public func deleteTokens(userId: String?, projectId: String?) async throws {
        guard userId != nil || projectId != nil else { return }
        state.withLock { s in
            s.tokens = s.tokens.filter {
                !((userId == nil || $0.value.userId == userId) && (projectId == nil || $0.value.projectId == projectId))
            }
        }
    }

    public func deleteTokens(expiredBefore: Timestamp) async throws -> Int {
        state.withLock { s in
            let before = s.tokens.count
            s.tokens = s.tokens.filter { $0.value.expiresAt >= expiredBefore }
            return before - s.tokens.count
        }
    }
}

extension MemoryMetadataStore: MetadefStore {
    public func metadefNamespaces() async throws -> [MetadefNamespace] {
        state.withLock { Self.byName($0.namespaces.values, \.namespace) }
    }

    public func metadefNamespace(_ name: String) async throws -> MetadefNamespace? {
        state.withLock { $0.namespaces[name] }
    }

    public func insertMetadefNamespace(_ ns: MetadefNamespace) async throws {
        try state.withLock { s in
            guard s.namespaces[ns.namespace] == nil else { throw StoreError.duplicate }
            s.namespaces[ns.namespace] = ns
        }
    }

    public func updateMetadefNamespace(_ name: String, _ ns: MetadefNamespace) async throws {
        try state.withLock { s in
            guard s.namespaces[name] != nil else { return }
            if ns.namespace != name {
                guard s.namespaces[ns.namespace] == nil else { throw StoreError.duplicate }
                s.namespaces[name] = nil
                for (key, var item) in s.items where key.namespace == name {
                    s.items[key] = nil
                    item.namespace = ns.namespace
                    s.items[MetadefItemKey(namespace: ns.namespace, kind: key.kind, name: key.name)] = item
                }
            }
            s.namespaces[ns.namespace] = ns
        }
    }

    public func deleteMetadefNamespace(_ name: String) async throws -> Bool {
        state.withLock { s in
            s.items = s.items.filter { $0.key.namespace != name }
            return s.namespaces.removeValue(forKey: name) != nil
        }
    }

    public func metadefResourceTypes() async throws -> [MetadefResourceType] {
        state.withLock { Self.byName($0.resourceTypes.values, \.name) }
    }

    public func insertMetadefResourceType(_ type: MetadefResourceType) async throws {
        state.withLock { s in
            if s.resourceTypes[type.name] == nil { s.resourceTypes[type.name] = type }
        }
    }

    public func metadefItems(_ namespace: String, _ kind: MetadefKind) async throws -> [MetadefItem] {
        state.withLock { s in
            s.items.values.filter { $0.namespace == namespace && $0.kind == kind }.sorted { a, b in
                if a.createdAt != b.createdAt { return a.createdAt < b.createdAt }
                return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
            }
        }
    }

    public func metadefItem(_ namespace: String, _ kind: MetadefKind, _ name: String) async throws -> MetadefItem? {
        state.withLock { $0.items[MetadefItemKey(namespace: namespace, kind: kind, name: name)] }
    }

    public func insertMetadefItem(_ item: MetadefItem) async throws {
        try state.withLock { s in
            let key = MetadefItemKey(namespace: item.namespace, kind: item.kind, name: item.name)
            guard s.namespaces[item.namespace] != nil, s.items[key] == nil else { throw StoreError.duplicate }
            s.items[key] = item
        }
    }

    public func updateMetadefItem(_ name: String, _ item: MetadefItem) async throws {
        try state.withLock { s in
            let old = MetadefItemKey(namespace: item.namespace, kind: item.kind, name: name)
            guard let current = s.items[old] else { return }
            let new = MetadefItemKey(namespace: item.namespace, kind: item.kind, name: item.name)
            if new != old, s.items[new] != nil { throw StoreError.duplicate }
            var updated = current
            updated.name = item.name
            updated.body = item.body
            updated.updatedAt = item.updatedAt
            s.items[old] = nil
            s.items[new] = updated
        }
    }

    public func deleteMetadefItem(_ namespace: String, _ kind: MetadefKind, _ name: String) async throws -> Bool {
        state.withLock {
            $0.items.removeValue(forKey: MetadefItemKey(namespace: namespace, kind: kind, name: name)) != nil
        }
    }

    public func deleteMetadefItems(_ namespace: String, _ kind: MetadefKind) async throws {
        state.withLock { s in s.items = s.items.filter { !($0.key.namespace == namespace && $0.key.kind == kind) } }
    }
}
