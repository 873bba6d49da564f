import asyncio
import contextlib
import os
import time

import psycopg2
import pytest

from db import migrations
from db.database import Database, idempotent
from db.publisher import Publisher
from tools import harness
from tools.harness import until


@contextlib.contextmanager
def own_url(database_url: str, name: str):
    """The URL of a database of its own, migrated, dropped after: a transaction of another test's open in the test
    database would keep deleted rows, and so the outbox's pages, from VACUUM (and its rows from a flush)."""
    url = harness.create_database(harness.with_database(database_url, f"{name}_{os.getpid()}"))
    try:
        migrations.migrate(url)
        yield url
    finally:
        harness.drop_database(url)


@contextlib.contextmanager
def own_database(database_url: str, name: str):
    """A cursor (autocommit) on a database of its own (`own_url`)."""
    with own_url(database_url, name) as url:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            yield conn.cursor()
        finally:
            conn.close()


def listening(database_url: str):
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    conn.cursor().execute("LISTEN config_service")
    return conn


def heard(conn, payload: str) -> bool:
    """Whether `payload` (after its "#<id> ") has been notified: a query's answer comes after every notification
    committed before it was sent."""
    conn.cursor().execute("SELECT 1")
    found = any(n.payload.partition(" ")[2] == payload and n.payload.startswith("#") for n in conn.notifies)
    return found


def recorded(sql, payload: str) -> int:
    sql.execute("SELECT count(*) AS n FROM change_outbox WHERE payload = %s", (payload,))
    return sql.fetchone()["n"]


def test_a_write_notifies_nothing_from_its_transaction_and_the_publisher_notifies_it_after_the_commit(
        settings, database_url, sql):
    # The transaction that NOTIFYs holds a cluster-wide lock through its commit's flush: a write must not.
    listener = listening(database_url)
    db = Database(settings)
    publisher = Publisher(db)
    sql.execute("INSERT INTO applications (id, name, created_at, updated_at, version) "
                "VALUES ('01PUBLISHER000000000000001', 'publisher-test', now(), now(), 1)")
    try:
        sql.execute("UPDATE applications SET version = version + 1 WHERE id = '01PUBLISHER000000000000001'")
        payload = "a 01PUBLISHER000000000000001 2"
        assert not heard(listener, payload)  # committed, and not notified
        assert recorded(sql, payload) == 1
        publisher.kick()
        until(lambda: heard(listener, payload), "the publisher notified the write")
        # The rows it notified go with its next flush, which it makes without being kicked again.
        until(lambda: recorded(sql, payload) == 0, "the published row deleted")
    finally:
        publisher.close()
        db.close()
        listener.close()
        sql.execute("DELETE FROM applications WHERE id = '01PUBLISHER000000000000001'")


def test_the_publisher_connects_again_after_its_connection_is_lost(settings, database_url, sql):
    listener = listening(database_url)
    db = Database(settings)
    publisher = Publisher(db)
    try:
        sql.execute("SELECT config_service_publish('k PUBLISHERKEY1')")
        publisher.kick()
        until(lambda: heard(listener, "k PUBLISHERKEY1"), "published")
        until(lambda: publisher._conn is not None and not publisher._done, "the publisher idle")
        sql.execute("SELECT pg_terminate_backend(%s)", (publisher._conn.get_backend_pid(),))
        sql.execute("SELECT config_service_publish('k PUBLISHERKEY2')")
        publisher.kick()
        until(lambda: heard(listener, "k PUBLISHERKEY2"), "published after the connection was lost")
    finally:
        publisher.close()
        db.close()
        listener.close()


