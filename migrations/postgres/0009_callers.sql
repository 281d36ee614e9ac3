-- Registered callers: the services allowed to ask about some tenants on some surfaces
-- (`--caller-auth`). `tenants` is '*' (every tenant) or tenant ids separated by spaces;
-- `surfaces` is surface names separated by spaces. A caller authenticates with any of its keys
-- (several allow rotation) or with a client certificate naming it; of a key only its public id
-- and the SHA-256 of its secret are kept.
CREATE TABLE callers (
    name          TEXT PRIMARY KEY NOT NULL,
    tenants       TEXT NOT NULL,
    surfaces      TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE caller_keys (
    key_id        TEXT PRIMARY KEY NOT NULL,
    caller        TEXT NOT NULL REFERENCES callers (name) ON DELETE CASCADE,
    secret_sha256 TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX caller_keys_caller ON caller_keys (caller, key_id);
