-- One row the readiness probe rewrites while writes are failing, to learn when the storage
-- takes writes again (see Store::check_writes).
CREATE TABLE write_probe (
    id    INTEGER PRIMARY KEY,
    at_ms BIGINT NOT NULL
);
