import GlimpseSQL
import Logging

/// The metadata store of a deployment at scale: images, members, upload leases, metadata
/// definitions and the built-in identity in PostgreSQL, shared by every API node.
public typealias PostgresMetadataStore = SQLMetadataStore<PostgresDatabase>

extension SQLMetadataStore where Database == PostgresDatabase {
    /// Opens a pool of connections to the database `settings` names; `migrate()` brings its
    /// schema up to date.
    public convenience init(_ settings: PostgresSettings, logger: Logger) throws {
        self.init(try PostgresDatabase(settings, logger: logger), migrations: PostgresSchema.migrations)
    }
}
