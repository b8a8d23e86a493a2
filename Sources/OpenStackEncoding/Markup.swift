/// Text inside HTML or XML markup.
public enum Markup {
    /// Escapes `&`, `<`, `>`, `"` and `'`, as Python's `html.escape` does (the apostrophe as
    /// `&#x27;`): safe in element content and in attribute values of HTML and XML alike.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#x27;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
