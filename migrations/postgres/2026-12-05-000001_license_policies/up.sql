-- Licensing policies (README, "Licensing policies"). One row per license that set any; none
-- means the defaults (overflow 'block', no cap, no grace). `overflowing_since` is the engine's
-- state for the 'notify' policy: set when eligible users start waiting with no seat free.
CREATE TABLE license_policies (
    license_id TEXT PRIMARY KEY REFERENCES licenses(id) ON DELETE CASCADE,
    overflow TEXT NOT NULL DEFAULT 'block',
    expand_cap BIGINT,
    grace_minutes INTEGER NOT NULL DEFAULT 0,
    overflowing_since TEXT,
    updated_at TEXT NOT NULL
);
-- Group priority: higher is served first; a seat row keeps its user's effective priority (the
-- highest of their licensed groups) so the queue can be read in order from an index.
ALTER TABLE licensed_groups ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE seats ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- Release grace period: set while a user who lost entitlement keeps their row.
ALTER TABLE seats ADD COLUMN grace_until TEXT;
DROP INDEX seats_queue;
CREATE INDEX seats_queue ON seats (license_id, status, priority DESC, queued_at, joined_at, user_id);
CREATE INDEX seats_grace ON seats (grace_until) WHERE grace_until IS NOT NULL;
-- Reserved seats: `target` is a userName or user id (kind 'user', one seat), or a group's
-- displayName or id (kind 'group', `seats` seats), trimmed and lowercased; it may name someone
-- not synced yet.
CREATE TABLE seat_reservations (
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    seats BIGINT NOT NULL,
    position INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (license_id, kind, target)
);
-- Seats raised by the 'expand' overflow policy: unsettled rows are the pending true-up.
CREATE TABLE seat_expansions (
    id BIGSERIAL PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    expanded_at TEXT NOT NULL,
    seats_from BIGINT NOT NULL,
    seats_to BIGINT NOT NULL,
    settled_at TEXT
);
CREATE INDEX seat_expansions_license ON seat_expansions (license_id, id);
