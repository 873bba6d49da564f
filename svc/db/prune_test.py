import argparse

import pytest

from db import prune
from repositories import applications, configurations


def test_moment_needs_an_offset():
    assert prune.moment("2026-01-01T00:00:00Z").utcoffset() is not None
    for text in ("2026-01-01T00:00:00", "yesterday"):
        with pytest.raises(argparse.ArgumentTypeError):
            prune.moment(text)


def test_main_prunes_the_database_of_the_settings_and_says_what_it_dropped(cur, database_url, monkeypatch, capsys):
    app_id = applications.create(cur, name="billing", comments=None)["id"]
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"v": 1})
    configurations.update(cur, made["id"], name="db", comments=None, config={"v": 2})
    cur.execute("SELECT clock_timestamp() AS now")
    now = cur.fetchone()["now"]
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert prune.main(["--before", now.isoformat()]) == 0
    assert capsys.readouterr().out == ("prune: 1 application cut, 1 configuration revision and 0 override "
                                       "revisions dropped\n")
    cur.execute("SELECT version FROM configuration_revisions")
    assert [row["version"] for row in cur.fetchall()] == [2]  # the current state stays


def test_a_time_in_the_future_drops_nothing(cur, database_url, monkeypatch, capsys):
    app_id = applications.create(cur, name="billing", comments=None)["id"]
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={"v": 1})
    configurations.update(cur, made["id"], name="db", comments=None, config={"v": 2})
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert prune.main(["--before", "2099-01-01T00:00:00Z"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("prune: 2099-01-01T00:00:00+00:00 is in the future") and "nothing was dropped" in err
    cur.execute("SELECT version FROM configuration_revisions ORDER BY version")
    assert [row["version"] for row in cur.fetchall()] == [1, 2]
