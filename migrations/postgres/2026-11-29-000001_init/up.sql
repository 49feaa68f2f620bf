-- Seatflow schema (DESIGN §4). Ids, JSON documents and timestamps are text so that the same
-- diesel schema serves PostgreSQL and SQLite; timestamps are RFC 3339 UTC with a fixed width
-- (see shared/src/time.rs) so they sort as text.

CREATE TABLE licenses (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    seats BIGINT NOT NULL CHECK (seats >= 0),
    seats_used BIGINT NOT NULL DEFAULT 0,
    auto_promote BOOLEAN NOT NULL DEFAULT TRUE,
    provisioning_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE scim_tokens (
    id TEXT PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX scim_tokens_license ON scim_tokens (license_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    -- lower-cased userName: uniqueness and filters are case-insensitive (RFC 7643 caseExact=false)
    user_name_key TEXT NOT NULL,
    external_id TEXT,
    display_name TEXT,
    active BOOLEAN NOT NULL,
    document TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX users_license_user_name ON users (license_id, user_name_key);
CREATE INDEX users_license_external_id ON users (license_id, external_id);
CREATE INDEX users_license_created ON users (license_id, created_at);
-- the entitlement check looks users up by email across licenses
CREATE INDEX users_user_name_key ON users (user_name_key);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id TEXT,
    document TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX groups_license_display_name ON groups (license_id, display_name_key);
CREATE INDEX groups_license_external_id ON groups (license_id, external_id);
CREATE INDEX groups_license_created ON groups (license_id, created_at);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- the provider's sync order breaks ties in the seat queue (DESIGN §5)
    joined_at TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE licensed_groups (
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (license_id, group_id)
);

CREATE TABLE seats (
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('assigned', 'blocked')),
    since TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (license_id, user_id)
);
CREATE INDEX seats_license_status ON seats (license_id, status, since);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    request_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX outbox_status_next ON outbox (status, next_attempt_at);
CREATE INDEX outbox_license_status ON outbox (license_id, status);

CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT,
    request_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_license_created ON audit (license_id, created_at);
