-- The seat history ledger (README, "Seat history"): one row per time a user held a seat of a
-- license, from `started_at` until `ended_at` (NULL while held), written in the transaction of
-- the seat decision. `user_id` has no foreign key and `user_name` is the name at the start:
-- the row outlives the user, for as long as the license exists (or the retention setting).
CREATE TABLE seat_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    start_reason TEXT NOT NULL,
    end_reason TEXT
);
CREATE INDEX seat_history_license_started ON seat_history (license_id, started_at);
CREATE INDEX seat_history_license_ended ON seat_history (license_id, ended_at);
-- A user holds at most one seat of a license at a time: one open row.
CREATE UNIQUE INDEX seat_history_open ON seat_history (license_id, user_id) WHERE ended_at IS NULL;

-- Seats already held when the ledger starts are open from when they were assigned.
INSERT INTO seat_history (license_id, user_id, user_name, started_at, start_reason)
SELECT s.license_id, s.user_id, u.user_name, s.since, 'before_history'
FROM seats s JOIN users u ON u.id = s.user_id
WHERE s.status = 'assigned'
ORDER BY s.license_id, s.since, s.user_id;
