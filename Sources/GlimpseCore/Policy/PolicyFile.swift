import OpenStackEncoding
import OpenStackJSON

/// A policy file in oslo.policy's format: a JSON object, or YAML `name: "check"` lines, of
/// rule names and check strings.
public enum PolicyFile {
    /// The overrides `text` holds; `path` names the file in errors.
    public static func parse(_ text: String, path: String) throws(PolicyError) -> [String: String] {
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.first == "{" { return try parseJSON(text, path: path) }
        return try parseYAML(text, path: path)
    }

    static func parseJSON(_ text: String, path: String) throws(PolicyError) -> [String: String] {
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw PolicyError(rule: path, "not valid JSON: \(error)")
        }
        guard case .object(let object) = value else { throw PolicyError(rule: path, "must hold a JSON object") }
        var rules: [String: String] = [:]
        for member in object {
            guard case .string(let check) = member.value else {
                throw PolicyError(rule: member.key, "the check must be a string (in \(path))")
            }
            rules[member.key] = check
        }
        return rules
    }

    /// YAML as policy files use it: `name: check` per line, the check plain or quoted,
    /// comments and blank lines.
    static func parseYAML(_ text: String, path: String) throws(PolicyError) -> [String: String] {
        var rules: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Substring(raw.trimming(" \t\r"))
            if line.isEmpty || line.hasPrefix("#") || line == "---" { continue }
            let place = "\(path) line \(number + 1)"
            guard let colon = Self.separator(in: line) else {
                throw PolicyError(rule: place, "expected `\"rule_name\": \"check string\"`")
            }
            let name = try unquote(Substring(line[..<colon].trimming(" \t")), place)
            var value = Substring(line[line.index(after: colon)...].trimming(" \t"))
            if value.first != "\"", value.first != "'", let comment = value.firstRange(of: " #") {
                value = Substring(value[..<comment.lowerBound].trimming(" \t"))
            }
            rules[name] = try unquote(value, place)
        }
        return rules
    }

    /// The colon after the (possibly quoted) key.
    static func separator(in line: Substring) -> Substring.Index? {
        if let quote = line.first, quote == "\"" || quote == "'" {
            guard let close = line.dropFirst().firstIndex(of: quote) else { return nil }
            let rest = line[line.index(after: close)...]
            return rest.firstIndex(of: ":").flatMap { rest[..<$0].allSatisfy(\.isWhitespace) ? $0 : nil }
        }
        return line.firstIndex(of: ":")
    }

    /// The text of a plain or quoted YAML scalar; a comment may follow a quoted one.
    static func unquote(_ text: Substring, _ place: String) throws(PolicyError) -> String {
        guard let quote = text.first, quote == "\"" || quote == "'" else { return String(text) }
        var out = ""
        var rest = text.dropFirst()
        while let c = rest.popFirst() {
            if c == quote {
                // In single quotes a quote is written twice.
                if quote == "'", rest.first == "'" {
                    out.append(rest.removeFirst())
                    continue
                }
                let after = rest.trimming(" \t")
                guard after.isEmpty || after.hasPrefix("#") else {
                    throw PolicyError(rule: place, "unexpected '\(after)' after the closing quote")
                }
                return out
            }
            if quote == "\"", c == "\\", let escaped = rest.popFirst() {
                out.append(escaped)
            } else {
                out.append(c)
            }
        }
        throw PolicyError(rule: place, "a quote is not closed")
    }
}
