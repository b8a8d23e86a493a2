/// A set of policy rules, compiled: the defaults (`PolicyRule.defaultCheck`) with a policy
/// file's overrides. Every `rule:` reference is resolved and checked for cycles when the set
/// is built, so that checking a rule per request only walks a small tree. Immutable: a
/// reload builds a new one.
public final class Policy: Sendable {
    /// The rules by index: first `PolicyRule.allCases`, then a file's own helper rules.
    let names: [String]
    let sources: [String]
    let checks: [Check]

    /// Glance's defaults.
    public static let defaults: Policy = try! Policy(overrides: [:])

    /// The defaults with `overrides` (rule name → check string) in their place. A name that is
    /// neither a known rule nor referred to by another rule is refused (a misspelt rule name
    /// would otherwise change nothing without a word).
    public init(overrides: [String: String]) throws(PolicyError) {
        assert(PolicyRule.allCases.enumerated().allSatisfy { $0.offset == $0.element.index })
        var names = PolicyRule.allCases.map(\.rawValue)
        var sources = PolicyRule.allCases.map { overrides[$0.rawValue] ?? $0.defaultCheck }
        for (name, check) in overrides.sorted(by: { $0.key < $1.key }) where PolicyRule(rawValue: name) == nil {
            names.append(name)
            sources.append(check)
        }
        let indices = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var checks: [Check] = []
        var references: [Set<Int>] = []
        for (name, source) in zip(names, sources) {
            var refs = Set<Int>()
            let expression = try PolicyExpression.parse(source, rule: name)
            checks.append(try Check(expression, rule: name, indices: indices, references: &refs))
            references.append(refs)
        }
        let referred = references.reduce(into: Set<Int>()) { $0.formUnion($1) }
        for index in PolicyRule.allCases.count..<names.count where !referred.contains(index) {
            throw PolicyError(rule: names[index], "no such rule (and no rule refers to it)")
        }
        try Self.refuseCycles(references, names: names)
        self.names = names
        self.sources = sources
        self.checks = checks
    }

    /// The effective rules, name and check string, in the order Glimpse lists them.
    public var rules: [(name: String, check: String)] { zip(names, sources).map { ($0, $1) } }

    /// Whether `rule` lets `principal` act on `target`.
    public func allows(_ rule: PolicyRule, _ principal: Principal, _ target: PolicyTarget) -> Bool {
        evaluate(checks[rule.index], principal, target)
    }

    func evaluate(_ check: Check, _ p: Principal, _ target: PolicyTarget) -> Bool {
        switch check {
        case .always: return true
        case .never: return false
        case .role(let role):
            switch role {
            case "admin": return p.isAdmin
            case "member": return p.isMember
            case "reader": return p.isReader
            default: return p.roles.contains(role)
            }
        case .credential(let credential, let operand):
            guard let value = credential.value(of: p) else { return false }
            return operand.matches(value, target)
        case .literal(let literal, let key): return target[key] == literal
        case .rule(let index): return evaluate(checks[index], p, target)
        case .not(let inner): return !evaluate(inner, p, target)
        case .and(let terms):
            for term in terms where !evaluate(term, p, target) { return false }
            return true
        case .or(let terms):
            for term in terms where evaluate(term, p, target) { return true }
            return false
        }
    }

    /// Refuses a rule that reaches itself through `rule:` references.
    static func refuseCycles(_ references: [Set<Int>], names: [String]) throws(PolicyError) {
        enum Mark { case unvisited, visiting, done }
        var marks = Array(repeating: Mark.unvisited, count: names.count)
        func visit(_ index: Int, _ path: [Int]) throws(PolicyError) {
            switch marks[index] {
            case .done: return
            case .visiting:
                let cycle = (path.drop { $0 != index } + [index]).map { names[$0] }
                throw PolicyError(rule: names[index], "refers to itself: \(cycle.joined(separator: " -> "))")
            case .unvisited:
                marks[index] = .visiting
                for next in references[index].sorted() { try visit(next, path + [index]) }
                marks[index] = .done
            }
        }
        for index in names.indices { try visit(index, []) }
    }
}

