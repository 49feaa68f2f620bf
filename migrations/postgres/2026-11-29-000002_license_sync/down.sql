DROP INDEX outbox_license_created;
DROP TABLE license_sync;
