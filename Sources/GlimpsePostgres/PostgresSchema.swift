/// The PostgreSQL schema, as an ordered list of migrations (`glimpse_schema` counts those
/// applied). Steps are only ever added. Text compares and sorts byte by byte (`COLLATE "C"`),
/// as in SQLite, whatever the database's locale: pages and markers come out the same on
/// both stores.
enum PostgresSchema {
    static let migrations: [String] = [
        """
        CREATE TABLE images (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT COLLATE "C",
            status TEXT COLLATE "C" NOT NULL,
            visibility TEXT COLLATE "C" NOT NULL,
            owner TEXT COLLATE "C",
            size BIGINT,
            virtual_size BIGINT,
            disk_format TEXT COLLATE "C",
            container_format TEXT COLLATE "C",
            checksum TEXT COLLATE "C",
            os_hash_algo TEXT COLLATE "C",
            os_hash_value TEXT COLLATE "C",
            min_disk BIGINT NOT NULL DEFAULT 0,
            min_ram BIGINT NOT NULL DEFAULT 0,
            protected BOOLEAN NOT NULL DEFAULT FALSE,
            os_hidden BOOLEAN NOT NULL DEFAULT FALSE,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            deleted_at BIGINT,
            properties TEXT NOT NULL DEFAULT '{}',
            tags TEXT NOT NULL DEFAULT '[]',
            location TEXT COLLATE "C",
            store_id TEXT COLLATE "C",
            revision BIGINT NOT NULL DEFAULT 0
        );
        -- Listing: the default order, per owner, per visibility; and lookups by name.
        CREATE INDEX images_created ON images (created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_owner_created ON images (owner, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_visibility_created ON images (visibility, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_name ON images (COALESCE(name, ''), created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_deleted ON images (deleted_at) WHERE deleted_at IS NOT NULL;
        -- The compute API's changes-since lists live and deleted images by update time.
        CREATE INDEX images_updated ON images (updated_at);
        -- The orphan sweep asks which stored objects images still refer to.
        CREATE INDEX images_location ON images (location) WHERE location IS NOT NULL;

        CREATE TABLE image_tags (
            image_id TEXT COLLATE "C" NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            tag TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (image_id, tag)
        );
        CREATE INDEX image_tags_tag ON image_tags (tag, image_id);

        CREATE TABLE image_properties (
            image_id TEXT COLLATE "C" NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            name TEXT COLLATE "C" NOT NULL,
            value TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (image_id, name)
        );
        CREATE INDEX image_properties_name_value ON image_properties (name, value, image_id);

        CREATE TABLE image_members (
            image_id TEXT COLLATE "C" NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            member TEXT COLLATE "C" NOT NULL,
            status TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (image_id, member)
        );
        CREATE INDEX image_members_member ON image_members (member, status, image_id);

        -- Uploads in progress: which process runs each, where its data is being written, and
        -- until when it counts as alive.
        CREATE TABLE upload_leases (
            image_id TEXT COLLATE "C" PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
            owner TEXT COLLATE "C" NOT NULL,
            store_id TEXT COLLATE "C" NOT NULL,
            pending_location TEXT COLLATE "C" NOT NULL,
            expires_at BIGINT NOT NULL,
            received BIGINT NOT NULL DEFAULT 0,
            expected BIGINT
        );
        CREATE INDEX upload_leases_expires ON upload_leases (expires_at);
        CREATE INDEX upload_leases_pending ON upload_leases (store_id, pending_location);

        CREATE TABLE domains (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            enabled BOOLEAN NOT NULL DEFAULT TRUE
        );
        CREATE TABLE projects (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL,
            domain_id TEXT COLLATE "C" NOT NULL REFERENCES domains (id),
            description TEXT NOT NULL DEFAULT '',
            enabled BOOLEAN NOT NULL DEFAULT TRUE,
            UNIQUE (domain_id, name)
        );
        CREATE TABLE users (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL,
            domain_id TEXT COLLATE "C" NOT NULL REFERENCES domains (id),
            password_hash TEXT,
            enabled BOOLEAN NOT NULL DEFAULT TRUE,
            default_project_id TEXT COLLATE "C",
            email TEXT,
            description TEXT,
            UNIQUE (domain_id, name)
        );
        CREATE TABLE roles (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL UNIQUE,
            description TEXT
        );
        CREATE TABLE role_assignments (
            user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            role_id TEXT COLLATE "C" NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, project_id, role_id)
        );
        CREATE INDEX role_assignments_project ON role_assignments (project_id);
        CREATE TABLE tokens (
            hash TEXT COLLATE "C" PRIMARY KEY,
            user_id TEXT COLLATE "C" NOT NULL,
            project_id TEXT COLLATE "C",
            role_ids TEXT NOT NULL,
            methods TEXT NOT NULL,
            issued_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            audit_ids TEXT NOT NULL
        );
        CREATE INDEX tokens_user ON tokens (user_id);
        CREATE INDEX tokens_project ON tokens (project_id);
        CREATE INDEX tokens_expires ON tokens (expires_at);

        CREATE TABLE metadef_namespaces (
            namespace TEXT COLLATE "C" PRIMARY KEY,
            display_name TEXT,
            description TEXT,
            visibility TEXT COLLATE "C" NOT NULL,
            protected BOOLEAN NOT NULL DEFAULT FALSE,
            owner TEXT COLLATE "C",
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE TABLE metadef_resource_types (
            name TEXT COLLATE "C" PRIMARY KEY,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE TABLE metadef_items (
            namespace TEXT COLLATE "C" NOT NULL
                REFERENCES metadef_namespaces (namespace) ON DELETE CASCADE ON UPDATE CASCADE,
            kind TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            body TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (namespace, kind, name)
        );
        """,
        """
        -- Every list order and every selective filter gets an index that starts with it and
        -- ends in the tie-breakers (created_at, id): a sorted page walks the index and stops
        -- after LIMIT rows, a filtered page starts at its key, in the default order. The
        -- planner picks between them by the statistics, so a page reads about as many rows
        -- as it shows, at any catalog size.
        CREATE INDEX images_status_created ON images (status, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_updated_created ON images (updated_at, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_size_created ON images (COALESCE(size, 0), created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_virtual_size_created ON images (COALESCE(virtual_size, 0), created_at, id)
            WHERE deleted_at IS NULL;
        CREATE INDEX images_disk_format_created ON images (COALESCE(disk_format, ''), created_at, id)
            WHERE deleted_at IS NULL;
        CREATE INDEX images_container_format_created ON images (COALESCE(container_format, ''), created_at, id)
            WHERE deleted_at IS NULL;
        CREATE INDEX images_checksum ON images (COALESCE(checksum, '')) WHERE deleted_at IS NULL;
        CREATE INDEX images_os_hash_value ON images (COALESCE(os_hash_value, '')) WHERE deleted_at IS NULL;
        -- Hidden images are few: os_hidden=true lists read only them.
        CREATE INDEX images_hidden_created ON images (created_at, id) WHERE deleted_at IS NULL AND os_hidden;
        """,
        """
        -- The copies of an image's data, one row each, in the order they were made. Images
        -- held one copy in images.location/store_id before; records without a store id were
        -- written when the only store was the default `local` one.
        CREATE TABLE image_locations (
            image_id TEXT COLLATE "C" NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            position BIGINT NOT NULL,
            store_id TEXT COLLATE "C" NOT NULL,
            location TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (image_id, position)
        );
        -- The orphan sweep asks which stored objects of a store images still refer to.
        CREATE INDEX image_locations_store_location ON image_locations (store_id, location);
        INSERT INTO image_locations (image_id, position, store_id, location)
            SELECT id, 0, COALESCE(store_id, 'local'), location FROM images WHERE location IS NOT NULL;
        DROP INDEX images_location;
        ALTER TABLE images DROP COLUMN location, DROP COLUMN store_id;
        """,
        """
        -- Tasks (Glance's tasks and task_info): each import as an `api_image_import` task,
        -- kept until expires_at (set when it ends), listed newest first per project.
        CREATE TABLE tasks (
            id TEXT COLLATE "C" PRIMARY KEY,
            type TEXT COLLATE "C" NOT NULL,
            status TEXT COLLATE "C" NOT NULL,
            owner TEXT COLLATE "C" NOT NULL,
            image_id TEXT COLLATE "C",
            request_id TEXT COLLATE "C",
            user_id TEXT COLLATE "C",
            input TEXT,
            result TEXT,
            message TEXT NOT NULL DEFAULT '',
            expires_at BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE INDEX tasks_created ON tasks (created_at, id);
        CREATE INDEX tasks_owner_created ON tasks (owner, created_at, id);
        CREATE INDEX tasks_image ON tasks (image_id) WHERE image_id IS NOT NULL;
        CREATE INDEX tasks_expires ON tasks (expires_at) WHERE expires_at IS NOT NULL;
        """,
        """
        -- Tag and property filters read their matches from the side table first, in the
        -- default order: the rows carry their image's (immutable) creation time, and its
        -- visibility (rewritten with the image), so that the public images with a tag are
        -- sought as such, however many other images carry it.
        ALTER TABLE image_tags ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN visibility TEXT COLLATE "C" NOT NULL DEFAULT '';
        UPDATE image_tags t SET created_at = i.created_at, visibility = i.visibility FROM images i
            WHERE i.id = t.image_id;
        CREATE INDEX image_tags_tag_created ON image_tags (tag, created_at, image_id);
        CREATE INDEX image_tags_tag_visibility_created ON image_tags (tag, visibility, created_at, image_id);
        DROP INDEX image_tags_tag;
        ALTER TABLE image_properties ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN visibility TEXT COLLATE "C" NOT NULL DEFAULT '';
        UPDATE image_properties p SET created_at = i.created_at, visibility = i.visibility FROM images i
            WHERE i.id = p.image_id;
        CREATE INDEX image_properties_name_value_created ON image_properties (name, value, created_at, image_id);
        CREATE INDEX image_properties_name_value_visibility_created
            ON image_properties (name, value, visibility, created_at, image_id);
        DROP INDEX image_properties_name_value;
        -- A project's images of one visibility (a member's visibility=private or shared).
        CREATE INDEX images_owner_visibility_created ON images (owner, visibility, created_at, id)
            WHERE deleted_at IS NULL;
        -- Images in a status, latest change first.
        CREATE INDEX images_status_updated ON images (status, updated_at, created_at, id) WHERE deleted_at IS NULL;
        -- The filters left without an index: protected images are few, as hidden ones are.
        CREATE INDEX images_protected_created ON images (created_at, id) WHERE deleted_at IS NULL AND protected;
        CREATE INDEX images_min_disk_created ON images (min_disk, created_at, id) WHERE deleted_at IS NULL;
        CREATE INDEX images_min_ram_created ON images (min_ram, created_at, id) WHERE deleted_at IS NULL;
        """,
        """
        -- Keystone's unified limits (the built-in identity's /v3/registered_limits and
        -- /v3/limits): a default per service, region and resource, and projects' own limits.
        -- A limit without a region keeps '' so that the uniqueness holds for it too.
        CREATE TABLE registered_limits (
            id TEXT COLLATE "C" PRIMARY KEY,
            service_id TEXT COLLATE "C" NOT NULL,
            region_id TEXT COLLATE "C" NOT NULL DEFAULT '',
            resource_name TEXT COLLATE "C" NOT NULL,
            default_limit BIGINT NOT NULL,
            description TEXT,
            UNIQUE (service_id, region_id, resource_name)
        );
        CREATE TABLE project_limits (
            id TEXT COLLATE "C" PRIMARY KEY,
            project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            service_id TEXT COLLATE "C" NOT NULL,
            region_id TEXT COLLATE "C" NOT NULL DEFAULT '',
            resource_name TEXT COLLATE "C" NOT NULL,
            resource_limit BIGINT NOT NULL,
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
            user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role_id TEXT COLLATE "C" NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, role_id)
        );
        ALTER TABLE tokens ADD COLUMN system BOOLEAN NOT NULL DEFAULT FALSE;
        """,
        """
        -- The filters on a value most images share index only the images without it (see
        -- the SQLite schema): no minimum disk or memory, no data yet.
        DROP INDEX images_min_disk_created;
        CREATE INDEX images_min_disk_created ON images (min_disk, created_at, id) WHERE deleted_at IS NULL AND min_disk > 0;
        DROP INDEX images_min_ram_created;
        CREATE INDEX images_min_ram_created ON images (min_ram, created_at, id) WHERE deleted_at IS NULL AND min_ram > 0;
        DROP INDEX images_virtual_size_created;
        CREATE INDEX images_virtual_size_created ON images (COALESCE(virtual_size, 0), created_at, id)
            WHERE deleted_at IS NULL AND virtual_size IS NOT NULL;
        DROP INDEX images_checksum;
        CREATE INDEX images_checksum ON images (COALESCE(checksum, '')) WHERE deleted_at IS NULL AND checksum IS NOT NULL;
        DROP INDEX images_os_hash_value;
        CREATE INDEX images_os_hash_value ON images (COALESCE(os_hash_value, ''))
            WHERE deleted_at IS NULL AND os_hash_value IS NOT NULL;
        """,
        """
        -- Copies of one image share a checksum: its matches come in the default order too,
        -- as in SQLite, rather than read all and sorted.
        DROP INDEX images_checksum;
        CREATE INDEX images_checksum_created ON images (COALESCE(checksum, ''), created_at, id)
            WHERE deleted_at IS NULL AND checksum IS NOT NULL;
        DROP INDEX images_os_hash_value;
        CREATE INDEX images_os_hash_value_created ON images (COALESCE(os_hash_value, ''), created_at, id)
            WHERE deleted_at IS NULL AND os_hash_value IS NOT NULL;
        -- Summaries of the catalog in creation order (see the SQLite schema).
        CREATE TABLE image_blocks (
            seq BIGINT PRIMARY KEY,
            after_created BIGINT NOT NULL,
            last_created BIGINT NOT NULL UNIQUE,
            min_size BIGINT, max_size BIGINT,
            min_virtual_size BIGINT, max_virtual_size BIGINT,
            min_min_disk BIGINT, max_min_disk BIGINT,
            min_min_ram BIGINT, max_min_ram BIGINT,
            min_name TEXT COLLATE "C", max_name TEXT COLLATE "C",
            min_updated_at BIGINT,
            images BIGINT NOT NULL
        );
        """,
        """
        -- Statistics on the expressions lists filter and sort by (PostgreSQL 14). PostgreSQL
        -- keeps none for the expressions of a partial index, nor for the forms a condition
        -- checked on each row takes (`ImageQueryBuilder.checked`), and took any of them for
        -- 0.5% of the catalog: a list of two names among a million for 10,000 images, and a
        -- project owning the catalog for one image (scanning it all, not walking the order).
        CREATE STATISTICS images_name_value ON (COALESCE(name, '')) FROM images;
        CREATE STATISTICS images_size_value ON (COALESCE(size, 0)) FROM images;
        CREATE STATISTICS images_virtual_size_value ON (COALESCE(virtual_size, 0)) FROM images;
        CREATE STATISTICS images_disk_format_value ON (COALESCE(disk_format, '')) FROM images;
        CREATE STATISTICS images_container_format_value ON (COALESCE(container_format, '')) FROM images;
        CREATE STATISTICS images_checksum_value ON (COALESCE(checksum, '')) FROM images;
        CREATE STATISTICS images_os_hash_value_value ON (COALESCE(os_hash_value, '')) FROM images;
        CREATE STATISTICS images_owner_checked ON ((owner || '')) FROM images;
        CREATE STATISTICS images_visibility_checked ON ((visibility || '')) FROM images;
        CREATE STATISTICS images_status_checked ON ((status || '')) FROM images;
        -- Which tags and properties the images of each visibility carry: a tag no public image
        -- has is then read from its index among the public images (no rows), not checked
        -- along the order on every public image.
        CREATE STATISTICS image_tags_tag_visibility (mcv) ON tag, visibility FROM image_tags;
        CREATE STATISTICS image_properties_value_visibility (mcv) ON name, value, visibility FROM image_properties;
        ANALYZE images;
        ANALYZE image_tags;
        ANALYZE image_properties;
        """,
        """
        -- The greatest update time of each block's images (see the SQLite schema).
        ALTER TABLE image_blocks ADD COLUMN max_updated_at BIGINT;
        UPDATE image_blocks SET max_updated_at = COALESCE(
            (SELECT MAX(updated_at) FROM images
                WHERE deleted_at IS NULL AND created_at > after_created AND created_at <= last_created),
            min_updated_at);
        """,
    ]
}
