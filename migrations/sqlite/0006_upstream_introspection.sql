-- Upstream RFC 7662 introspection for opaque tokens: a JSON object {"endpoint","client_id",
-- "timeout_ms","tokens","cache_ttl_seconds"} ('' when not configured), and the client secret as
-- given, kept apart so that nothing serializing the configuration can carry it.
ALTER TABLE tenants ADD COLUMN upstream_introspection TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN upstream_client_secret TEXT NOT NULL DEFAULT '';
