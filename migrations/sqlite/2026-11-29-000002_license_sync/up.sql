-- Per-license progress of the licensing worker: what it applied last and when. Kept apart from
-- the outbox so applied events can be pruned without losing it.
CREATE TABLE license_sync (
    license_id TEXT PRIMARY KEY REFERENCES licenses(id) ON DELETE CASCADE,
    last_applied_event_id BIGINT NOT NULL,
    last_applied_at TEXT NOT NULL
);
-- Oldest-pending and per-license health queries scan by license and creation time.
CREATE INDEX outbox_license_created ON outbox (license_id, status, created_at);
