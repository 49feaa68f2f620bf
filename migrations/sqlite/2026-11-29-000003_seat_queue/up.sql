-- The seat queue's order (DESIGN §5): when the user became entitled, then when they joined a
-- licensed group (the provider's sync order), then user id.
ALTER TABLE seats ADD COLUMN queued_at TEXT NOT NULL DEFAULT '';
ALTER TABLE seats ADD COLUMN joined_at TEXT NOT NULL DEFAULT '';
CREATE INDEX seats_queue ON seats (license_id, status, queued_at, joined_at, user_id);
-- The product's sign-in check finds a user's seats across licenses.
CREATE INDEX seats_user ON seats (user_id);
CREATE INDEX audit_license_subject ON audit (license_id, subject, created_at);
-- Sync health: when the identity provider last called, and last ran Test Connection.
ALTER TABLE licenses ADD COLUMN last_scim_request_at TEXT;
ALTER TABLE licenses ADD COLUMN last_test_connection_at TEXT;
