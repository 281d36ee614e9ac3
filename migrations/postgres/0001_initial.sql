-- scopegate initial schema (PostgreSQL dialect). Lists of names are JSON arrays in TEXT: the
-- catalog rules keep them consistent inside the same transaction that writes them.
CREATE TABLE tenants (
    id                   TEXT PRIMARY KEY NOT NULL,
    display_name         TEXT NOT NULL,
    issuer               TEXT NOT NULL,
    audiences            TEXT NOT NULL,
    key_kind             TEXT NOT NULL,
    key_value            TEXT NOT NULL,
    algorithms           TEXT NOT NULL,
    leeway_seconds       BIGINT NOT NULL,
    require_at_jwt_typ   BOOLEAN NOT NULL,
    jwks_refresh_seconds BIGINT NOT NULL,
    admin_style          TEXT NOT NULL,
    drop_unknown_scopes  BOOLEAN NOT NULL,
    preset               TEXT NOT NULL,
    revision             BIGINT NOT NULL,
    created_at_ms        BIGINT NOT NULL,
    updated_at_ms        BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenants_issuer_key ON tenants (issuer) WHERE issuer <> '';

CREATE TABLE scopes (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    is_default    BOOLEAN NOT NULL,
    is_system     BOOLEAN NOT NULL,
    is_reserved   BOOLEAN NOT NULL,
    implies       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE clients (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    first_party    BOOLEAN NOT NULL,
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
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    at_ms     BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    before_json TEXT NOT NULL,
    after_json  TEXT NOT NULL,
    revision  BIGINT NOT NULL
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);

-- kind: 'jti' (value = jti), 'client' or 'subject' (value = id, not_before = iat cut-off).
CREATE TABLE revocations (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    value         TEXT NOT NULL,
    not_before    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, value)
);
