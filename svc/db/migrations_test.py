import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg2
import pytest

from db import migrations
from db.migrations import MigrationError
from tools import harness


@pytest.fixture
def empty_database(database_url):
    """A database of its own, empty, for one test."""
    url = harness.create_database(harness.with_database(database_url, f"migrations_test_{os.getpid()}"))
    yield url
    harness.drop_database(url)


def rows(url, query):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql)


def test_applies_in_order_and_records_each(empty_database, tmp_path):
    write(tmp_path, "0002_second.sql", "ALTER TABLE t ADD COLUMN b int;")
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    applied = migrations.migrate(empty_database, tmp_path)
    assert [m.file_name for m in applied] == ["0001_first.sql", "0002_second.sql"]
    recorded = rows(empty_database, "SELECT version, name, checksum, applied_at FROM migrations ORDER BY version")
    assert [(r[0], r[1]) for r in recorded] == [(1, "first"), (2, "second")]
    assert recorded[0][2] == applied[0].checksum and recorded[0][3].utcoffset().total_seconds() == 0


def test_rerun_applies_nothing(empty_database, tmp_path):
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    migrations.migrate(empty_database, tmp_path)
    assert migrations.migrate(empty_database, tmp_path) == []


def test_edited_applied_file_is_refused_by_name(empty_database, tmp_path):
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    migrations.migrate(empty_database, tmp_path)
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a bigint);")
    with pytest.raises(MigrationError, match="0001_first.sql"):
        migrations.migrate(empty_database, tmp_path)


def test_failing_file_leaves_no_trace(empty_database, tmp_path):
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    write(tmp_path, "0002_broken.sql", "CREATE TABLE u (b int); SELECT nonsense FROM nowhere;")
    with pytest.raises(MigrationError, match="0002_broken.sql"):
        migrations.migrate(empty_database, tmp_path)
    assert rows(empty_database, "SELECT version FROM migrations") == [(1,)]
    assert rows(empty_database, "SELECT to_regclass('u')") == [(None,)]


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_misnamed_file_is_an_error(tmp_path, name):
    write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name"):
        migrations.discover(tmp_path)