extension Policy {
    /// A check, compiled: roles lower-cased, attributes and rules resolved.
    indirect enum Check: Sendable {
        case always
        case never
        case role(String)
        case credential(Credential, Operand)
        /// `'public':%(visibility)s`: a literal equal to a target attribute.
        case literal(String, PolicyTarget.Key)
        case rule(Int)
        case not(Check)
        case and([Check])
        case or([Check])

        init(
            _ expression: PolicyExpression, rule: String, indices: [String: Int], references: inout Set<Int>
        ) throws(PolicyError) {
            func compile(_ e: PolicyExpression) throws(PolicyError) -> Check {
                try Check(e, rule: rule, indices: indices, references: &references)
            }
            switch expression {
            case .always: self = .always
            case .never: self = .never
            case .not(let inner): self = .not(try compile(inner))
            case .and(let terms):
                var compiled: [Check] = []
                for term in terms { compiled.append(try compile(term)) }
                self = .and(compiled)
            case .or(let terms):
                var compiled: [Check] = []
                for term in terms { compiled.append(try compile(term)) }
                self = .or(compiled)
            case .check(let kind, let match):
                self = try Self.check(kind, match, rule: rule, indices: indices, references: &references)
            }
        }

        static func check(
            _ kind: String, _ match: String, rule: String, indices: [String: Int], references: inout Set<Int>
        ) throws(PolicyError) -> Check {
            guard !match.isEmpty else { throw PolicyError(rule: rule, "'\(kind):' has nothing after the colon") }
            let attribute = Self.attribute(match)
            switch kind {
            case "rule":
                guard let index = indices[match] else {
                    throw PolicyError(rule: rule, "refers to rule '\(match)', which does not exist")
                }
                references.insert(index)
                return .rule(index)
            case "role":
                guard attribute == nil else { throw PolicyError(rule: rule, "role:\(match) must name a role") }
                return .role(match.lowercased())
            case "is_admin":
                // Glance's context is an admin's when `context_is_admin` passes.
                let index = PolicyRule.contextIsAdmin.index
                references.insert(index)
                switch match.lowercased() {
                case "true": return .rule(index)
                case "false": return .not(.rule(index))
                default: throw PolicyError(rule: rule, "is_admin:\(match) must be True or False")
                }
            case "http", "https":
                throw PolicyError(rule: rule, "\(kind): checks (asking a web service) are not supported")
            default:
                if let literal = Self.quoted(kind) {
                    guard let attribute else { return match == literal ? .always : .never }
                    return .literal(literal, PolicyTarget.Key(attribute))
                }
                guard let credential = Credential(rawValue: kind) else {
                    throw PolicyError(rule: rule, "'\(kind):\(match)' checks an unknown credential '\(kind)'")
                }
                if let attribute { return .credential(credential, .target(PolicyTarget.Key(attribute))) }
                if match.contains("%(") {
                    throw PolicyError(rule: rule, "'\(match)' must be a whole %(attribute)s or a literal")
                }
                return .credential(credential, .literal(match))
            }
        }

        /// `name` of `%(name)s`.
        static func attribute(_ match: String) -> String? {
            guard match.hasPrefix("%("), match.hasSuffix(")s"), match.count > 4 else { return nil }
            return String(match.dropFirst(2).dropLast(2))
        }

        /// The text of `'text'` or `"text"`.
        static func quoted(_ kind: String) -> String? {
            guard kind.count >= 2, let first = kind.first, first == "'" || first == "\"", kind.last == first else {
                return nil
            }
            return String(kind.dropFirst().dropLast())
        }
    }

    /// What the caller's side of a `kind:match` check names (oslo.policy's credentials).
    enum Credential: String, Sendable {
        case projectId = "project_id"
        case tenant
        case userId = "user_id"
        case userDomainId = "user_domain_id"
        case projectDomainId = "project_domain_id"
        case domainId = "domain_id"
        case systemScope = "system_scope"

        func value(of p: Principal) -> String? {
            switch self {
            case .projectId, .tenant: p.projectId
            case .userId: p.userId
            case .userDomainId: p.userDomainId
            case .projectDomainId: p.projectDomainId
            // Glimpse's tokens are scoped to projects only.
            case .domainId, .systemScope: nil
            }
        }
    }

    /// The other side: a literal or one of the target's attributes.
    enum Operand: Sendable {
        case literal(String)
        case target(PolicyTarget.Key)

        func matches(_ value: String, _ target: PolicyTarget) -> Bool {
            switch self {
            case .literal(let literal): value == literal
            case .target(let key): target[key] == value
            }
        }
    }
}
