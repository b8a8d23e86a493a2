/// A check string of oslo.policy's syntax, parsed: `@`, `!`, `kind:match` checks, `not`,
/// `and`, `or` (binding in that order) and parentheses. The empty string always passes.
public indirect enum PolicyExpression: Sendable, Equatable {
    case always
    case never
    /// `kind:match`, as written (`role:admin`, `rule:x`, `project_id:%(owner)s`, `'public':%(visibility)s`).
    case check(kind: String, match: String)
    case not(PolicyExpression)
    case and([PolicyExpression])
    case or([PolicyExpression])

    /// Parses `text`; errors name `rule`.
    public static func parse(_ text: String, rule: String) throws(PolicyError) -> PolicyExpression {
        var parser = Parser(tokens: tokenize(text), rule: rule)
        if parser.tokens.isEmpty { return .always }
        let expression = try parser.parseOr()
        if let extra = parser.peek { throw PolicyError(rule: rule, "unexpected '\(extra)'") }
        return expression
    }

    /// Splits on white space; parentheses are tokens of their own at a word's ends (as
    /// oslo.policy reads them, so `(role:a` and `role:b)` work).
    static func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        for word in text.split(whereSeparator: \.isWhitespace) {
            var body = Substring(word)
            var closing = 0
            while body.first == "(" {
                tokens.append("(")
                body = body.dropFirst()
            }
            while body.last == ")" {
                closing += 1
                body = body.dropLast()
            }
            if !body.isEmpty { tokens.append(String(body)) }
            tokens.append(contentsOf: repeatElement(")", count: closing))
        }
        return tokens
    }

    private struct Parser {
        let tokens: [String]
        let rule: String
        var position = 0

        var peek: String? { position < tokens.count ? tokens[position] : nil }

        mutating func next() -> String? {
            defer { position += 1 }
            return peek
        }

        mutating func parseOr() throws(PolicyError) -> PolicyExpression {
            var terms = [try parseAnd()]
            while peek?.lowercased() == "or" {
                position += 1
                terms.append(try parseAnd())
            }
            return terms.count == 1 ? terms[0] : .or(terms)
        }

        mutating func parseAnd() throws(PolicyError) -> PolicyExpression {
            var terms = [try parseNot()]
            while peek?.lowercased() == "and" {
                position += 1
                terms.append(try parseNot())
            }
            return terms.count == 1 ? terms[0] : .and(terms)
        }

        mutating func parseNot() throws(PolicyError) -> PolicyExpression {
            if peek?.lowercased() == "not" {
                position += 1
                return .not(try parseNot())
            }
            return try parseAtom()
        }

        mutating func parseAtom() throws(PolicyError) -> PolicyExpression {
            guard let token = next() else { throw PolicyError(rule: rule, "the check string ends too early") }
            switch token {
            case "(":
                let inner = try parseOr()
                guard next() == ")" else { throw PolicyError(rule: rule, "a '(' is not closed") }
                return inner
            case ")": throw PolicyError(rule: rule, "unexpected ')'")
            case "@": return .always
            case "!": return .never
            default:
                if ["and", "or", "not"].contains(token.lowercased()) {
                    throw PolicyError(rule: rule, "unexpected '\(token)'")
                }
                guard let colon = token.firstIndex(of: ":"), colon != token.startIndex else {
                    throw PolicyError(rule: rule, "'\(token)' is not a check (kind:match, @ or !)")
                }
                return .check(kind: String(token[..<colon]), match: String(token[token.index(after: colon)...]))
            }
        }
    }
}

/// A policy that cannot be used: a check string that does not parse, a rule that refers to
/// an unknown rule or to itself, an unknown rule name in a policy file.
public struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let rule: String
    public let problem: String

    public init(rule: String, _ problem: String) {
        self.rule = rule
        self.problem = problem
    }

    public var description: String { "policy rule '\(rule)': \(problem)" }
}
