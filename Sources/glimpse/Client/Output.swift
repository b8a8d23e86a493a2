import Foundation
import OpenStack

/// Renders listings and records as `openstack` does: tables, JSON, YAML or bare values.
enum Output {
    /// A listing: rows of cells under headers (`ID`, `Name`, …).
    static func list(_ headers: [String], _ rows: [[JSONValue]], _ options: OutputOptions) throws -> String {
        let (h, r) = try select(headers, rows, options.columns)
        switch options.format {
        case .json:
            let objects: [JSONValue] = r.map { row in
                .object(JSONObject(zip(h, row).map { JSONObject.Member(key: $0, value: $1) }))
            }
            return json(.array(objects), indent: !options.noindent)
        case .yaml:
            // As PyYAML writes them: the keys of each row sorted.
            if r.isEmpty { return "[]" }
            return r.map { row in
                zip(h, row).sorted { $0.0 < $1.0 }.enumerated().map { i, pair in
                    (i == 0 ? "- " : "  ") + yamlEntry(pair.0, pair.1, indent: 2)
                }.joined(separator: "\n")
            }.joined(separator: "\n")
        case .value:
            return r.map { $0.map(python).joined(separator: " ") }.joined(separator: "\n")
        case .table:
            // Like `openstack`, an empty listing prints nothing; a column whose first value is
            // a number is aligned right.
            guard let first = r.first else { return "" }
            return table(h, r.map { $0.map(plain) }, alignRight: first.map(\.isNumber))
        }
    }

    /// One record: fields and values, sorted by field name as `openstack … show` prints them.
    static func record(_ fields: JSONObject, _ options: OutputOptions) throws -> String {
        let sorted = fields.members.sorted { $0.key < $1.key }
        let (h, r) = try select(sorted.map(\.key), [sorted.map(\.value)], options.columns)
        let row = r.first ?? []
        switch options.format {
        case .json:
            return json(
                .object(JSONObject(zip(h, row).map { JSONObject.Member(key: $0, value: $1) })),
                indent: !options.noindent)
        case .yaml:
            return zip(h, row).map { yamlEntry($0, $1, indent: 0) }.joined(separator: "\n")
        case .value:
            return row.map(python).joined(separator: "\n")
        case .table:
            return table(["Field", "Value"], zip(h, row).map { [$0, plain($1)] })
        }
    }

    static func select(
        _ headers: [String], _ rows: [[JSONValue]], _ wanted: [String]
    ) throws -> ([String], [[JSONValue]]) {
        guard !wanted.isEmpty else { return (headers, rows) }
        // The columns asked for, in the listing's own order (as cliff keeps them).
        let idx = try wanted.map { w -> Int in
            guard let i = headers.firstIndex(of: w) ?? headers.firstIndex(where: { $0.lowercased() == w.lowercased() })
            else {
                throw CLIError("no column '\(w)'; columns are: \(headers.joined(separator: ", "))")
            }
            return i
        }
        let columns = Array(Set(idx)).sorted()
        return (columns.map { headers[$0] }, rows.map { row in columns.map { row[$0] } })
    }

    /// A table cell as `openstack` shows it: strings bare, lists sorted and comma-joined,
    /// objects as `k='v', …` by key, a missing value as `None`.
    static func plain(_ v: JSONValue) -> String {
        switch v {
        case .null: "None"
        case .string(let s): s
        case .bool(let b): b ? "True" : "False"
        case .number(let n): n.text
        case .array(let a): a.map(plain).sorted().joined(separator: ", ")
        case .object(let o): keyValues(o, prefix: nil)
        }
    }

    /// A dictionary as osc-lib's `format_dict` writes it: `k='v'` sorted by key, nested
    /// dictionaries flattened to `outer.inner='v'`, other values as Python's `str`, `k=` for None.
    static func keyValues(_ o: JSONObject, prefix: String?) -> String {
        o.members.sorted { $0.key < $1.key }.map { member in
            let key = prefix.map { "\($0).\(member.key)" } ?? member.key
            switch member.value {
            case .object(let inner): return keyValues(inner, prefix: key)
            case .null: return key + "="
            default: return "\(key)='\(python(member.value))'"
            }
        }.joined(separator: ", ")
    }

    /// A value as `-f value` prints it: what Python's `str` makes of the decoded JSON
    /// (`None`, `True`, `['a', 'b']`, `{'k': 'v'}`), strings bare.
    static func python(_ v: JSONValue) -> String {
        if case .string(let s) = v { return s }
        func repr(_ v: JSONValue) -> String {
            switch v {
            case .null: return "None"
            case .bool(let b): return b ? "True" : "False"
            case .number(let n): return n.text
            case .string(let s):
                // Python quotes with ' unless the text holds a ' and no ".
                let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
                var out = String(quote)
                for c in s {
                    switch c {
                    case "\\": out += "\\\\"
                    case quote: out += "\\" + String(c)
                    case "\n": out += "\\n"
                    case "\t": out += "\\t"
                    case "\r": out += "\\r"
                    default: out.append(c)
                    }
                }
                return out + String(quote)
            case .array(let a): return "[" + a.map(repr).joined(separator: ", ") + "]"
            case .object(let o):
                return "{" + o.members.map { repr(.string($0.key)) + ": " + repr($0.value) }.joined(separator: ", ")
                    + "}"
            }
        }
        return repr(v)
    }

