-- Every version and every change of the feed records the epoch it was written in: the timeline of the primary
-- that wrote it (db/primary.py). Until now an ETag and a feed position carried the epoch they were *read* in, so
-- every promotion, a switchover that lost nothing included, made every ETag and feed position handed out before
-- it match nothing: every watcher was answered at once, every conditional write refused, every feed follower
-- sent back to the start. What a failover can lose is the writes the new primary never received; a version or a
-- change it has was written before the fork on the same line of history, and is the one a client saw under it.
-- So a version is named by (version, epoch it was written in), and the feed's position by (seq, epoch of that
-- entry): after a failover a name the database still holds names the same content, and one it does not (lost,
-- or given to other content written since, in the new epoch) matches nothing (svc/README.md, "Epochs").
--
-- A timeline is one line of history: a number PostgreSQL gives past every timeline history file it sees, at a
-- promotion or at the end of a restore to a point in time. Two promotions to the same number on diverging histories
-- (two standbys promoted at once, or one that never followed a promoted node promoted after it, with no archive
-- shared) would defeat this, as they defeat the timeline itself (svc/README.md, "Epochs").

-- The timeline the primary writes on: the first 8 hex digits of its current WAL file's name (as db/primary.py's
-- IDENTITY reads it). 0.15 µs a call (2026-12-06).
CREATE FUNCTION config_service_epoch() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
$$;

-- An UPDATE that gives a row a new version writes it in the current epoch. The trigger's condition is the
-- executor's, with no function call for a row already of the current epoch (every write but the first of a row
-- after a promotion); a statement that sets `epoch` itself (a restore by hand) is left as it wrote.
CREATE FUNCTION config_service_written_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.epoch := config_service_epoch();
    RETURN NEW;
END
$$;

-- Rows written before this migration take the epoch they were read in until now, the current one: each ETag
-- handed out before matches exactly as it did. A default that is a constant is PostgreSQL's "fast default", no
-- rewrite of the table (the feed may be long); new rows then take the function's.
DO $$
DECLARE
    now bigint := config_service_epoch();
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['applications', 'configurations', 'overrides', 'environments', 'api_keys', 'changes']
    LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN epoch bigint NOT NULL DEFAULT %s', name, now);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN epoch SET DEFAULT config_service_epoch()', name);
        IF name <> 'changes' THEN  -- (a change is written once: never updated)
            EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW '
                           'WHEN (NEW.version IS DISTINCT FROM OLD.version AND NEW.epoch = OLD.epoch '
                           'AND OLD.epoch <> config_service_epoch()) EXECUTE FUNCTION config_service_written_epoch()',
                           name || '_written_epoch', name);
        END IF;
    END LOOP;
END
$$;
