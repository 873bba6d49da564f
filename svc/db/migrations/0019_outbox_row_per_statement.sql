-- A statement's writes of configurations and overrides are recorded in the outbox as one row, its payload their
-- notifications of 0018 one to a line, up to 32 lines a row: a statement of 32 PUTs (db/loop.py's BATCH_MAX)
-- made 32 rows, and each row costs its own claim, notification and deletion in a flush (0017), its own message to
-- every listener, and its own decoding in every worker. Under PUTs at two workers and 64 connections the publishers'
-- flushes took 17% of PostgreSQL's CPU, 13.5 µs a PUT (by backend, 2026-12-06). What this won: svc/README.md, "Where
-- a PUT's time goes".
--
-- What a row announces is unchanged: every row a statement inserted, updated or deleted (a cascade's included, an
-- upsert's in its INSERT's and its UPDATE's tables), each line a payload of 0004 and 0008; none when it wrote none.
-- A listener applies each line of a row as the notification it names (live/listener.py), and a row's id is still
-- the unit a round and a notification share. One of an earlier release, which knows one payload a row, reads such a
-- row as a change it does not know: it forgets its whole copy and wakes every waiter (live/keys.py), stale nowhere.
--
-- A notification's payload must be under 8,000 bytes: a line is at most 93 bytes (an override's, three ids of 26
-- characters and a version of 10 digits), so a row of 32 lines and its id are at most about 3 KB. A row stays under
-- half a page, so a claim still writes its new version on the row's own page (0017), and under `toast_tuple_target`
-- it is never compressed on insert nor read back through TOAST.
--
-- Each trigger function says so itself: one function that took the lines as a parameter would be planned anew at
-- each call, as the flush was (below).
--
-- A sync round forgets everything instead of applying what is waiting once over 1,000 changes are (0012): it now
-- counts the lines of the rows, not the rows.
ALTER TABLE change_outbox SET (toast_tuple_target = 8160);

-- A flush's statements take the function's arrays and times as parameters, so PL/pgSQL planned each of them anew at
-- every flush: a flush of two rows, one after another on one connection, cost PostgreSQL 220-230 µs of CPU, 103-107
-- with the plans kept (2026-12-06), and under PUTs there are hundreds of flushes a second. Their generic plans
-- read the outbox through its key, as the custom ones did (sequential scans are off in the flush: 0017).
ALTER FUNCTION config_service_flush(bigint[]) SET plan_cache_mode = force_generic_plan;

CREATE OR REPLACE FUNCTION configurations_notify_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_outbox (payload)
    SELECT string_agg(s.line, E'\n' ORDER BY s.k) FROM (
        SELECT 'c ' || n.id || ' ' || n.application_id || ' ' || n.version AS line, row_number() OVER () - 1 AS k
          FROM written n) AS s
     GROUP BY s.k / 32 ORDER BY s.k / 32;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION configurations_notify_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_outbox (payload)
    SELECT string_agg(s.line, E'\n' ORDER BY s.k) FROM (
        SELECT 'c ' || o.id || ' ' || o.application_id || ' 0' AS line, row_number() OVER () - 1 AS k
          FROM gone o) AS s
     GROUP BY s.k / 32 ORDER BY s.k / 32;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION overrides_notify_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_outbox (payload)
    SELECT string_agg(s.line, E'\n' ORDER BY s.k) FROM (
        SELECT 'o ' || n.configuration_id || ' ' || n.application_id || ' ' || n.environment_id || ' ' || n.version
                   AS line,
               row_number() OVER () - 1 AS k
          FROM written n) AS s
     GROUP BY s.k / 32 ORDER BY s.k / 32;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION overrides_notify_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_outbox (payload)
    SELECT string_agg(s.line, E'\n' ORDER BY s.k) FROM (
        SELECT 'o ' || o.configuration_id || ' ' || o.application_id || ' ' || o.environment_id || ' 0' AS line,
               row_number() OVER () - 1 AS k
          FROM gone o) AS s
     GROUP BY s.k / 32 ORDER BY s.k / 32;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION config_service_round() RETURNS TABLE (id bigint, payload text) LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(sum(1 + length(w.payload) - length(replace(w.payload, E'\n', ''))), 0)
          FROM (SELECT o.payload FROM change_outbox o LIMIT 1001) AS w) > 1000 THEN
        RETURN QUERY SELECT NULL::bigint, 'reset'::text;
    ELSE
        RETURN QUERY SELECT o.id, o.payload FROM change_outbox o ORDER BY o.id;
    END IF;
END
$$;
