-- A flush's claim of the rows not yet published updates them in place. Each claim set `published_at`, which both
-- of 0016's partial indexes name (in their conditions), so no claim was a HOT update: each row claimed got a new
-- version on another page and an entry in every index, and the next flush's deletion of the row, and VACUUM, went
-- through both. Under PUTs (two workers, 64 connections) the flushes cost about a third of PostgreSQL's time per
-- PUT, most of it the claim and the sweep (pg_stat_statements with `track = all`, 2026-12-05). Now the outbox has
-- only its primary key, and its pages are filled half on insert, so a claim finds room for the new version on its
-- row's page and adds no index entry.
--
-- Without 0016's indexes, what a flush reads is found through the primary key, in the ids' order: the live rows (a
-- few under writes) and the dead entries VACUUM has not yet removed (under a second of writes). The planner would
-- read the whole table instead: after a burst, VACUUM leaves the table its pages (0015), and from the table's
-- statistics (hundreds of pages, a few rows) a scan of all of them looks as cheap, but it reads every page: 1,082
-- pages for 11 rows, 3.2 ms, against 3 pages through the key (2026-12-05). The flush therefore plans with
-- sequential scans off. A flush's sweep of rows published over 5 seconds ago (their publisher died before deleting
-- them) and its claim are one scan. A sync round (`config_service_round`, 0012) still reads the whole table: once
-- VACUUM has emptied its pages that is cheap (23 µs a round on 986 empty pages), and forcing the key there cost 4-5
-- µs a round more, and 4% of the GETs at two workers and 16 connections (interleaved A/B, 2026-12-05).
DROP INDEX change_outbox_unpublished;
DROP INDEX change_outbox_published;
ALTER TABLE change_outbox SET (fillfactor = 50);

CREATE OR REPLACE FUNCTION config_service_flush(done bigint[]) RETURNS bigint[] LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    notified bigint[];
    stale bigint[];
    cutoff timestamptz := clock_timestamp() - interval '5 seconds';
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM change_outbox o
     WHERE o.id IN (SELECT u.id FROM change_outbox u WHERE u.id = ANY (done) FOR UPDATE SKIP LOCKED);
    -- A row another publisher holds is skipped; one it claimed and committed since this scan began is read again
    -- at its lock, as claimed, and passed over.
    SELECT array_agg(u.id ORDER BY u.id) FILTER (WHERE u.published_at IS NULL),
           array_agg(u.id) FILTER (WHERE u.published_at IS NOT NULL)
      INTO notified, stale
      FROM (SELECT s.id, s.published_at FROM change_outbox s
             WHERE s.published_at IS NULL OR s.published_at < cutoff
             ORDER BY s.id LIMIT 10000 FOR UPDATE SKIP LOCKED) u;
    IF stale IS NOT NULL THEN
        DELETE FROM change_outbox o WHERE o.id = ANY (stale);
    END IF;
    IF notified IS NOT NULL THEN
        UPDATE change_outbox o SET published_at = clock_timestamp() WHERE o.id = ANY (notified);
        -- pg_notify is volatile: PostgreSQL calls it after sorting, so the notifications go in the ids' order,
        -- which is the order the rows were written in.
        PERFORM pg_notify('config_service', '#' || o.id || ' ' || o.payload)
           FROM change_outbox o WHERE o.id = ANY (notified) ORDER BY o.id;
    END IF;
    RETURN COALESCE(notified, '{}');
END
$$;
