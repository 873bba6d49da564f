-- An environment deleted keeps its overrides' history. Its override revisions went with it (0008: the foreign key
-- cascaded), so a read of the past at a position where it had an override (a snapshot, an export) no longer showed
-- it, and the override's revisions and diffs answered 404: deleting an environment rewrote the past. The revisions
-- now outlive it, and the environment is kept here with the name it had when it was deleted, for the reads of the
-- past that name it (`all_environments`). An environment is deleted only once it has no override and no child
-- (the service answers 409 first), so nothing current refers to it; its id is a ULID, never given again.
-- `make prune` drops an environment kept here once no revision it kept names it.
CREATE TABLE retired_environments (
    id          varchar(26) PRIMARY KEY,
    name        varchar(256) NOT NULL,
    parent_id   varchar(26),
    comments    varchar(1024),
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz NOT NULL
);

ALTER TABLE override_revisions DROP CONSTRAINT override_revisions_environment_id_fkey;

-- Every environment a revision may name: those that are, and those deleted (an id is in one or the other).
CREATE VIEW all_environments AS
    SELECT id, name FROM environments
    UNION ALL
    SELECT id, name FROM retired_environments;
