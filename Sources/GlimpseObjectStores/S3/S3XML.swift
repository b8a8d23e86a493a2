/// Reads the few XML documents S3 answers (listings, upload ids, errors): flat elements
/// found by name, text with the five predefined entities and numeric references decoded.
/// Enough for S3's responses, which have no attributes that matter, CDATA or comments.
enum S3XML {
    /// The contents of every `<name>…</name>` element, in order.
    static func elements(_ name: String, in xml: Substring) -> [Substring] {
        let open = "<\(name)>", close = "</\(name)>"
        var found: [Substring] = []
        var rest = xml
        while let start = rest.firstRange(of: open) {
            let body = rest[start.upperBound...]
            guard let end = body.firstRange(of: close) else { break }
            found.append(body[..<end.lowerBound])
            rest = body[end.upperBound...]
        }
        return found
    }

    /// The decoded text of the first `<name>…</name>` element.
    static func text(_ name: String, in xml: Substring) -> String? {
        elements(name, in: xml).first.map(decode)
    }

    /// Decodes `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;` and `&#…;` references.
    static func decode(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let tail = rest[amp...]
            guard let semi = tail.firstIndex(of: ";"), tail.distance(from: amp, to: semi) <= 10 else {
                out += "&"
                rest = rest[rest.index(after: amp)...]
                continue
            }
            let entity = tail[tail.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let code: UInt32? =
                    entity.hasPrefix("#x")
                    ? UInt32(entity.dropFirst(2), radix: 16)
                    : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let code, let scalar = Unicode.Scalar(code) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += "&\(entity);"
                }
            }
            rest = tail[tail.index(after: semi)...]
        }
        return out + rest
    }
}
