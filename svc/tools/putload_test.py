import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tools import putload
from tools.putload import Side, Usage


def test_each_round_turns_the_order_so_that_a_drift_of_the_machine_moves_every_side_alike():
    a, b, c = Side("a", "u"), Side("b", "u"), Side("c", "u")
    assert [[side.name for side in putload.order([a, b, c], n)] for n in range(3)] == \
        [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"]]


def proc(tmp_path: Path, processes: dict[int, tuple[str, int, int, int]], machine: list[int]) -> Path:
    """A /proc of `processes` {pid: (name, process group, utime, stime)} and the machine's first `stat` line."""
    for pid, (name, group, utime, stime) in processes.items():
        (tmp_path / str(pid)).mkdir()
        # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        (tmp_path / str(pid) / "stat").write_text(
            f"{pid} ({name}) S 1 {group} {group} 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0\n")
    (tmp_path / "self").mkdir()  # (not a process: skipped)
    (tmp_path / "stat").write_text("cpu  " + " ".join(map(str, machine)) + "\ncpu0 1 2 3\n")
    return tmp_path


def test_usage_counts_the_group_s_processes_postgres_s_and_the_machine_s_idle(tmp_path):
    tick = putload.TICK
    root = proc(tmp_path, {100: ("python3", 100, 3 * tick, tick), 101: ("python3", 100, tick, 0),
                           200: ("postgres", 200, 2 * tick, tick), 201: ("postgres", 201, tick, 0),
                           300: ("wrk) (x", 300, 5 * tick, 0)},  # a name with ") (" in it
                [10 * tick, 0, 5 * tick, 20 * tick, 5 * tick, 0, 0, 0])
    assert putload.usage(100, root) == Usage(group=5.0, postgres=4.0, busy=15.0, idle=25.0)
    assert putload.usage(None, root).group == 0


def test_a_run_s_line_gives_the_cpu_of_each_put():
    side = Side("after", "u", group=1)
    text = putload.line(side, 1000.0, 1.5, 12.25, 0, Usage(group=0.5, postgres=0.25, busy=1.5, idle=0.5), 5)
    assert "1000/s" in text and "p99   12.25 ms" in text
    assert "service  100.0" in text and "postgres   50.0" in text and "machine  300.0" in text and "idle  25%" in text
    etcd = putload.line(Side("etcd", "u", etcd=True), 2000.0, None, None, 3, Usage(0, 0, 1.0, 0), 5)
    assert "service" not in etcd and "errors 3" in etcd


def test_the_summary_compares_each_side_with_the_first_and_with_etcd():
    before, after, etcd = (Side("before", "u", rates=[1000.0, 1200.0]), Side("after", "u", rates=[1320.0, 1320.0]),
                           Side("etcd", "u", etcd=True, rates=[2000.0, 2400.0]))
    lines = putload.summary([before, after, etcd])
    assert lines[0].split() == ["before:", "mean", "1100/s", "runs", "1000", "1200"]
    assert "after: 1.200x before, 0.600x etcd" in " ".join(lines)
    assert "before: 0.500x etcd" in " ".join(lines)
    assert not any(line.strip().startswith("etcd:") and "x etcd" in line for line in lines)


def test_the_puts_are_the_bench_s_rows_to_many_applications_or_to_one():
    assert putload.parse_args([]).query == putload.bench.PUT_SPREAD
    one = putload.parse_args(["--one-application"]).query
    assert one == putload.bench.PUT_ONE.format(application=putload.bench.app_id(1))
    assert f"application_id = '{putload.bench.app_id(1)}'" in one  # the application that owns 1,000


def test_a_build_is_a_folder_of_the_service(tmp_path):
    assert putload.parse_args([]).builds == [("here", str(putload.harness.SVC))]
    with pytest.raises(SystemExit):
        putload.parse_args(["--build", f"other={tmp_path}"])  # no main.py there
    with pytest.raises(SystemExit):
        putload.parse_args(["--build", str(putload.harness.SVC)])  # no name


def test_a_short_run_loads_each_side_in_turn_without_errors_and_leaves_nothing(database_url):
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install wrk (see .ci/run)")
        pytest.skip("wrk is not installed here (apt-get install -y wrk)")
    etcd = shutil.which("etcd") is not None
    svc = str(putload.harness.SVC)
    result = subprocess.run([sys.executable, "-m", "tools.putload", "--build", f"a={svc}", "--build", f"b={svc}",
                             "--in-memory", *(["--etcd"] if etcd else []), "--rounds", "2", "--seconds", "1",
                             "--connections", "8", "--applications", "50", "--configurations", "100"],
                            cwd=svc, env=putload.harness.child_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = [line.split()[2].rstrip(":") for line in result.stdout.splitlines() if line.startswith("round ")]
    sides = ["a", "b", "a-mem", *(["etcd"] if etcd else [])]
    assert runs == sides + sides[::-1], result.stdout  # each side once a round, the order turned
    assert all(" errors 0 " in line for line in result.stdout.splitlines() if line.startswith("round ")), \
        result.stdout
    assert "b: " in result.stdout and "x a" in result.stdout.split("b: mean")[1], result.stdout
    # Its database dropped (it is named by its pid: none of its kind is left by a run that ended).
    with psycopg2.connect(putload.harness.with_database(database_url, "postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'config\\_service\\_putload\\_%'")
        assert cur.fetchall() == []
