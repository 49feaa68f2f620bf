-- Per-license admin keys: a license admin signs in to the /admin pages with one and sees only
-- that license. Stored like SCIM tokens: SHA-256 digest of the secret, never the secret.
CREATE TABLE license_admin_keys (
    id TEXT PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX license_admin_keys_license ON license_admin_keys (license_id);
