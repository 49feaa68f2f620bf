-- The change feed (README, "Change feed"): every change as an event, in the transaction that
-- makes it. `id` is the insert order; `seq` is the commit order, given by the sequencer after
-- commit (ids of concurrent transactions commit out of order, so a cursor over `id` could skip
-- one that commits late). Readers only see sequenced events.
CREATE TABLE feed_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq BIGINT UNIQUE,
    event_id TEXT NOT NULL UNIQUE,
    license_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject TEXT,
    data TEXT NOT NULL,
    request_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX feed_events_unsequenced ON feed_events (id) WHERE seq IS NULL;
CREATE INDEX feed_events_license_seq ON feed_events (license_id, seq);
CREATE INDEX feed_events_request ON feed_events (request_id);
-- The last sequence number given: numbers are never reused, even once every event was pruned
-- (a product's stored cursor stays valid).
CREATE TABLE feed_sequence (
    id INTEGER PRIMARY KEY,
    last_seq BIGINT NOT NULL
);
INSERT INTO feed_sequence (id, last_seq) VALUES (1, 0);

-- Webhook endpoints: per license, or deployment-wide (license_id NULL, the operator's).
-- `cursor` is the last event seq handled (delivered, or filtered out); events after it are
-- delivered in order, one endpoint at a time (`lease_until`).
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    license_id TEXT REFERENCES licenses(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TEXT,
    event_types TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    cursor BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failing_since TEXT,
    next_attempt_at TEXT NOT NULL,
    failed_at TEXT,
    last_error TEXT,
    lease_until TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_license ON webhook_endpoints (license_id);

-- Every delivery attempt (the delivery log), kept at least 7 days.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_seq BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    error TEXT,
    manual BOOLEAN NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_created ON webhook_attempts (created_at);

-- The per-tenant SCIM request log (no query values, no bodies, no secrets).
CREATE TABLE scim_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    license_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    latency_us BIGINT NOT NULL,
    request_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX scim_requests_license ON scim_requests (license_id, id);
CREATE INDEX scim_requests_created ON scim_requests (created_at);

-- The request log shows the seat decisions each request caused.
CREATE INDEX audit_request ON audit (request_id);

-- The highest usage threshold (0, 80, 90, 100) reached, so each crossing is told once; whether
-- the error-rate warning is raised; when the provider first created something.
ALTER TABLE licenses ADD COLUMN usage_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE licenses ADD COLUMN error_rate_warned BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE licenses ADD COLUMN first_synced_at TEXT;