def test_a_unit_of_work_that_may_have_written_kicks_the_publisher_and_a_read_does_not(settings):
    db = Database(settings)
    kicks = []
    db.written = lambda: kicks.append(1)

    def write(cur):
        cur.execute("SELECT 1")

    @idempotent
    def read(cur):
        cur.execute("SELECT 1")

    def fails(cur):
        cur.execute("SELECT 1")
        raise ValueError("after a statement")

    try:
        asyncio.run(db.run(read))
        assert kicks == []
        asyncio.run(db.run(write))
        assert kicks == [1]
        try:
            asyncio.run(db.run(fails, transaction=False))
        except ValueError:
            pass
        assert kicks == [1, 1]  # its statement may have committed
    finally:
        db.close()


def test_the_publisher_vacuums_the_outbox_after_many_deletions(settings, sql, monkeypatch):
    # Every sync round reads the whole outbox: its dead rows must go long before autovacuum's next visit.
    import db.publisher as publisher_module

    monkeypatch.setattr(publisher_module, "VACUUM_AFTER", 5)
    monkeypatch.setattr(publisher_module, "VACUUM_EVERY", 0.0)
    sql.execute("SELECT coalesce(vacuum_count, 0) AS n FROM pg_stat_user_tables WHERE relname = 'change_outbox'")
    before = sql.fetchone()["n"]
    db = Database(settings)
    publisher = Publisher(db)
    try:
        sql.execute("SELECT config_service_publish('k VACUUMKEY' || n) FROM generate_series(1, 10) n")
        publisher.kick()
        until(lambda: recorded(sql, "k VACUUMKEY1") == 0 and not publisher._done, "published and deleted")

        def vacuumed() -> bool:
            sql.execute("SELECT pg_stat_clear_snapshot()")
            sql.execute("SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'change_outbox'")
            return sql.fetchone()["n"] > before
        until(vacuumed, "the outbox vacuumed")
    finally:
        publisher.close()
        db.close()


def test_vacuum_leaves_the_outbox_its_pages_and_so_never_locks_out_the_writes(database_url):
    """Truncating a table's empty end takes an ACCESS EXCLUSIVE lock, which every write's outbox INSERT would wait
    for (and which, under writes, the publisher's VACUUM waited 50 ms at a time to get): the outbox is never
    truncated. A table like it without the setting is, under the same VACUUM: the check can fail."""
    with own_database(database_url, "outbox_truncate") as cur:
        def emptied_then_vacuumed(table: str) -> tuple[int, int]:
            cur.execute(f"INSERT INTO {table} (payload) "
                        "SELECT 'k TRUNCATEKEY' || n FROM generate_series(1, 2000) n")
            cur.execute(f"SELECT pg_relation_size('{table}')")
            full = cur.fetchone()[0]
            cur.execute(f"DELETE FROM {table}")
            cur.execute(f"VACUUM {table}")
            cur.execute(f"SELECT pg_relation_size('{table}')")
            return full, cur.fetchone()[0]

        cur.execute("CREATE UNLOGGED TABLE outbox_alike (payload text NOT NULL)")
        full, after = emptied_then_vacuumed("outbox_alike")
        assert after < full  # truncated: the end's empty pages went back
        full, after = emptied_then_vacuumed("change_outbox")
        assert after >= full > 0


def test_every_publisher_publishes_what_nobody_kicked_it_for_and_forgets_rows_published_long_ago(
        settings, database_url, sql):
    # A write made in psql, or left by a worker that died between its commit and its publication, is published by
    # the other workers' publishers; a row whose publisher died before deleting it goes after 5 seconds.
    listener = listening(database_url)
    sql.execute("INSERT INTO change_outbox (payload, recorded_at, published_at) VALUES "
                "('k GONEKEY1', clock_timestamp() - interval '9 seconds', clock_timestamp() - interval '6 seconds')")
    sql.execute("SELECT config_service_publish('k PSQLKEY1')")
    db = Database(settings)
    publisher = Publisher(db)  # never kicked
    try:
        until(lambda: heard(listener, "k PSQLKEY1"), "published without a kick")
        until(lambda: recorded(sql, "k GONEKEY1") == 0, "the row published long ago deleted")
    finally:
        publisher.close()
        db.close()
        listener.close()


