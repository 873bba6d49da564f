-- Which managed key made each revision, by id, as the feed records it for each change (0009): a revision named
-- only the key's name (`created_by`), and names are reused (a key revoked, another made with its name) or chosen to
-- look like another's. A write made with a managed key sets `config_service.key_id` for its transaction
-- (db.database.as_key); a write made with a key of the settings, with the API open, or from psql leaves it NULL,
-- as do the revisions made before this migration (the default is evaluated once here, in a session without it: no
-- table is rewritten).
ALTER TABLE configuration_revisions ADD COLUMN created_by_key_id varchar(26)
    DEFAULT nullif(current_setting('config_service.key_id', true), '');
ALTER TABLE override_revisions ADD COLUMN created_by_key_id varchar(26)
    DEFAULT nullif(current_setting('config_service.key_id', true), '');
