/// The SQLite schema, as an ordered list of migrations (`PRAGMA user_version` counts those
/// applied). Steps are only ever added: a database made by an older Glimpse is brought up to
/// date in place.
enum Schema {
    static let migrations: [String] = [
        """
        CREATE TABLE images (
            id TEXT PRIMARY KEY,
            name TEXT,
            status TEXT NOT NULL,
            visibility TEXT NOT NULL,
            owner TEXT,
            size INTEGER,
            virtual_size INTEGER,
            disk_format TEXT,
            container_format TEXT,
            checksum TEXT,
            os_hash_algo TEXT,
            os_hash_value TEXT,
            min_disk INTEGER NOT NULL DEFAULT 0,
            min_ram INTEGER NOT NULL DEFAULT 0,
            protected INTEGER NOT NULL DEFAULT 0,
            os_hidden INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            deleted_at INTEGER,
            properties TEXT NOT NULL DEFAULT '{}',
            tags TEXT NOT NULL DEFAULT '[]',
            location TEXT,
            store_id TEXT,
            revision INTEGER NOT NULL DEFAULT 0
        );
        -- Listing: the default order, per owner, per visibility; and lookups by name.
        CREATE INDEX images_created ON images (created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_owner_created ON images (owner, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_visibility_created ON images (visibility, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_name ON images (COALESCE(name, ''), created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_deleted ON images (deleted_at) WHERE deleted_at IS NOT NULL;

        CREATE TABLE image_tags (
            image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (image_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX image_tags_tag ON image_tags (tag, image_id);

        CREATE TABLE image_properties (
            image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (image_id, name)
        ) WITHOUT ROWID;
        CREATE INDEX image_properties_name_value ON image_properties (name, value, image_id);

        CREATE TABLE image_members (
            image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            member TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (image_id, member)
        ) WITHOUT ROWID;
        CREATE INDEX image_members_member ON image_members (member, status, image_id);

        CREATE TABLE domains (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            enabled INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE projects (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            domain_id TEXT NOT NULL REFERENCES domains (id),
            description TEXT NOT NULL DEFAULT '',
            enabled INTEGER NOT NULL DEFAULT 1,
            UNIQUE (domain_id, name)
        );
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            domain_id TEXT NOT NULL REFERENCES domains (id),
            password_hash TEXT,
            enabled INTEGER NOT NULL DEFAULT 1,
            default_project_id TEXT,
            email TEXT,
            description TEXT,
            UNIQUE (domain_id, name)
        );
        CREATE TABLE roles (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT
        );
        CREATE TABLE role_assignments (
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, project_id, role_id)
        ) WITHOUT ROWID;
        CREATE INDEX role_assignments_project ON role_assignments (project_id);
        CREATE TABLE tokens (
            hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            project_id TEXT,
            role_ids TEXT NOT NULL,
            methods TEXT NOT NULL,
            issued_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            audit_ids TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX tokens_user ON tokens (user_id);
        CREATE INDEX tokens_project ON tokens (project_id);
        CREATE INDEX tokens_expires ON tokens (expires_at);
        """,
        """
        CREATE TABLE metadef_namespaces (
            namespace TEXT PRIMARY KEY,
            display_name TEXT,
            description TEXT,
            visibility TEXT NOT NULL,
            protected INTEGER NOT NULL DEFAULT 0,
            owner TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE metadef_resource_types (
            name TEXT PRIMARY KEY,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE metadef_items (
            namespace TEXT NOT NULL REFERENCES metadef_namespaces (namespace) ON DELETE CASCADE ON UPDATE CASCADE,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (namespace, kind, name)
        ) WITHOUT ROWID;
        """,
        """
        -- The compute API's changes-since lists live and deleted images by update time.
        CREATE INDEX images_updated ON images (updated_at);
        """,
        """
        -- Uploads in progress: which process runs each, where its data is being written, and
        -- until when it counts as alive.
        CREATE TABLE upload_leases (
            image_id TEXT PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
            owner TEXT NOT NULL,
            store_id TEXT NOT NULL,
            pending_location TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            received INTEGER NOT NULL DEFAULT 0,
            expected INTEGER
        ) WITHOUT ROWID;
        CREATE INDEX upload_leases_expires ON upload_leases (expires_at);
        -- The orphan sweep asks which stored objects images still refer to.
        CREATE INDEX images_location ON images (location) WHERE location IS NOT NULL;
        """,
        """
        -- The copies of an image's data, one row each, in the order they were made. Images
        -- held one copy in images.location/store_id before; records without a store id were
        -- written when the only store was the default `local` one.
        CREATE TABLE image_locations (
            image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            location TEXT NOT NULL,
            PRIMARY KEY (image_id, position)
        ) WITHOUT ROWID;
        -- The orphan sweep asks which stored objects of a store images still refer to.
        CREATE INDEX image_locations_store_location ON image_locations (store_id, location);
        INSERT INTO image_locations (image_id, position, store_id, location)
            SELECT id, 0, COALESCE(store_id, 'local'), location FROM images WHERE location IS NOT NULL;
        DROP INDEX images_location;
        ALTER TABLE images DROP COLUMN location;
        ALTER TABLE images DROP COLUMN store_id;
        """,
        """
        -- Tasks (Glance's tasks and task_info): each import as an `api_image_import` task,
        -- kept until expires_at (set when it ends), listed newest first per project.
        CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            owner TEXT NOT NULL,
            image_id TEXT,
            request_id TEXT,
            user_id TEXT,
            input TEXT,
            result TEXT,
            message TEXT NOT NULL DEFAULT '',
            expires_at INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX tasks_created ON tasks (created_at, id);
        CREATE INDEX tasks_owner_created ON tasks (owner, created_at, id);
        CREATE INDEX tasks_image ON tasks (image_id) WHERE image_id IS NOT NULL;
        CREATE INDEX tasks_expires ON tasks (expires_at) WHERE expires_at IS NOT NULL;
        """,
        """
        -- Every list shape seeks an index or walks one in order (Tests/GlimpseStoreTests/
        -- ListPlanTests): an index per sort key and per selective filter, ending in the
        -- tie-breakers (created_at, id). A sorted page walks its index and stops after LIMIT
        -- rows; a filtered page seeks its key, in the default order, or sorts only its
        -- matches. SQLite plans these without statistics (see SQLiteDatabase: no ANALYZE),
        -- which makes it prefer a seek on a filter to a walk that filters along.
        CREATE INDEX images_status_created ON images (status, created_at, id) WHERE deleted_at IS NULL;
        -- Images in a status, latest change first (what is stuck in queued or importing).
        CREATE INDEX images_status_updated ON images (status, updated_at, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_updated_created ON images (updated_at, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_size_created ON images (COALESCE(size, 0), created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_virtual_size_created ON images (COALESCE(virtual_size, 0), created_at, id)
            WHERE deleted_at IS NULL;
        CREATE INDEX images_disk_format_created ON images (COALESCE(disk_format, ''), created_at, id)
            WHERE deleted_at IS NULL;
        CREATE INDEX images_container_format_created ON images (COALESCE(container_format, ''), created_at, id)
            WHERE deleted_at IS NULL;
        -- (Copies of one image share a checksum: its matches come in the default order too.)
        CREATE INDEX images_checksum_created ON images (COALESCE(checksum, ''), created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_os_hash_value_created ON images (COALESCE(os_hash_value, ''), created_at, id)
            WHERE deleted_at IS NULL;
        CREATE INDEX images_min_disk_created ON images (min_disk, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_min_ram_created ON images (min_ram, created_at, id) WHERE deleted_at IS NULL;
        -- Flags are asked for as `= TRUE` (few images are hidden or protected), which these
        -- serve, or as `NOT flag`, which walks the sort order.
        CREATE INDEX images_hidden_created ON images (os_hidden, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_protected_created ON images (protected, created_at, id) WHERE deleted_at IS NULL;
        -- A project's images of one visibility (a member's visibility=private or shared).
        CREATE INDEX images_owner_visibility_created ON images (owner, visibility, created_at, id)
            WHERE deleted_at IS NULL;
        -- The public images by name (the order clients ask for), for every project's list.
        -- (Public only: other visibilities by name are a project's, sought by owner.)
        CREATE INDEX images_public_name ON images (visibility, COALESCE(name, ''), created_at, id)
            WHERE deleted_at IS NULL AND visibility = 'public';
        -- Tag and property filters read their matches from the side table first, in the
        -- default order: the rows carry their image's (immutable) creation time, and its
        -- visibility (rewritten with the image), so that the public images with a tag are
        -- sought as such, however many other images carry it.
        ALTER TABLE image_tags ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE image_tags ADD COLUMN visibility TEXT NOT NULL DEFAULT '';
        UPDATE image_tags SET
            created_at = (SELECT i.created_at FROM images i WHERE i.id = image_tags.image_id),
            visibility = (SELECT i.visibility FROM images i WHERE i.id = image_tags.image_id);
        CREATE INDEX image_tags_tag_created ON image_tags (tag, created_at, image_id);
        CREATE INDEX image_tags_tag_visibility_created ON image_tags (tag, visibility, created_at, image_id);
        DROP INDEX image_tags_tag;
        ALTER TABLE image_properties ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE image_properties ADD COLUMN visibility TEXT NOT NULL DEFAULT '';
        UPDATE image_properties SET
            created_at = (SELECT i.created_at FROM images i WHERE i.id = image_properties.image_id),
            visibility = (SELECT i.visibility FROM images i WHERE i.id = image_properties.image_id);
        CREATE INDEX image_properties_name_value_created ON image_properties (name, value, created_at, image_id);
        CREATE INDEX image_properties_name_value_visibility_created
            ON image_properties (name, value, visibility, created_at, image_id);
        DROP INDEX image_properties_name_value;
        """,
        """
        -- Keystone's unified limits (the built-in identity's /v3/registered_limits and
        -- /v3/limits): a default per service, region and resource, and projects' own limits.
        -- A limit without a region keeps '' so that the uniqueness holds for it too.
        CREATE TABLE registered_limits (
            id TEXT PRIMARY KEY,
            service_id TEXT NOT NULL,
            region_id TEXT NOT NULL DEFAULT '',
            resource_name TEXT NOT NULL,
            default_limit INTEGER NOT NULL,
            description TEXT,
            UNIQUE (service_id, region_id, resource_name)
        );
        CREATE TABLE project_limits (
            id TEXT PRIMARY KEY,
            project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            service_id TEXT NOT NULL,
            region_id TEXT NOT NULL DEFAULT '',
            resource_name TEXT NOT NULL,
            resource_limit INTEGER NOT NULL,
            description TEXT,
            UNIQUE (project_id, service_id, region_id, resource_name)
        );
        """,
        """
        -- The metadata of locations added through the locations API (a JSON object; NULL: none).
        ALTER TABLE image_locations ADD COLUMN metadata TEXT;
        """,
        """
        -- Roles held on the whole deployment (Keystone's system scope), and the tokens
        -- scoped to it.
        CREATE TABLE system_role_assignments (
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, role_id)
        );
        ALTER TABLE tokens ADD COLUMN system INTEGER NOT NULL DEFAULT 0;
        """,
        """
        -- The filters on a value most images share index only the images without it: an
        -- image that is not hidden or protected, asks for no minimum disk or memory, or has
        -- no data yet adds no entry to these, and its writes cost fewer pages. A list asks
        -- for the indexed values in these indexes' own terms (`ImageQueryBuilder`), and for
        -- the common value walks the order it is sorted by.
        DROP INDEX images_hidden_created;
        CREATE INDEX images_hidden_created ON images (os_hidden, created_at, id)
            WHERE deleted_at IS NULL AND os_hidden = TRUE;
        DROP INDEX images_protected_created;
        CREATE INDEX images_protected_created ON images (protected, created_at, id)
            WHERE deleted_at IS NULL AND protected = TRUE;
        DROP INDEX images_min_disk_created;
        CREATE INDEX images_min_disk_created ON images (min_disk, created_at, id) WHERE deleted_at IS NULL AND min_disk > 0;
        DROP INDEX images_min_ram_created;
        CREATE INDEX images_min_ram_created ON images (min_ram, created_at, id) WHERE deleted_at IS NULL AND min_ram > 0;
        DROP INDEX images_virtual_size_created;
        CREATE INDEX images_virtual_size_created ON images (COALESCE(virtual_size, 0), created_at, id)
            WHERE deleted_at IS NULL AND virtual_size IS NOT NULL;
        DROP INDEX images_checksum_created;
        CREATE INDEX images_checksum_created ON images (COALESCE(checksum, ''), created_at, id)
            WHERE deleted_at IS NULL AND checksum IS NOT NULL;
        DROP INDEX images_os_hash_value_created;
        CREATE INDEX images_os_hash_value_created ON images (COALESCE(os_hash_value, ''), created_at, id)
            WHERE deleted_at IS NULL AND os_hash_value IS NOT NULL;
        """,
        """
        -- Summaries of the catalog in creation order, a block of about 1,024 images at a
        -- time (GlimpseSQL's ImageBlocks): a block covers the images created after the
        -- previous block's last one up to its own, with the least and greatest of each
        -- column a range filter asks for and of the names, and how many images it sealed. A
        -- list in creation order with such a filter walks only the blocks that may hold a
        -- match; a list by name reads the blocks whose names come first.
        CREATE TABLE image_blocks (
            seq INTEGER PRIMARY KEY,
            after_created INTEGER NOT NULL,
            last_created INTEGER NOT NULL UNIQUE,
            min_size INTEGER, max_size INTEGER,
            min_virtual_size INTEGER, max_virtual_size INTEGER,
            min_min_disk INTEGER, max_min_disk INTEGER,
            min_min_ram INTEGER, max_min_ram INTEGER,
            min_name TEXT, max_name TEXT,
            min_updated_at INTEGER,
            images INTEGER NOT NULL
        );
        """,
        """
        -- The greatest update time of each block's images (GlimpseSQL's ImageBlocks): a list
        -- sorted by update time with a range filter reads the blocks updated last first. A
        -- block that has none alive keeps its least.
        ALTER TABLE image_blocks ADD COLUMN max_updated_at INTEGER;
        UPDATE image_blocks SET max_updated_at = COALESCE(
            (SELECT MAX(updated_at) FROM images
                WHERE deleted_at IS NULL AND created_at > after_created AND created_at <= last_created),
            min_updated_at);
        """,
    ]
}