def test_the_writes_made_while_the_publisher_gathers_are_published_by_one_flush(settings, database_url, sql,
                                                                                 monkeypatch):
    """After a flush the publisher lets GATHER pass before the next: the writes kicked meanwhile are published by
    one flush, not one each (each flush is a statement of the database's)."""
    from db import publisher as module
    monkeypatch.setattr(module, "GATHER", 3.0)  # longer than the writes below take on any machine that is not hung
    monkeypatch.setattr(module, "GATHER_MAX", 3.0)
    listener = listening(database_url)
    db = Database(settings)
    flushes = []
    flush = Publisher._flush

    def counted(self):
        before = self.published
        flush(self)
        if self.published > before:
            flushes.append(self.published - before)
    monkeypatch.setattr(Publisher, "_flush", counted)
    publisher = Publisher(db)
    ids = [f"01GATHER{n:018d}" for n in range(6)]
    try:
        sql.execute("INSERT INTO applications (id, name, created_at, updated_at, version) "
                    "VALUES (%s, 'gather-0', now(), now(), 1)", (ids[0],))
        publisher.kick()
        until(lambda: heard(listener, f"a {ids[0]} 1"), "the first write published")
        for n, id in enumerate(ids[1:], 1):  # while the publisher waits after that flush
            sql.execute("INSERT INTO applications (id, name, created_at, updated_at, version) "
                        "VALUES (%s, %s, now(), now(), 1)", (id, f"gather-{n}"))
            publisher.kick()
        until(lambda: all(heard(listener, f"a {id} 1") for id in ids), "every write published")
        # (a flush's NOTIFYs are heard at its commit, before its count is noted here: wait for the count too)
        until(lambda: sum(flushes) == len(ids), "every flush counted")
        assert flushes == [1, 5]
    finally:
        publisher.close(timeout=10)
        db.close()
        listener.close()
        sql.execute("DELETE FROM applications WHERE id = ANY(%s)", (ids,))


@pytest.mark.parametrize("workers", [1, 2, 8])
def test_after_a_flush_each_worker_s_publisher_waits_gather_times_the_workers_at_most_gather_max(
        settings, database_url, sql, monkeypatch, workers):
    """A flush publishes every worker's rows: with N workers each publisher lets N x GATHER pass after a flush, so
    that the workers' flushes together are fewer and fuller, but never more than GATHER_MAX, which bounds how long a
    write can wait to be published."""
    from db import publisher as module

    class Clock:  # the publisher's `time`, its waits recorded
        monotonic = staticmethod(time.monotonic)

        def __init__(self) -> None:
            self.slept: list[float] = []

        def sleep(self, seconds: float) -> None:
            self.slept.append(seconds)
            time.sleep(seconds)
    clock = Clock()
    monkeypatch.setattr(module, "time", clock)
    listener = listening(database_url)
    db = Database(settings)
    publisher = Publisher(db, workers=workers)
    id = f"01GATHERWORKERS{workers:011d}"
    try:
        sql.execute("INSERT INTO applications (id, name, created_at, updated_at, version) "
                    "VALUES (%s, %s, now(), now(), 1)", (id, f"gather-workers-{workers}"))
        publisher.kick()
        until(lambda: heard(listener, f"a {id} 1"), "the write published")
        until(lambda: clock.slept, "the wait after the flush")
        assert not set(clock.slept) & set(module.BACKOFF_SECONDS), "a flush failed: the publisher backed off"
        assert 2 * module.GATHER <= module.GATHER_MAX < 8 * module.GATHER
        assert clock.slept[0] == {1: module.GATHER, 2: 2 * module.GATHER, 8: module.GATHER_MAX}[workers]
    finally:
        publisher.close(timeout=10)
        db.close()
        listener.close()
        sql.execute("DELETE FROM applications WHERE id = %s", (id,))


