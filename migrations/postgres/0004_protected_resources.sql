-- Protected resources (RFC 8707 / RFC 9728): a JSON array of the resources a tenant's tokens
-- are for, read and written with the tenant's other settings.
ALTER TABLE tenants ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';
