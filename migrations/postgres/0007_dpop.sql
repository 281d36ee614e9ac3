-- DPoP proof policy (RFC 9449): a JSON object {"algorithms","iat_window_seconds",
-- "replay_capacity"}, every member optional, read and written with the tenant's other settings.
-- (0006 is taken by upstream introspection, landing separately.)
ALTER TABLE tenants ADD COLUMN dpop TEXT NOT NULL DEFAULT '{}';