def test_duplicate_version_is_an_error(tmp_path):
    write(tmp_path, "0001_a.sql", "SELECT 1;")
    write(tmp_path, "0001_b.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="twice"):
        migrations.discover(tmp_path)


def test_the_project_migrations_build_the_schema(database_url):
    tables = {r[0] for r in rows(database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"applications", "configurations", "migrations"} <= tables


def test_five_concurrent_runners_apply_each_file_once(empty_database):
    env = harness.child_env(DATABASE_URL=empty_database)
    runners = [subprocess.Popen([sys.executable, "-m", "db.migrations"], cwd=Path(__file__).parent.parent, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(5)]
    codes = [r.wait(timeout=60) for r in runners]
    assert codes == [0] * 5
    expected = [(m.version,) for m in migrations.discover()]
    assert rows(empty_database, "SELECT version FROM migrations ORDER BY version") == expected


def test_main_reports_an_edited_file_and_exits_non_zero(empty_database, tmp_path, monkeypatch, capsys):
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    migrations.migrate(empty_database, tmp_path)
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a text);")
    monkeypatch.setenv("DATABASE_URL", empty_database)
    monkeypatch.setattr(migrations, "FOLDER", tmp_path)
    monkeypatch.setattr(migrations.migrate, "__defaults__", (tmp_path,))
    assert migrations.main([]) == 1
    assert "0001_first.sql" in capsys.readouterr().err


def test_main_exits_non_zero_when_the_database_is_unreachable(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:x@127.0.0.1:1/none")
    assert migrations.main([]) == 1
    assert "cannot reach the database" in capsys.readouterr().err


def test_arguments_are_parsed_before_anything_is_touched(monkeypatch, capsys):
    """`--help` applied every migration to the default database (a trial, with no DATABASE_URL set): now it and an
    unknown argument exit before the database is reached."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:x@127.0.0.1:1/none")  # reached: exit 1, not these
    for argv, code in ((["--help"], 0), (["--dry-run"], 2), (["extra"], 2)):
        with pytest.raises(SystemExit) as exited:
            migrations.main(argv)
        assert exited.value.code == code
    assert "--status" in capsys.readouterr().out


def test_status_lists_what_is_pending_and_changes_nothing(empty_database, tmp_path, monkeypatch, capsys):
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    write(tmp_path, "0002_second.sql", "CREATE TABLE u (a int);")
    monkeypatch.setenv("DATABASE_URL", empty_database)
    monkeypatch.setattr(migrations.migrate, "__defaults__", (tmp_path,))
    monkeypatch.setattr(migrations.status, "__defaults__", (tmp_path,))
    assert migrations.main(["--status"]) == 3
    assert capsys.readouterr().out == "migrations: 2 pending: 0001_first.sql, 0002_second.sql\n"
    assert rows(empty_database, "SELECT to_regclass('migrations') IS NULL, to_regclass('t') IS NULL") == [(True, True)]
    migrations.migrate(empty_database, tmp_path)
    assert migrations.main(["--status"]) == 0
    assert capsys.readouterr().out.endswith("migrations: 0 pending\n")
    write(tmp_path, "0002_second.sql", "CREATE TABLE u (a text);")  # edited after it was applied: a run refuses it
    assert migrations.main(["--status"]) == 1
    assert "0002_second.sql" in capsys.readouterr().err


def started(call) -> tuple[threading.Thread, list]:
    """`call()` on a thread of its own, started: the thread, and a list that gets what it returned or raised."""
    outcome = []

    def run():
        try:
            outcome.append(call())
        except Exception as error:  # the caller asserts which
            outcome.append(error)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def holding(url: str):
    """A transaction that read table `t` and stays open (a report, a psql session left open): it holds the table's
    ACCESS SHARE lock until it ends."""
    conn = psycopg2.connect(url, application_name="long-report")
    conn.cursor().execute("SELECT count(*) FROM t")
    return conn


def test_a_migration_behind_a_long_transaction_does_not_hold_up_the_tables_readers(empty_database, tmp_path,
                                                                                    monkeypatch):
    """ALTER TABLE waits for the open transaction's lock; every later statement on the table queues behind that
    wait. Bounded and tried again, it lets a reader through between attempts (a reader queued behind an unbounded
    wait finishes only when the long transaction ends), and applies once the transaction is over."""
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int); INSERT INTO t VALUES (1);")
    migrations.migrate(empty_database, tmp_path)
    write(tmp_path, "0002_add.sql", "ALTER TABLE t ADD COLUMN b int;")
    monkeypatch.setattr(migrations, "LOCK_WAITS", (0.2,) * 2000)  # tries until the transaction ends
    monkeypatch.setattr(migrations, "LOCK_PAUSE", 0.05)
    blocker = holding(empty_database)
    try:
        migrating, migrated = started(lambda: migrations.migrate(empty_database, tmp_path))
        harness.until(lambda: rows(empty_database, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                                   f"AND application_name = '{migrations.APPLICATION_NAME}' "
                                                   "AND datname = current_database()"),
                      "the migration waiting for the lock", within=30)
        reader, read = started(lambda: [rows(empty_database, "SELECT a FROM t") for _ in range(20)][-1])
        reader.join(timeout=30)
        assert not reader.is_alive(), "the reader queued behind the migration's wait for as long as it lasted"
        assert read == [[(1,)]]
        assert migrating.is_alive() and rows(empty_database, "SELECT version FROM migrations") == [(1,)]
    finally:
        blocker.close()
        migrating.join(timeout=60)
    assert [m.file_name for m in migrated[0]] == ["0002_add.sql"]
    assert rows(empty_database, "SELECT a, b FROM t") == [(1, None)]


def test_a_migration_whose_lock_stays_held_fails_naming_the_transaction_and_leaves_no_trace(empty_database, tmp_path,
                                                                                            monkeypatch):
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (a int);")
    migrations.migrate(empty_database, tmp_path)
    write(tmp_path, "0002_add.sql", "CREATE TABLE u (c int); ALTER TABLE t ADD COLUMN b int;")
    monkeypatch.setattr(migrations, "LOCK_WAITS", (0.05, 0.05, 0.1))
    monkeypatch.setattr(migrations, "LOCK_PAUSE", 0.05)
    idle = psycopg2.connect(empty_database, application_name="idle-reader")  # open longer, but holding no lock
    idle.cursor().execute("SELECT 1")
    blocker = holding(empty_database)
    try:
        migrating, failed = started(lambda: migrations.migrate(empty_database, tmp_path))
        migrating.join(timeout=60)
        assert not migrating.is_alive(), "the migration waited for the lock as long as the transaction lasted"
        assert len(failed) == 1 and isinstance(failed[0], MigrationError), failed
        message = str(failed[0])
        assert message.startswith("0002_add.sql was not applied: a lock it needs was held by another transaction")
        assert f"holding locks: pid {blocker.get_backend_pid()} (long-report, idle in transaction" in message
        assert "idle-reader" not in message and f"pid {idle.get_backend_pid()} " not in message
        assert f"pg_terminate_backend({blocker.get_backend_pid()})" in message
        assert rows(empty_database, "SELECT version FROM migrations") == [(1,)]
        assert rows(empty_database, "SELECT to_regclass('u')") == [(None,)]
    finally:
        blocker.close()
        idle.close()
    assert [m.file_name for m in migrations.migrate(empty_database, tmp_path)] == ["0002_add.sql"]
    assert rows(empty_database, "SELECT count(*) FROM information_schema.columns WHERE table_name = 't'") == [(2,)]


def test_versions_migration_gives_existing_rows_version_1_and_a_first_revision(empty_database, tmp_path):
    import shutil

    shutil.copy(migrations.FOLDER / "0001_initial.sql", tmp_path)
    migrations.migrate(empty_database, tmp_path)
    conn = psycopg2.connect(empty_database)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO applications VALUES ('01JD3B5ZQ6V2K9X4N8M7P1R0ST', 'a', NULL, now(), now())")
        cur.execute("INSERT INTO configurations VALUES ('01JD3B7M2W8Y6Q4T0V9X1Z3B5C', '01JD3B5ZQ6V2K9X4N8M7P1R0ST',"
                    " 'c', 'note', '{\"k\": 1}', now(), now())")
    conn.close()
    shutil.copy(migrations.FOLDER / "0002_versions_and_revisions.sql", tmp_path)
    migrations.migrate(empty_database, tmp_path)
    assert rows(empty_database, "SELECT version FROM applications") == [(1,)]
    assert rows(empty_database, "SELECT version FROM configurations") == [(1,)]
    assert rows(empty_database, "SELECT configuration_id, version, name, comments, config FROM configuration_revisions") \
        == [("01JD3B7M2W8Y6Q4T0V9X1Z3B5C", 1, "c", "note", '{"k": 1}')]  # jsonb reads back as its text


def test_name_rule_migration_stops_on_names_that_break_it_and_says_which(empty_database, tmp_path):
    import shutil

    from wire import names

    for path in sorted(migrations.FOLDER.glob("000[1-4]_*.sql")):
        shutil.copy(path, tmp_path)
    migrations.migrate(empty_database, tmp_path)
    conn = psycopg2.connect(empty_database)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO applications (id, name, created_at, updated_at, version) VALUES "
                    "('01JD3B5ZQ6V2K9X4N8M7P1R0ST', ' spaced', now(), now(), 1), "
                    "('01JD3B5ZQ6V2K9X4N8M7P1R0SV', 'fine', now(), now(), 1)")
        cur.execute("INSERT INTO configurations (id, application_id, name, created_at, updated_at, version) VALUES "
                    "('01JD3B7M2W8Y6Q4T0V9X1Z3B5C', '01JD3B5ZQ6V2K9X4N8M7P1R0SV', 'cafe\u0301', now(), now(), 1), "
                    "('01JD3B7M2W8Y6Q4T0V9X1Z3B5D', '01JD3B5ZQ6V2K9X4N8M7P1R0SV', 'tag\U000e0001', now(), now(), 1), "
                    "('01JD3B7M2W8Y6Q4T0V9X1Z3B5E', '01JD3B5ZQ6V2K9X4N8M7P1R0SV', 'ok name', now(), now(), 1)")
    conn.close()
    rule = migrations.FOLDER / "0005_name_rule.sql"
    assert f"'{names.PATTERN}'" in rule.read_text()  # the same rule as the service's
    shutil.copy(rule, tmp_path)
    with pytest.raises(MigrationError) as stopped:
        migrations.migrate(empty_database, tmp_path)
    message = str(stopped.value)
    assert "3 stored name(s) break the naming rule" in message and "HINT" in message
    for id in ("01JD3B5ZQ6V2K9X4N8M7P1R0ST", "01JD3B7M2W8Y6Q4T0V9X1Z3B5C", "01JD3B7M2W8Y6Q4T0V9X1Z3B5D"):
        assert id in message
    assert "01JD3B5ZQ6V2K9X4N8M7P1R0SV" not in message and "ok name" not in message
    conn = psycopg2.connect(empty_database)
    with conn, conn.cursor() as cur:  # what the hint says to do
        cur.execute("UPDATE applications SET name = normalize(btrim(name), NFC)")
        cur.execute("UPDATE configurations SET name = normalize(btrim(name), NFC)")
        cur.execute("UPDATE configurations SET name = 'tag' WHERE id = '01JD3B7M2W8Y6Q4T0V9X1Z3B5D'")
    conn.close()
    assert [m.file_name for m in migrations.migrate(empty_database, tmp_path)] == ["0005_name_rule.sql"]


def test_the_records_of_key_creations_made_before_0021_holding_secrets_are_deleted(empty_database, tmp_path):
    """Before 0021 a key's creation sent with an Idempotency-Key recorded its whole answer, secret included."""
    import shutil

    for path in sorted(migrations.FOLDER.glob("*.sql")):
        if path.name < "0021":
            shutil.copy(path, tmp_path)
    migrations.migrate(empty_database, tmp_path)
    conn = psycopg2.connect(empty_database)
    with conn, conn.cursor() as cur:
        for scope in ("01JD3D4M5N6P7Q8R9S0T1V2W3X POST /api/v1/keys", " POST /api/v1/keys", "ops POST /api/v1/keys",
                      "ops POST /api/v1/applications", "ops PUT /api/v1/keys/01JD3D4M5N6P7Q8R9S0T1V2W3X"):
            cur.execute("INSERT INTO idempotency_keys (scope, key, fingerprint, status, body) "
                        "VALUES (%s, 'k', '\\x00', 201, convert_to('{\"secret\": \"csk_x\"}', 'UTF8'))", (scope,))
    conn.close()
    shutil.copy(migrations.FOLDER / "0021_idempotency_records_without_secrets.sql", tmp_path)
    migrations.migrate(empty_database, tmp_path)
    assert rows(empty_database, "SELECT scope FROM idempotency_keys ORDER BY scope") == [
        ("ops POST /api/v1/applications",), ("ops PUT /api/v1/keys/01JD3D4M5N6P7Q8R9S0T1V2W3X",)]