def test_a_flush_reads_the_outbox_s_live_rows_not_every_page_a_burst_left_it(database_url):
    """The outbox keeps the pages a burst gave it (VACUUM never gives them back): a flush must find its rows through
    the key, reading a few pages, not the table's every one (it took 0.9 ms on 793 pages, most of them empty)."""
    with own_database(database_url, "outbox_pages") as cur:
        cur.execute("INSERT INTO change_outbox (payload) SELECT 'k BURSTKEY' || n || repeat('x', 100) "
                    "FROM generate_series(1, 40000) n")
        # Analyzed with a few rows live, as under writes: the planner then takes a read of every page for cheap.
        cur.execute("DELETE FROM change_outbox WHERE id <= (SELECT max(id) - 10 FROM change_outbox)")
        cur.execute("VACUUM ANALYZE change_outbox")
        cur.execute("DELETE FROM change_outbox")
        cur.execute("SELECT pg_relation_size('change_outbox') / current_setting('block_size')::int")
        pages = cur.fetchone()[0]
        assert pages > 500

        def pages_read(call: str) -> int:
            cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT {call}")
            plan = cur.fetchone()[0][0]["Plan"]
            return plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]

        cur.execute("SELECT config_service_publish('k LIVEKEY' || n) FROM generate_series(1, 5) n")
        cur.execute("INSERT INTO change_outbox (payload, recorded_at, published_at) VALUES "
                    "('k OLDKEY', now() - interval '9 seconds', now() - interval '6 seconds')")
        cur.execute("SELECT config_service_flush('{}'::bigint[])")  # (its statements planned once)
        notified = cur.fetchone()[0]
        assert len(notified) == 5
        cur.execute("SELECT config_service_publish('k NEWKEY' || n) FROM generate_series(1, 5) n")
        flush_read = pages_read(f"config_service_flush('{{{','.join(map(str, notified))}}}'::bigint[])")
        # (Before migration 0016: 4,180 of 817 pages, a DELETE's and the claim's scans of the whole table; with
        # its indexes, 167, planning included. Planned as it likes, the flush of 0017 reads the whole table.)
        assert flush_read < pages / 2, (flush_read, pages)
        cur.execute("SELECT payload FROM change_outbox ORDER BY id")
        assert [payload for (payload,) in cur.fetchall()] == [f"k NEWKEY{n}" for n in range(1, 6)]
        cur.execute("SELECT count(*) FROM change_outbox WHERE published_at IS NOT NULL")
        assert cur.fetchone()[0] == 5  # claimed and notified; deleted by the next flush


def test_a_flush_claims_its_rows_in_place_adding_no_index_entries(database_url):
    """A claim sets the rows' `published_at`: with no index naming it and room on the rows' pages (filled half on
    insert), it is a HOT update, a new version on the same page and no new index entry (migration 0017), where before
    each claimed row was written again elsewhere, with an entry in every index, for the next flush and VACUUM to go
    through. 400 rows of a PUT's payload's size fill several pages; on full pages almost no claim would be HOT."""
    with own_database(database_url, "outbox_hot") as cur:
        cur.execute("SELECT config_service_publish('c 01CLAIMCONFIGURATION0000' || lpad(n::text, 3, '0') "
                    "|| ' 01CLAIMAPPLICATION00000001 ' || n) FROM generate_series(1, 400) n")
        cur.execute("SELECT pg_relation_size('change_outbox') / current_setting('block_size')::int")
        assert cur.fetchone()[0] >= 5
        cur.execute("BEGIN")
        cur.execute("SELECT cardinality(config_service_flush('{}'::bigint[]))")
        assert cur.fetchone()[0] == 400
        cur.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'change_outbox'")
        updated, hot = cur.fetchone()
        assert updated == 400 and hot >= 0.9 * updated, (updated, hot)
        cur.execute("COMMIT")
        cur.execute("SELECT count(*) FROM change_outbox WHERE published_at IS NOT NULL")
        assert cur.fetchone()[0] == 400


