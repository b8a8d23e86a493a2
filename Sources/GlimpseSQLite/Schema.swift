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
    ]
}
