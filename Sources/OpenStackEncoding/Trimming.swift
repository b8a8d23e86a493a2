extension StringProtocol {
    /// The text without the given characters at either end: `" a b\t".trimming(" \t")` is `"a b"`.
    public func trimming(_ characters: String) -> String {
        let set = Set(characters.unicodeScalars)
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !set.contains($0) }) else { return "" }
        let end = scalars.lastIndex(where: { !set.contains($0) })!
        return String(String.UnicodeScalarView(scalars[start...end]))
    }
}
