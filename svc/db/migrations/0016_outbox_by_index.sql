-- The outbox is found by its indexes, not by reading the whole table. VACUUM never gives its pages back (0015), so
-- after a burst the table keeps the size the burst gave it, with a few live rows in it: a flush's DELETE (its
-- condition an OR, which no index served) and its claim of the rows not yet published each read every page. With
-- 793 pages of 6 live rows left by the bench's earlier rows, a flush took 0.9 ms, most of it that scan (2026-12-04).
-- Now each statement names rows an index finds: those a flush notified by their ids, those published over 5 seconds
-- ago by the time of their publication, and those not published by a partial index in the ids' order. A flush on a
-- table of 817 pages and 10 live rows read 4,180 pages before, 167 now (db/publisher_test.py).
CREATE INDEX change_outbox_unpublished ON change_outbox (id) WHERE published_at IS NULL;
CREATE INDEX change_outbox_published ON change_outbox (published_at) WHERE published_at IS NOT NULL;

CREATE OR REPLACE FUNCTION config_service_flush(done bigint[]) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    notified bigint[];
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM change_outbox o
     WHERE o.id IN (SELECT u.id FROM change_outbox u WHERE u.id = ANY (done) FOR UPDATE SKIP LOCKED);
    DELETE FROM change_outbox o
     WHERE o.id IN (SELECT u.id FROM change_outbox u
                     WHERE u.published_at < clock_timestamp() - interval '5 seconds' FOR UPDATE SKIP LOCKED);
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
