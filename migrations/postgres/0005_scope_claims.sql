-- Roles claims mapped to scopes: a JSON object {"sources":[{"pointer","prefix"}],"replace"},
-- read and written with the tenant's other settings.
ALTER TABLE tenants ADD COLUMN scope_claims TEXT NOT NULL DEFAULT '{}';
