-- A counter every change that can end a token's access bumps (a token revoked, a license
-- changed), in the same transaction. API processes cache resolved tokens and poll this to
-- drop their caches within a fraction of a second, on any backend and across processes.
CREATE TABLE auth_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);
