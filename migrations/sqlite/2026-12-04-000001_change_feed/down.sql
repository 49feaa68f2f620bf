ALTER TABLE licenses DROP COLUMN first_synced_at;
ALTER TABLE licenses DROP COLUMN error_rate_warned;
ALTER TABLE licenses DROP COLUMN usage_level;
DROP INDEX audit_request;
DROP TABLE scim_requests;
DROP TABLE webhook_attempts;
DROP TABLE webhook_endpoints;
DROP TABLE feed_sequence;
DROP TABLE feed_events;