def test_two_publishers_flushing_at_once_never_notify_a_row_twice_nor_wait_for_each_other(database_url):
    """A flush skips the rows another flush holds (never waits for them), and a row the other claimed and committed
    is not claimed again: each row is notified by one publisher. A stale row the other holds is left to it."""
    with own_url(database_url, "outbox_two") as url:
        first, second = psycopg2.connect(url), psycopg2.connect(url)
        second.autocommit = True
        try:
            one, other = first.cursor(), second.cursor()
            other.execute("SELECT config_service_publish('k TWOKEY' || n) FROM generate_series(1, 5) n")
            other.execute("INSERT INTO change_outbox (payload, recorded_at, published_at) VALUES "
                          "('k STALEKEY', now() - interval '9 seconds', now() - interval '6 seconds')")
            one.execute("SELECT config_service_flush('{}'::bigint[])")  # its transaction left open
            assert len(one.fetchone()[0]) == 5
            other.execute("SET lock_timeout = '10s'")  # (a flush that waited would fail here, not hang)
            other.execute("SELECT config_service_flush('{}'::bigint[])")
            assert other.fetchone()[0] == []
            first.commit()
            other.execute("SELECT config_service_flush('{}'::bigint[])")
            assert other.fetchone()[0] == []
            other.execute("SELECT payload, published_at IS NOT NULL FROM change_outbox ORDER BY id")
            assert other.fetchall() == [(f"k TWOKEY{n}", True) for n in range(1, 6)]  # the stale row swept by one
        finally:
            first.close()
            second.close()


def test_a_statement_of_many_writes_records_each_in_the_outbox_by_statement_in_the_order_of_the_statements(
        database_url):
    """Writes of configurations and overrides are recorded by one INSERT at each statement's end, from its
    transition table (migration 0018), in one outbox row a line each (0019): every row a statement wrote, inserted,
    updated (an upsert's either way: a row for each) or deleted, cascades included, with the payloads of 0004 and
    0008, and the statements' rows in the statements' order; a statement that wrote nothing records nothing."""
    app, env = "01STATEMENTAPP000000000001", "01STATEMENTENV000000000001"
    configs = [f"01STATEMENTCFG00000000000{n}" for n in range(1, 4)]
    with own_database(database_url, "outbox_statement") as cur:
        cur.execute("INSERT INTO applications (id, name, created_at, updated_at, version) "
                    "VALUES (%s, 'statement', now(), now(), 1)", (app,))
        cur.execute("INSERT INTO environments (id, name, created_at, updated_at, version) "
                    "VALUES (%s, 'prod', now(), now(), 1)", (env,))
        cur.execute("DELETE FROM change_outbox")
        cur.execute("INSERT INTO configurations (id, application_id, name, created_at, updated_at, version) "
                    "SELECT c, %s, 'name-' || c, now(), now(), 1 FROM unnest(%s::text[]) c", (app, configs))
        cur.execute("INSERT INTO overrides (configuration_id, environment_id, application_id, patch, created_at, "
                    "updated_at, version) SELECT c, %s, %s, '{}', now(), now(), 1 FROM unnest(%s::text[]) c",
                    (env, app, configs[:2]))
        cur.execute("UPDATE configurations SET version = version + 1 WHERE id = ANY (%s)", (configs[1:],))
        cur.execute("UPDATE configurations SET version = version + 1 WHERE false")  # writes nothing
        cur.execute("UPDATE overrides SET version = 5 WHERE configuration_id = %s", (configs[0],))
        cur.execute("INSERT INTO overrides AS o (configuration_id, environment_id, application_id, patch, created_at, "
                    "updated_at, version) SELECT c, %s, %s, '{}', now(), now(), 1 FROM unnest(%s::text[]) c "
                    "ON CONFLICT (configuration_id, environment_id) DO UPDATE SET version = o.version + 1",
                    (env, app, configs[1:]))  # an upsert (as a PUT of an override): one updated, one inserted
        cur.execute("DELETE FROM applications WHERE id = %s", (app,))  # its configurations and overrides with it
        cur.execute("SELECT payload FROM change_outbox ORDER BY id")
        rows = [payload.split("\n") for (payload,) in cur.fetchall()]
    # Each statement's rows, each row the set of its lines.
    statements = [
        [{f"c {c} {app} 1" for c in configs}],
        [{f"o {c} {app} {env} 1" for c in configs[:2]}],
        [{f"c {c} {app} 2" for c in configs[1:]}],
        [{f"o {configs[0]} {app} {env} 5"}],
        [{f"o {configs[1]} {app} {env} 2"}, {f"o {configs[2]} {app} {env} 1"}],  # the UPDATE's, the INSERT's
        [{f"a {app} 0"}, {f"c {c} {app} 0" for c in configs}, {f"o {c} {app} {env} 0" for c in configs}],
    ]
    assert all(len(set(lines)) == len(lines) for lines in rows), rows
    assert len(rows) == sum(map(len, statements)), rows
    start = 0
    for made in statements:
        found = [set(lines) for lines in rows[start:start + len(made)]]
        assert sorted(found, key=sorted) == sorted(made, key=sorted), rows
        start += len(made)


