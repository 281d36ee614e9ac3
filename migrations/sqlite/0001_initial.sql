-- scopegate initial schema (SQLite dialect). Lists of names are JSON arrays in TEXT: the
-- catalog rules keep them consistent inside the same transaction that writes them.
CREATE TABLE tenants (
    id                   TEXT PRIMARY KEY NOT NULL,
    display_name         TEXT NOT NULL,
    issuer               TEXT NOT NULL,
    audiences            TEXT NOT NULL,
    key_kind             TEXT NOT NULL,
    key_value            TEXT NOT NULL,
    algorithms           TEXT NOT NULL,
    leeway_seconds       INTEGER NOT NULL,
    require_at_jwt_typ   INTEGER NOT NULL,
    jwks_refresh_seconds INTEGER NOT NULL,
    admin_style          TEXT NOT NULL,
    drop_unknown_scopes  INTEGER NOT NULL,
    preset               TEXT NOT NULL,
    revision             INTEGER NOT NULL,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL
);
CREATE UNIQUE INDEX tenants_issuer_key ON tenants (issuer) WHERE issuer <> '';

CREATE TABLE scopes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    is_default    INTEGER NOT NULL,
    is_system     INTEGER NOT NULL,
    is_reserved   INTEGER NOT NULL,
    implies       TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    etag          TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE clients (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    first_party    INTEGER NOT NULL,
    allowed_scopes TEXT NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);

CREATE TABLE operations (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    alternatives TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Kept when a tenant is deleted: the trail outlives what it describes.
CREATE TABLE audit_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    at_ms     INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    before_json TEXT NOT NULL,
    after_json  TEXT NOT NULL,
    revision  INTEGER NOT NULL
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);

-- kind: 'jti' (value = jti), 'client' or 'subject' (value = id, not_before = iat cut-off).
CREATE TABLE revocations (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    value         TEXT NOT NULL,
    not_before    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, value)
);
