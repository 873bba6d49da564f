-- A statement's writes of configurations and overrides are recorded in the outbox as one row, its payload their
-- notifications of 0018 one to a line: a statement of 32 PUTs (db/loop.py's BATCH_MAX) made 32 rows, and each row
-- costs its own claim, notification and deletion in a flush (0017), its own message to every listener, and its own
-- decoding in every worker. Under PUTs at two workers and 64 connections the publishers' flushes took 17% of
-- PostgreSQL's CPU, 13.5 µs a PUT (by backend, 2026-12-06). What this won: svc/README.md, "Where a PUT's time goes".
--
-- What a row announces is unchanged: every row a statement inserted, updated or deleted (a cascade's included, an
-- upsert's in its INSERT's and its UPDATE's tables), each line a payload of 0004 and 0008; none when it wrote none.
-- A listener applies each line of a row as the notification it names (live/listener.py), and a row's id is still
-- the unit a round and a notification share. One of an earlier release, which knows one payload a row, reads such a
-- row as a change it does not know: it forgets its whole copy and wakes every waiter (live/keys.py), stale nowhere.
--
-- A notification's payload must be under 8,000 bytes, and a row's lines are cut into rows of about 4,000 bytes: a
-- line goes into the row its last byte falls in, counting 4,000 bytes a row, so a row is at most 4,000 bytes and one
-- line. A line is at most 93 bytes with the service's ids (an override's: three ULIDs and a version of 10 digits),
-- so a statement of 32 PUTs is one row, of at most 3 KB; but the columns are `varchar(26)`, characters, and psql
-- may write any: four bytes each, a line is at most 328 bytes, and a row with its id under 4,400. A row stays near
-- half a page or under, so a claim mostly writes its new version on the row's own page (0017), and under
-- `toast_tuple_target` it is never compressed on insert nor read back through TOAST. Each trigger function cuts its
-- own lines: one function taking them as an array would add a call and an array to every statement, and its
-- statement, with a parameter, could be planned again at each call, as the flush's were (below).
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
        SELECT l.line, l.k, (sum(octet_length(l.line) + 1) OVER (ORDER BY l.k) - 1) / 4000 AS part
          FROM (SELECT 'c ' || n.id || ' ' || n.application_id || ' ' || n.version AS line,
                       row_number() OVER () AS k
                  FROM written n) AS l) AS s
     GROUP BY s.part ORDER BY s.part;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION configurations_notify_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_outbox (payload)
    SELECT string_agg(s.line, E'\n' ORDER BY s.k) FROM (
        SELECT l.line, l.k, (sum(octet_length(l.line) + 1) OVER (ORDER BY l.k) - 1) / 4000 AS part
          FROM (SELECT 'c ' || o.id || ' ' || o.application_id || ' 0' AS line,
                       row_number() OVER () AS k
                  FROM gone o) AS l) AS s
     GROUP BY s.part ORDER BY s.part;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION overrides_notify_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_outbox (payload)
    SELECT string_agg(s.line, E'\n' ORDER BY s.k) FROM (
        SELECT l.line, l.k, (sum(octet_length(l.line) + 1) OVER (ORDER BY l.k) - 1) / 4000 AS part
          FROM (SELECT 'o ' || n.configuration_id || ' ' || n.application_id || ' ' || n.environment_id || ' '
                       || n.version AS line,
                       row_number() OVER () AS k
                  FROM written n) AS l) AS s
     GROUP BY s.part ORDER BY s.part;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION overrides_notify_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_outbox (payload)
    SELECT string_agg(s.line, E'\n' ORDER BY s.k) FROM (
        SELECT l.line, l.k, (sum(octet_length(l.line) + 1) OVER (ORDER BY l.k) - 1) / 4000 AS part
          FROM (SELECT 'o ' || o.configuration_id || ' ' || o.application_id || ' ' || o.environment_id || ' 0' AS line,
                       row_number() OVER () AS k
                  FROM gone o) AS l) AS s
     GROUP BY s.part ORDER BY s.part;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION config_service_round() RETURNS TABLE (id bigint, payload text) LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(sum(1 + octet_length(w.payload) - octet_length(replace(w.payload, E'\n', ''))), 0)
          FROM (SELECT o.payload FROM change_outbox o LIMIT 1001) AS w) > 1000 THEN
        RETURN QUERY SELECT NULL::bigint, 'reset'::text;
    ELSE
        RETURN QUERY SELECT o.id, o.payload FROM change_outbox o ORDER BY o.id;
    END IF;
END
$$;
