ALTER TABLE licenses DROP COLUMN full_reconcile_due;
