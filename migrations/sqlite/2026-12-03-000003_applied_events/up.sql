-- How many events the licensing worker has applied per license (redeliveries included): with
-- the pending count, the apply rate operators and the load generator watch.
ALTER TABLE license_sync ADD COLUMN applied_events BIGINT NOT NULL DEFAULT 0;
