DROP TABLE seat_expansions;
DROP TABLE seat_reservations;
DROP INDEX seats_grace;
DROP INDEX seats_queue;
CREATE INDEX seats_queue ON seats (license_id, status, queued_at, joined_at, user_id);
ALTER TABLE seats DROP COLUMN grace_until;
ALTER TABLE seats DROP COLUMN priority;
ALTER TABLE licensed_groups DROP COLUMN priority;
DROP TABLE license_policies;
