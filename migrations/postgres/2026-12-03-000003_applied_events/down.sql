ALTER TABLE license_sync DROP COLUMN applied_events;
