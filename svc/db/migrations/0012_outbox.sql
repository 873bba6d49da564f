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
-- leaves rows that the next round returns all the same, and that another worker's publisher publishes within a
-- second (as it does a write made in psql), so held requests elsewhere hear of it too.
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

-- Notify the committed rows nobody has published (a row another transaction holds is skipped, never waited for,
-- so two publishers cannot deadlock), at most 10,000 at a time, and delete the rows `done` that this publisher
-- notified in a transaction that has returned, and any row published over 5 seconds ago (its publisher died
-- before deleting it). Each notification is the row's payload after "#<id> ", so a listener that applied the row
-- from a round does not apply it again. The ids notified, for the next call's `done`. Every publisher calls it at
-- least once a second, so a row written in psql, or by a worker that died before publishing, is published too.
-- Its commit waits for no flush: nothing in it must survive a crash.
CREATE FUNCTION config_service_flush(done bigint[]) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    notified bigint[];
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM change_outbox o
     WHERE o.id IN (SELECT u.id FROM change_outbox u
                     WHERE u.id = ANY (done) OR u.published_at < clock_timestamp() - interval '5 seconds'
                       FOR UPDATE SKIP LOCKED);
    WITH claimed AS (
        UPDATE change_outbox o SET published_at = clock_timestamp()
         WHERE o.id IN (SELECT u.id FROM change_outbox u WHERE u.published_at IS NULL
                         ORDER BY u.id LIMIT 10000 FOR UPDATE SKIP LOCKED)
        RETURNING o.id
    )
    SELECT array_agg(c.id ORDER BY c.id) INTO notified FROM claimed c;
    -- pg_notify is volatile: PostgreSQL calls it after sorting, so the notifications go in the ids' order, which
    -- is the order the rows were written in.
    PERFORM pg_notify('config_service', '#' || o.id || ' ' || o.payload)
       FROM change_outbox o WHERE o.id = ANY (notified) ORDER BY o.id;
    RETURN COALESCE(notified, '{}');
END
$$;

-- A listener's sync round: every row still in the outbox (committed, and either not published yet or published
-- too recently to be known delivered); or, when there are over 1,000 (a bulk write, say 1,000,000 rows inserted
-- in psql), the one row (NULL, 'reset'): the listener then forgets its whole copy and wakes every waiter, which is
-- what the rows would make it do, without carrying them in every round's answer.
CREATE FUNCTION config_service_round() RETURNS TABLE (id bigint, payload text) LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM change_outbox LIMIT 1001) AS waiting) > 1000 THEN
        RETURN QUERY SELECT NULL::bigint, 'reset'::text;
    ELSE
        RETURN QUERY SELECT o.id, o.payload FROM change_outbox o ORDER BY o.id;
    END IF;
END
$$;
