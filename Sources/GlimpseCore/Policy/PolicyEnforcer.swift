import Synchronization

/// The policy a running service enforces; an operator's reload (SIGHUP) replaces it whole.
public final class PolicyEnforcer: Sendable {
    private let current: Mutex<Policy>

    public init(_ policy: Policy = .defaults) {
        current = Mutex(policy)
    }

    /// The rules in force.
    public var policy: Policy { current.withLock { $0 } }

    /// Puts `policy` in force for the checks that follow.
    public func replace(with policy: Policy) {
        current.withLock { $0 = policy }
    }

    /// Whether `rule` lets `principal` act on `target`.
    public func allows(_ rule: PolicyRule, _ principal: Principal, _ target: PolicyTarget) -> Bool {
        policy.allows(rule, principal, target)
    }

    /// Refuses with Glance's 403 ("You are not authorized to complete … action.") unless
    /// `rule` lets `principal` act on `target`.
    /// The caller with `isAdmin` as the rule `context_is_admin` decides it.
    public func applyingAdmin(to principal: Principal) -> Principal {
        var p = principal
        p.isAdmin = allows(.contextIsAdmin, principal, .project(principal.projectId))
        return p
    }

    public func enforce(_ rule: PolicyRule, _ principal: Principal, _ target: PolicyTarget) throws(ServiceError) {
        guard allows(rule, principal, target) else { throw .policy(rule.rawValue) }
    }
}
