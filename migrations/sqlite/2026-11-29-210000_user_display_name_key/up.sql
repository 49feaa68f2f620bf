-- Case-folded displayName for filters and sorting, written by the server with Rust's
-- `to_lowercase` as user_name_key is: SQL lower() folds only ASCII on SQLite (and in PostgreSQL's
-- C locale), so SQL and in-memory evaluation disagreed on names like 'Émile'. NULL when the user
-- has no displayName. Existing rows are filled in by the server right after this migration
-- (`store::users::fill_display_name_keys`), which the partial index keeps cheap on every start.
ALTER TABLE users ADD COLUMN display_name_key TEXT;
CREATE INDEX users_display_name_unkeyed ON users (id)
    WHERE display_name IS NOT NULL AND display_name_key IS NULL;