@pytest.mark.parametrize("ids", ["ULIDs", "four bytes a character"])
def test_a_statement_of_many_writes_records_them_in_rows_of_about_4000_bytes_each_notified_whole(database_url, ids):
    """A statement's writes go into rows of at most 4,000 bytes and one line (migration 0019), so that a notification
    stays under PostgreSQL's 8,000 bytes whatever ids psql wrote (the columns count characters; four bytes each, a
    line of an override is 327 bytes), and each row is notified with every line of it, once."""
    if ids == "ULIDs":
        app, env = "01ROWSAPP00000000000000001", "01ROWSENV00000000000000001"
        configs = [f"01ROWSCFG00000000000000{n:03d}" for n in range(70)]
    else:
        app, env = "\U0001F600" * 26, "\U0001F601" * 26
        configs = [chr(0x1F300 + n) + "\U0001F602" * 25 for n in range(70)]
    with own_url(database_url, "outbox_rows") as url, contextlib.closing(psycopg2.connect(url)) as conn:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("INSERT INTO applications (id, name, created_at, updated_at, version) "
                    "VALUES (%s, 'rows', now(), now(), 1)", (app,))
        cur.execute("INSERT INTO environments (id, name, created_at, updated_at, version) "
                    "VALUES (%s, 'prod', now(), now(), 1)", (env,))
        cur.execute("INSERT INTO configurations (id, application_id, name, created_at, updated_at, version) "
                    "SELECT c, %s, 'name-' || c, now(), now(), 1 FROM unnest(%s::text[]) c", (app, configs))
        cur.execute("DELETE FROM change_outbox")
        cur.execute("INSERT INTO overrides (configuration_id, environment_id, application_id, patch, created_at, "
                    "updated_at, version) SELECT c, %s, %s, '{}', now(), now(), 2147483647 "
                    "FROM unnest(%s::text[]) c", (env, app, configs))
        cur.execute("SELECT payload FROM change_outbox ORDER BY id")
        payloads = [payload for (payload,) in cur.fetchall()]
        listener = listening(url)
        try:
            cur.execute("SELECT config_service_flush('{}')")
            listener.cursor().execute("SELECT 1")  # a query's answer comes after every notification before it
            notified = [n.payload.partition(" ")[2] for n in listener.notifies]
        finally:
            listener.close()
    lines = [line for payload in payloads for line in payload.split("\n")]
    assert sorted(lines) == sorted(f"o {c} {app} {env} 2147483647" for c in configs)
    longest = max(len(line.encode()) for line in lines)
    assert longest == (93 if ids == "ULIDs" else 327)
    assert all(len(payload.encode()) <= 4000 + longest for payload in payloads)
    assert len(payloads) == -(-sum(len(line.encode()) + 1 for line in lines) // 4000)  # each as full as it can be
    assert notified == payloads
