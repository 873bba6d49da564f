-- Notifications leave the write's transaction. A transaction that NOTIFYs takes, at commit, a lock that every
-- notifying transaction of the cluster shares, and keeps it through its commit's WAL flush (PostgreSQL's
-- `PreCommit_Notify`, so that the queue's entries are in commit order): the writes committed one flush at a time,
-- and group commit never happened. A write now records what it changed in `change_outbox`, in its own transaction,
-- and the service publishes it after the commit (`config_service_flush`, from each worker's publisher, in a
-- transaction of its own that waits for no flush).
--
-- Why the copy stays linearizable: a worker trusts its copy once a sync round sent after a read began has come back
-- (live/listener.py). A round now reads the outbox (`config_service_round`) and applies every row it returns as
-- the notification it announces. A write acknowledged, or seen by a read, before the round began has committed,
-- so the round's snapshot holds its row, unless a publisher deleted it. A publisher deletes a row only in a
-- transaction that begins after the one that notified it returned, that is, after PostgreSQL signalled the
-- listeners: the notification is then delivered ahead of the round's answer, as before. Either way the round
-- comes back only after the change reached the copy. A worker that dies between a commit and its publication
-- leaves rows that the next round returns all the same; rounds publish what nobody published within a second
-- (a write made in psql, or by a worker that died), so held requests elsewhere hear of it too.
--
-- UNLOGGED: the outbox is of use only to listeners connected to this server. A crash empties it, and a failover
-- leaves it empty on the new primary; either way every listener loses its connection, and a listener that connects
-- starts with an empty copy and re-checks every held request. So nothing in it must survive, and writing it costs
-- no WAL. Its ids come from an ordinary (logged) sequence: an identity column of an unlogged table has an unlogged
-- sequence, which PostgreSQL 15 cannot read on a promoted standby ("bad magic number in sequence").
CREATE SEQUENCE change_outbox_ids;
CREATE UNLOGGED TABLE change_outbox (
    id            bigint NOT NULL DEFAULT nextval('change_outbox_ids') PRIMARY KEY,
    payload       text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at  timestamptz
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

CREATE FUNCTION config_service_publish(payload text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO change_outbox (payload) VALUES (payload)
$$;

-- The triggers of 0004, 0008 and 0009, recording instead of notifying. TRUNCATE's 'reset' (0006) still notifies
-- from its transaction: it is rare, and it must clear every copy.
CREATE OR REPLACE FUNCTION configurations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM config_service_publish('c ' || OLD.id || ' ' || OLD.application_id || ' 0');
    ELSE
        PERFORM config_service_publish('c ' || NEW.id || ' ' || NEW.application_id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION applications_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM config_service_publish('a ' || OLD.id || ' 0');
    ELSE
        PERFORM config_service_publish('a ' || NEW.id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION overrides_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM config_service_publish('o ' || OLD.configuration_id || ' ' || OLD.application_id || ' '
                                       || OLD.environment_id || ' 0');
    ELSE
        PERFORM config_service_publish('o ' || NEW.configuration_id || ' ' || NEW.application_id || ' '
                                       || NEW.environment_id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION environments_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM config_service_publish('e ' || OLD.id || ' 0');
    ELSE
        PERFORM config_service_publish('e ' || NEW.id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM config_service_publish('k ' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END
$$;

-- Notify every committed row nobody has (a row another transaction holds is skipped, never waited for, so two
-- publishers and the rounds cannot deadlock), and delete the rows `done` that this publisher notified in a
-- transaction that has returned. Each notification is the row's payload after "#<id> ", so a listener that applied
-- the row from a round does not apply it again. The ids notified, for the next call's `done`. Its commit waits for
-- no flush: nothing in it must survive a crash.
CREATE FUNCTION config_service_flush(done bigint[]) RETURNS bigint[] LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    IF cardinality(done) > 0 THEN
        DELETE FROM change_outbox o
         WHERE o.id IN (SELECT u.id FROM change_outbox u WHERE u.id = ANY (done) FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN config_service_notify_outbox(NULL);
END
$$;

-- Mark published and notify the rows nobody has published (recorded before `before`, if given), in the order of
-- their ids, which is the order they were written in; the ids notified.
CREATE FUNCTION config_service_notify_outbox(before timestamptz) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    notified bigint[];
BEGIN
    WITH claimed AS (
        UPDATE change_outbox o SET published_at = clock_timestamp()
         WHERE o.id IN (SELECT u.id FROM change_outbox u
                         WHERE u.published_at IS NULL AND (before IS NULL OR u.recorded_at < before)
                           FOR UPDATE SKIP LOCKED)
        RETURNING o.id, o.payload
    )
    SELECT array_agg(c.id ORDER BY c.id) INTO notified FROM claimed c;
    -- pg_notify is volatile: PostgreSQL calls it after sorting, so the notifications go in the ids' order.
    PERFORM pg_notify('config_service', '#' || o.id || ' ' || o.payload)
       FROM change_outbox o WHERE o.id = ANY (notified) ORDER BY o.id;
    RETURN COALESCE(notified, '{}');
END
$$;

-- A listener's sync round: every row still in the outbox (committed, and either not published yet or published
-- too recently to be known delivered). First, what nobody published within a second is published here (its
-- worker died, or it was written in psql), and a row published over 5 seconds ago is deleted (its publisher died
-- before deleting it, and the transaction that published it has long returned).
CREATE FUNCTION config_service_round() RETURNS TABLE (id bigint, payload text) LANGUAGE plpgsql AS $$
DECLARE
    late timestamptz := clock_timestamp() - interval '1 second';
    gone timestamptz := clock_timestamp() - interval '5 seconds';
BEGIN
    IF EXISTS (SELECT 1 FROM change_outbox o WHERE o.recorded_at < late) THEN
        PERFORM set_config('synchronous_commit', 'off', true);
        DELETE FROM change_outbox o
         WHERE o.id IN (SELECT u.id FROM change_outbox u WHERE u.published_at < gone FOR UPDATE SKIP LOCKED);
        PERFORM config_service_notify_outbox(late);
    END IF;
    RETURN QUERY SELECT o.id, o.payload FROM change_outbox o ORDER BY o.id;
END
$$;
