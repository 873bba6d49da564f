-- An environment deleted keeps its overrides' history. Its override revisions went with it (0008: the foreign key
-- cascaded), so a read of the past at a position where it had an override (an export) no longer showed it, and
-- the override's revisions and diffs answered 404: deleting an environment rewrote the past. The revisions now
-- outlive it, and the environment is kept here with the name it had when it was deleted, for the reads of the past
-- that name it (`all_environments`). An environment is deleted only once it has no override and no child (the
-- service answers 409 first), so nothing current refers to it; its id is a ULID, never given again.
-- `make prune` drops an environment kept here once no revision names it.
CREATE TABLE retired_environments (
    id          varchar(26) PRIMARY KEY,
    name        varchar(256) NOT NULL,
    parent_id   varchar(26),
    comments    varchar(1024),
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz NOT NULL
);

-- Kept by the deletion itself, whoever deletes it: this build, a worker of the build before still running while
-- this one rolls out, or psql. (A TRUNCATE, which fires no row trigger, keeps nothing: it is no history's.)
CREATE FUNCTION environments_retire() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO retired_environments (id, name, parent_id, comments, created_at, retired_at)
    VALUES (OLD.id, OLD.name, OLD.parent_id, OLD.comments, OLD.created_at, clock_timestamp())
    ON CONFLICT (id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER environments_retire AFTER DELETE ON environments FOR EACH ROW EXECUTE FUNCTION environments_retire();

ALTER TABLE override_revisions DROP CONSTRAINT override_revisions_environment_id_fkey;

-- Every environment a revision may name: those that are, and those deleted (an id is in one or the other), with
-- which it is.
CREATE VIEW all_environments AS
    SELECT id, name, false AS retired FROM environments
    UNION ALL
    SELECT id, name, true AS retired FROM retired_environments;
