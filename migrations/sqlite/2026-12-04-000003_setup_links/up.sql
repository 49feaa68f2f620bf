-- Setup links (README, "Setup link"): a signed, single-use, short-lived link that opens one
-- license's admin pages for the customer's IT admin. Stored like admin keys: the SHA-256 digest
-- of the link's secret, never the secret. `used_at` is set by the one UPDATE that redeems it.
CREATE TABLE setup_links (
    id TEXT PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX setup_links_license ON setup_links (license_id, created_at);
