-- The admin key generated on a database's first start when none is configured: at most one
-- row, written once (the replica whose insert wins prints the key); only its SHA-256 is kept.
CREATE TABLE first_run_admin_key (
    id            INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    key_sha256    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
