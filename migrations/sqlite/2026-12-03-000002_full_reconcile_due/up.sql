-- Set, in the same transaction, by every change that needs a full reconcile of the license
-- (licensed groups, seats, settings, reprocess, the safety net); cleared by the reconcile that
-- does it. Any reconcile that finds it set does the full one first, so a membership event
-- applied before the full event arrives cannot hand a seat out of queue order.
ALTER TABLE licenses ADD COLUMN full_reconcile_due BOOLEAN NOT NULL DEFAULT 0;
