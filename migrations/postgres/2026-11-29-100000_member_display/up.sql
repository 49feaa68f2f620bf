-- The display name a provider sent with a member (Microsoft's clients send one and expect it
-- back); NULL shows the user's own displayName.
ALTER TABLE group_members ADD COLUMN display TEXT;
