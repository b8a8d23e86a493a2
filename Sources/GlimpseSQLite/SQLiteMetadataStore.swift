import GlimpseSQL

/// The embedded metadata store: images, members, upload leases, metadata definitions and the
/// built-in identity in one SQLite file.
public typealias SQLiteMetadataStore = SQLMetadataStore<SQLiteDatabase>

extension SQLMetadataStore where Database == SQLiteDatabase {
    /// Opens (creating if needed) the database file at `path`; `migrate()` brings its schema
    /// up to date.
    public convenience init(path: String) throws {
        self.init(try SQLiteDatabase(path: path), migrations: Schema.migrations)
    }
}