    static func json(_ v: JSONValue, indent: Bool) -> String {
        guard indent else { return v.jsonString }
        var out = ""
        func write(_ v: JSONValue, _ level: Int) {
            let pad = String(repeating: "  ", count: level + 1)
            let close = String(repeating: "  ", count: level)
            switch v {
            case .array(let a) where !a.isEmpty:
                out += "[\n"
                for (i, e) in a.enumerated() {
                    out += pad
                    write(e, level + 1)
                    out += i < a.count - 1 ? ",\n" : "\n"
                }
                out += close + "]"
            case .object(let o) where !o.isEmpty:
                out += "{\n"
                for (i, m) in o.members.enumerated() {
                    out += pad + JSONValue.string(m.key).jsonString + ": "
                    write(m.value, level + 1)
                    out += i < o.count - 1 ? ",\n" : "\n"
                }
                out += close + "}"
            default:
                out += v.jsonString
            }
        }
        write(v, 0)
        return out
    }

    static func yamlEntry(_ key: String, _ value: JSONValue, indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .array(let a) where !a.isEmpty:
            return yamlScalar(key) + ":\n"
                + a.map { pad + "- " + yamlItem($0, indent: indent + 2) }.joined(separator: "\n")
        case .object(let o) where !o.isEmpty:
            return yamlScalar(key) + ":\n"
                + o.members.sorted { $0.key < $1.key }
                .map { pad + "  " + yamlEntry($0.key, $0.value, indent: indent + 2) }.joined(separator: "\n")
        default:
            return yamlScalar(key) + ": " + yamlInline(value, indent: indent)
        }
    }

    /// A sequence item in PyYAML's block style: a mapping's entries one per line, the first
    /// after the dash.
    static func yamlItem(_ v: JSONValue, indent: Int) -> String {
        guard case .object(let o) = v, !o.isEmpty else { return yamlInline(v, indent: indent) }
        return o.members.sorted { $0.key < $1.key }.map { yamlEntry($0.key, $0.value, indent: indent) }
            .joined(separator: "\n" + String(repeating: " ", count: indent))
    }

    static func yamlInline(_ v: JSONValue, indent: Int) -> String {
        switch v {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .number(let n): n.text
        case .string(let s): yamlScalar(s)
        case .array(let a):
            a.isEmpty ? "[]" : "[" + a.map { yamlInline($0, indent: indent) }.joined(separator: ", ") + "]"
        case .object(let o):
            o.isEmpty
                ? "{}"
                : "{"
                    + o.members.map { yamlScalar($0.key) + ": " + yamlInline($0.value, indent: indent) }.joined(
                        separator: ", ") + "}"
        }
    }

    /// A string as YAML: plain when it cannot be mistaken for anything else, quoted otherwise.
    static func yamlScalar(_ s: String) -> String {
        let specials: Set<String> = ["", "~", "null", "true", "false", "yes", "no", "on", "off"]
        let looksNumeric = Double(s) != nil || s.hasPrefix("0x") || s.hasPrefix("0o")
        // YAML 1.1's timestamp, as PyYAML resolves it (an id starting with digits is not one).
        let looksTime =
            s.wholeMatch(
                of:
                    /[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?/
            ) != nil
        let bad =
            s.contains(": ") || s.contains(" #") || s.hasSuffix(":")
            || s.first.map { "-?:,[]{}#&*!|>'\"%@`".contains($0) || $0 == " " } ?? true
            || s.last == " " || s.contains("\n") || s.contains("\t")
        if !specials.contains(s.lowercased()), !looksNumeric, !looksTime, !bad { return s }
        if s.contains("\n") || s.contains("\t") { return JSONValue.string(s).jsonString }
        return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// A box-drawn table like cliff's; `alignRight` says which columns (headers too) are
    /// aligned right.
    static func table(_ headers: [String], _ rows: [[String]], alignRight: [Bool] = []) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() {
                widths[i] = max(
                    widths[i], cell.split(separator: "\n", omittingEmptySubsequences: false).map(\.count).max() ?? 0)
            }
        }
        let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+"
        func line(_ cells: [String]) -> String {
            let split = cells.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
            let height = split.map(\.count).max() ?? 1
            return (0..<height).map { h in
                "| "
                    + split.enumerated().map { i, lines in
                        let t = h < lines.count ? lines[h] : ""
                        let pad = String(repeating: " ", count: widths[i] - t.count)
                        return i < alignRight.count && alignRight[i] ? pad + t : t + pad
                    }.joined(separator: " | ") + " |"
            }.joined(separator: "\n")
        }
        return ([rule, line(headers), rule] + rows.map(line) + [rule]).joined(separator: "\n")
    }
}

/// A CLI usage error with a one-line message.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension JSONValue {
    fileprivate var isNumber: Bool {
        if case .number = self { return true }
        return false
    }
}
