-- The name of the API key that made each revision; NULL when the API was open (no keys configured).
ALTER TABLE configuration_revisions ADD COLUMN created_by varchar(64);
