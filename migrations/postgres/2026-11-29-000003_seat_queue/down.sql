ALTER TABLE licenses DROP COLUMN last_test_connection_at;
ALTER TABLE licenses DROP COLUMN last_scim_request_at;
DROP INDEX audit_license_subject;
DROP INDEX seats_user;
DROP INDEX seats_queue;
ALTER TABLE seats DROP COLUMN joined_at;
ALTER TABLE seats DROP COLUMN queued_at;
