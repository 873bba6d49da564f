import os
import shutil
import subprocess
import sys

import pytest

from tools import bench, harness

WRK = """Running 10s test @ http://127.0.0.1:8011
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    41.20ms   10.01ms 120.00ms   70.00%
  Latency Distribution
     50%  812.00us
     75%   45.00ms
     90%   55.00ms
     99%    1.20s
  15000 requests in 10.00s, 10.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   1500.50
Transfer/sec:      1.00MB
"""


def test_parse_wrk_reads_rate_percentiles_in_ms_and_every_error():
    assert bench.parse_wrk(WRK) == (1500.50, 0.812, 1200.0, 12)


def test_a_row_of_refusals_counts_as_errors_the_answers_that_were_not_401():
    refused = WRK.replace("Non-2xx or 3xx responses: 7", "Non-2xx or 3xx responses: 15000") + "Not 401: 2\n"
    assert bench.parse_wrk(refused) == (1500.50, 0.812, 1200.0, 5 + 2)  # socket errors, and answers not 401


def test_the_first_row_after_a_service_starts_warms_up_longer(monkeypatch, tmp_path):
    # A service just started answers slower for its first seconds: a 1-s warm-up measured that, not the service.
    monkeypatch.setattr(bench.harness, "start", lambda *args, **kwargs: object())
    runs = []

    def wrk(command, **kwargs):
        runs.append(command[command.index("-d") + 1])
        return subprocess.CompletedProcess(command, 0, stdout=WRK, stderr="")

    monkeypatch.setattr(bench.subprocess, "run", wrk)
    b = bench.Bench(bench.parse_args(["--warmup", "1", "--duration", "5"]))
    try:
        base = b._start(["service"], {}, 1, "/health")
        b.wrk("GET /configurations/{id}", base, 16)
        b.wrk("GET /configurations/{id}", base, 64)
        b._start(["another"], {}, 2, "/health")
        b.wrk("GET /configurations/{id}", base, 16)
    finally:
        b.processes.clear()
        b.close()
    # warm-up then measured run, per row
    assert runs == [f"{bench.START_WARMUP}s", "5s", "1s", "5s", f"{bench.START_WARMUP}s", "5s"]


def test_the_service_written_in_memory_runs_for_its_own_row_alone(monkeypatch):
    # Left running beside the PUT rows, it heard each of their writes (its listener, one more for PostgreSQL to
    # notify) and took CPU from the service measured: 4-12% of its PUTs.
    started, stopped, live_at_wrk = [], [], []
    monkeypatch.setattr(bench.harness, "start", lambda command, **kwargs: started.append(command) or object())
    monkeypatch.setattr(bench.harness, "stop", lambda process, **kwargs: stopped.append(process))

    def wrk(command, **kwargs):
        live_at_wrk.append(len(b.processes))
        return subprocess.CompletedProcess(command, 0, stdout=WRK, stderr="")

    monkeypatch.setattr(bench.subprocess, "run", wrk)
    b = bench.Bench(bench.parse_args(["--warmup", "1", "--duration", "5"]))
    try:
        b.in_memory({"DATABASE_URL": "postgresql://x/y"}, 64, 2, lambda: ["ids.txt", "2"])
    finally:
        b.close()
    assert [command[1:3] for command in started] == [["-m", "tools.inmemory"]]
    assert live_at_wrk == [1, 1] and len(stopped) == 1 and b.processes == []  # up for its row (warm-up, run), then gone
    assert [(row.scenario, row.connections, row.workers) for row in b.rows] == [(bench.PUT_IN_MEMORY, 64, 2)]


def test_a_target_s_pair_interleaves_its_two_loads_and_takes_the_mean_rate_of_each(monkeypatch):
    # The machine slows down run after run (1,000 requests a second less each time): interleaved base, over, over,
    # base, the slowing falls on both sides alike. Rows one after the other would have made it 0.5.
    runs = []

    def wrk(command, **kwargs):
        runs.append((command[command.index("-s") + 1].rsplit("/", 1)[-1], command[command.index("-d") + 1],
                     command[command.index("--") + 1:]))
        rate = 8000 - 1000 * (len(runs) - 1)
        wrong = "Non-2xx or 3xx responses: 3" if len(runs) == 3 else "Non-2xx or 3xx responses: 0"
        out = WRK.replace("1500.50", str(rate)).replace("Non-2xx or 3xx responses: 7", wrong)
        return subprocess.CompletedProcess(command, 0, stdout=out.replace("read 3,", "read 0,").replace(
            "timeout 2", "timeout 0"), stderr="")

    monkeypatch.setattr(bench.subprocess, "run", wrk)
    monkeypatch.setattr(bench.time, "sleep", lambda seconds: None)
    versions = iter(range(100))
    b = bench.Bench(bench.parse_args(["--pair-rounds", "2", "--pair-seconds", "3"]))
    try:
        measured = b.pair(bench.OVERRIDE_OVER_PUT, 2, 64, ("http://a", "put_override.lua", lambda: [f"v{next(versions)}"]),
                          ("http://a", "put.lua", ["ids.txt", "2"]))
    finally:
        b.close()
    assert runs == [("put.lua", "3s", ["ids.txt", "2"]), ("put_override.lua", "3s", ["v0"]),
                    ("put_override.lua", "3s", ["v1"]), ("put.lua", "3s", ["ids.txt", "2"])]
    assert (measured.over, measured.base, measured.ratio, measured.runs, measured.errors) == (6500, 6500, 1.0, 2, 3)
    assert b.pairs == [measured]
    assert "| pair: override PUT / configuration PUT | 2 | 64 | 6,500 | 6,500 | 1.00 | 2 x 3 s | 3 |" in \
        bench.pairs_markdown(b.pairs)


def test_a_target_with_a_pair_takes_the_pair_s_ratio_and_says_so():
    rows = [bench.Row(bench.UNKNOWN_TOKEN, 64, 2000, 1, 2, 0), bench.Row(bench.WRONG_SECRET, 64, 1200, 1, 2, 0),
            bench.Row(bench.UNKNOWN_TOKEN, 16, 2000, 1, 2, 0), bench.Row(bench.WRONG_SECRET, 16, 1200, 1, 2, 0)]
    pairs = [bench.Pair(bench.WRONG_OVER_UNKNOWN, 1, 64, 1900, 2000, 2, 2)]
    measured = [(t.connections, round(t.measured, 2), t.met, t.source) for t in bench.targets(rows, [], (), pairs)]
    assert measured == [(64, 0.95, True, "interleaved"), (16, 0.6, False, "rows")]
    assert "| target: 401: wrong secret / unknown token | 1 | 64 | 0.95 | 0.90 to 1.10 | yes | interleaved |" in \
        bench.targets_markdown(bench.targets(rows, [], (), pairs))


def test_parse_pgbench():
    out = "latency average = 0.712 ms\ninitial connection time = 10.1 ms\ntps = 22373.118 (without initial connection time)\n"
    assert bench.parse_pgbench(out) == (22373.118, 0.712)


def test_seeded_ids_are_valid_ulid_strings_and_distinct():
    from wire import ulids

    assert ulids.PATTERN.fullmatch(bench.app_id(1)) and ulids.PATTERN.fullmatch(bench.config_id(10_000))
    assert bench.app_id(5) != bench.config_id(5)


def test_markdown_table_has_a_row_per_measurement():
    rows = [bench.Row("ceiling: constant JSON", 16, 10000, 1.0, 2.0, 0, 1.0, workers=2),
            bench.Row("GET /configurations/{id}", 16, 9000, 1.0, 2.0, 0, 0.9, workers=2, vs_etcd=1.1),
            bench.Row("pgbench primary-key SELECT", 16, 20000, 0.7, None, 0, workers=0)]
    table = bench.markdown(rows, {"date": "2026-11-23", "machine": "m", "workers": "1,2", "duration": 10, "warmup": 2})
    assert "| ceiling: constant JSON | 2 | 16 | 10,000 | 1.00 | 2.00 | 0 | 1.00 | - |" in table
    assert "| GET /configurations/{id} | 2 | 16 | 9,000 | 1.00 | 2.00 | 0 | 0.90 | 1.10 |" in table
    assert "| pgbench primary-key SELECT | - | 16 | 20,000 | 0.70 (avg) | - | 0 | - | - |" in table


def test_the_header_says_how_the_kernel_shared_the_cores(tmp_path):
    # Session autogroups move the rows that read from the database (their p99 to hundreds of ms): a reader of the
    # results must know whether they were on.
    setting = tmp_path / "sched_autogroup_enabled"
    setting.write_text("1\n")
    assert bench.scheduler(setting) == "the kernel's session autogroups on"
    setting.write_text("0\n")
    assert bench.scheduler(setting) == "the kernel's session autogroups off"
    assert bench.scheduler(tmp_path / "absent") == "the kernel's session autogroups not known"
    meta = {"date": "2026-12-05", "machine": "m", "workers": "1,2", "duration": 5, "warmup": 1,
            "scheduler": bench.scheduler(setting)}
    assert bench.markdown([], meta).splitlines()[0].endswith(
        f"after a 1 s warm-up (the first after a service starts, {bench.START_WARMUP} s), everything on 127.0.0.1; "
        "the kernel's session autogroups off.")
    assert "0 s warm-up, everything" in bench.markdown([], {**meta, "warmup": 0}).splitlines()[0]  # (the smoke run)


def test_smoke_run_measures_every_row_without_errors(database_url):
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install wrk (see .ci/run)")
        pytest.skip("wrk is not installed here (apt-get install -y wrk)")
    result = subprocess.run([sys.executable, "-m", "tools.bench", "--smoke"], cwd=harness.SVC, env=harness.child_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    goals = [line for line in lines if line.startswith("| target: ")]
    timed = [line for line in lines if line.startswith("| timed: ")]
    pairs = [line for line in lines if line.startswith("| pair: ")]
    lines = [line for line in lines if not line.startswith(("| target", "| scenario", "| watch |", "| timed",
                                                            "| operation |", "| pair"))]
    table = [line for line in lines if "waiters" not in line]
    watch = [line for line in lines if "waiters" in line]
    # Per worker count (1 and 2): ceiling, GET, GET with a scoped managed key, 401 for an unknown token and for a
    # wrong secret, GET with the read cache off and the reads of the past by seq and by at, the effective view, 304,
    # application, list page, PUT of a configuration to many applications (and the same written in memory) and to
    # one, and of an override; then the big list page, pgbench, and etcd's reads and, beside each worker count's PUT
    # row (just before it and just after it), its puts where it is installed.
    etcd = [line for line in table if line.startswith("| etcd")]
    assert len(etcd) == (1 + 2 * 2 if shutil.which("etcd") else 0)
    assert len(table) == 2 * 16 + 2 + len(etcd) and len(watch) == 2 * 4  # the waiters, per worker count too
    puts = [line for line in table if line.startswith(("| PUT /configurations/{id} If-Match", "| etcd put"))]
    assert [(line.split("|")[1].strip(), line.split("|")[2].strip()) for line in puts] == [
        *([(bench.ETCD_PUT, "1")] if etcd else []), (bench.PUT, "1"), *([(bench.ETCD_PUT_AFTER, "1")] if etcd else []),
        (bench.PUT_IN_MEMORY, "1"), (bench.PUT_ONE_APPLICATION, "1"),
        *([(bench.ETCD_PUT, "2")] if etcd else []), (bench.PUT, "2"), *([(bench.ETCD_PUT_AFTER, "2")] if etcd else []),
        (bench.PUT_IN_MEMORY, "2"), (bench.PUT_ONE_APPLICATION, "2")], puts
    # Each service PUT row is compared with etcd's put at the same connections, where etcd ran (the one written in
    # memory too: what the service alone could reach).
    assert all((line.split("|")[9].strip() != "-") == bool(etcd) for line in puts if "etcd" not in line), puts
    # Export, plan and change set, each timed (twice) on the first worker count's service.
    assert [line.split("|")[1].split(",")[0].strip() for line in timed] == [
        "timed: export", "timed: import plan", "timed: change set"], timed
    assert all(line.split("|")[3].strip() == "2" and float(line.split("|")[5]) > 0 for line in timed), timed
    # Each ratio the targets name, per worker count (the PUT's to etcd's where etcd ran; no p99 target: the smoke
    # run has no row at 64 connections), the waiters', and each timed operation's: measured (met or not: a smoke run
    # is no measure of speed).
    assert len(goals) == 2 * (7 + (1 if etcd else 0) + 3) + 3, goals
    assert all(float(line.split("|")[4]) > 0 for line in goals), goals
    # The targets of two rows (the PUT's to etcd's where etcd ran), each also measured interleaved per worker
    # count, without errors, and taken so.
    interleaved = [bench.EFFECTIVE_OVER_GET, bench.KEYED_OVER_OPEN, bench.WRONG_OVER_UNKNOWN, bench.SEQ_OVER_DATABASE,
                   bench.AT_OVER_DATABASE, bench.OVERRIDE_OVER_PUT, *([bench.PUT_OVER_ETCD] if etcd else [])]
    assert sorted((line.split("|")[1].strip(), line.split("|")[2].strip()) for line in pairs) == sorted(
        (f"pair: {name}", workers) for name in interleaved for workers in ("1", "2")), pairs
    assert all(float(line.split("|")[6]) > 0 and line.split("|")[8].strip() == "0" for line in pairs), pairs
    assert sorted(line.split("|")[1].strip() for line in goals if line.split("|")[7].strip() == "interleaved") == \
        sorted(f"target: {name}" for name in interleaved for _ in (1, 2)), goals
    for line in watch:
        cells = [c.strip() for c in line.strip("|").split("|")]
        # Every waiter answered, by its change and only by it, with a 200; memory was measured with one worker (but
        # for the waiters held after others on one thing, in memory those freed).
        assert cells[6] == "0" and float(cells[3]) >= 0, line
        # From the PUT's sending is at least from its acknowledgment, answer by answer.
        assert float(cells[5]) >= float(cells[4]), line
        # Measured (a number), not necessarily above 0: 50 waiters of the smoke run can fit in memory the
        # process already had, so its RSS need not grow (it showed 0.0 KiB in one run in three).
        assert cells[7] == "-" if "effective view" in line or "feed" in line or cells[1] != "1" \
            else float(cells[7]) >= 0, line
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[3].replace(",", "")) > 0, line
        # Socket errors and non-2xx/3xx answers would show here; a smoke run must have none.
        assert cells[6] == "0", line


def test_error_detail_quotes_wrk():
    assert bench.error_detail(WRK) == "Socket errors: connect 0, read 3, write 0, timeout 2; Non-2xx or 3xx responses: 7"


def test_percentile_is_the_nearest_rank():
    assert bench.percentile([], 50) is None
    assert bench.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert bench.percentile([float(i) for i in range(1, 101)], 99) == 99.0


def test_watch_markdown_has_a_row_per_scenario():
    rows = [bench.WatchRow("1,000 waiters on one configuration", 1000, 3.2, 9.8, 0, 7.5, sent_p99_ms=12.5),
            bench.WatchRow("1,000 waiters on one effective view", 1000, 3.2, 9.8, 0, None, workers=2)]
    table = bench.watch_markdown(rows)
    assert "| 1,000 waiters on one configuration | 1 | 1,000 | 3.20 | 9.80 | 12.50 | 0 | 7.5 |" in table
    assert "| 1,000 waiters on one effective view | 2 | 1,000 | 3.20 | 9.80 | - | 0 | - |" in table


def test_targets_are_the_ratios_issue_24_names():
    rows = [bench.Row(bench.GET_BY_ID, 64, 1000, 1, 2, 0), bench.Row(bench.EFFECTIVE, 64, 850, 1, 2, 0),
            bench.Row(bench.PUT, 64, 500, 1, 2, 0), bench.Row(bench.PUT_OVERRIDE, 64, 400, 1, 2, 0),
            bench.Row(bench.EFFECTIVE, 16, 900, 1, 2, 0),  # no GET row at 16: no ratio
            bench.Row(bench.GET_KEYED, 64, 920, 1, 2, 0), bench.Row(bench.UNKNOWN_TOKEN, 64, 2000, 1, 2, 0),
            bench.Row(bench.WRONG_SECRET, 64, 2300, 1, 2, 0)]
    watch = [bench.WatchRow("1,000 waiters on one configuration", 1000, 3.0, 10.0, 0, 7.0),
             bench.WatchRow("1,000 waiters on one effective view", 1000, 3.0, 12.0, 0, 7.0),
             bench.WatchRow("1,000 waiters on one application's feed", 1000, 3.0, 60.0, 0, None),
             bench.WatchRow("10,000 waiters over 1,000 configurations", 10000, 3.0, 50.0, 0, 7.0)]
    measured = [(t.target, t.connections, round(t.measured, 2), t.met) for t in bench.targets(rows, watch)]
    assert measured == [("effective read / GET by id", 64, 0.85, True),
                        ("PUT to 1,000 applications: p99, ms", 64, 2.0, True),
                        ("override PUT / configuration PUT", 64, 0.8, False),
                        ("GET by id: scoped managed key / open", 64, 0.92, True),
                        ("401: wrong secret / unknown token", 64, 1.15, False),
                        ("1,000 waiters on one configuration: p99, ms", 1000, 10.0, True),
                        ("1,000 waiters on one application's feed: p99, ms", 1000, 60.0, False),
                        ("1,000 waiters p99: effective view / configuration", 1000, 1.2, False)]
    table = bench.targets_markdown(bench.targets(rows, watch))
    assert "| target: effective read / GET by id | 1 | 64 | 0.85 | >= 0.80 | yes |" in table


def test_targets_of_issue_26_are_the_reads_of_the_past_against_the_database_and_each_slowest_run():
    rows = [bench.Row(bench.DATABASE_READ, 64, 1000, 1, 2, 0), bench.Row(bench.SNAPSHOT_SEQ, 64, 600, 1, 2, 0),
            bench.Row(bench.SNAPSHOT_AT, 64, 450, 1, 2, 0), bench.Row(bench.SNAPSHOT_SEQ, 16, 500, 1, 2, 0)]
    timed = [bench.TimedRow(bench.EXPORT, "1,000 configurations", 1, 5, 300.0, 420.0),
             bench.TimedRow(bench.CHANGE_SET, "100 updates with If-Match", 1, 5, 900.0, 1300.0)]
    measured = [(t.target, t.connections, round(t.measured, 2), t.met) for t in bench.targets(rows, [], timed)]
    assert measured == [("read at a feed position / read from the database", 64, 0.6, True),
                        ("read at a time / read from the database", 64, 0.45, False),
                        ("export, 1,000 configurations: slowest of 5, s", 1, 0.42, True),
                        ("change set, 100 updates with If-Match: slowest of 5, s", 1, 1.3, False)]
    table = bench.timed_markdown(timed)
    assert "| timed: export, 1,000 configurations | 1 | 5 | 300.0 | 420.0 |" in table


def test_targets_of_issue_28_are_the_put_to_many_applications_against_etcd_and_one_application_and_its_p99():
    # etcd's puts measured beside the PUT rows of one worker, and of two at 64 connections, a little faster then;
    # at one worker and 64 connections also after the PUT row, slower by then: the PUT row is compared with the mean
    rows = [bench.Row(bench.ETCD_PUT, 16, 1000, 1, 2, 0, workers=1), bench.Row(bench.ETCD_PUT, 64, 2000, 1, 2, 0),
            bench.Row(bench.ETCD_PUT_AFTER, 64, 1600, 1, 2, 0), bench.Row(bench.ETCD_PUT, 64, 2200, 1, 2, 0, workers=2),
            bench.Row(bench.PUT, 16, 600, 10, 40, 0), bench.Row(bench.PUT, 64, 900, 50, 120.5, 0),
            bench.Row(bench.PUT_ONE_APPLICATION, 16, 700, 10, 40, 0),
            bench.Row(bench.PUT, 64, 1100, 40, 90, 0, workers=2),  # (no etcd row at 16 for 2 workers: no ratio)
            bench.Row(bench.PUT_ONE_APPLICATION, 64, 1000, 40, 90, 0, workers=2)]
    measured = [(t.target, t.workers, t.connections, round(t.measured, 2), t.needed, t.met)
                for t in bench.targets(rows, [])]
    assert measured == [("PUT to 1,000 applications / etcd durable put", 1, 16, 0.6, ">= 0.50", True),
                        ("PUT to 1,000 applications / PUT to one application", 1, 16, 0.86, ">= 1.00", False),
                        ("PUT to 1,000 applications / etcd durable put", 1, 64, 0.5, ">= 0.50", True),
                        ("PUT to 1,000 applications: p99, ms", 1, 64, 120.5, "<= 100", False),
                        ("PUT to 1,000 applications / etcd durable put", 2, 64, 0.5, ">= 0.50", True),
                        ("PUT to 1,000 applications / PUT to one application", 2, 64, 1.1, ">= 1.00", True),
                        ("PUT to 1,000 applications: p99, ms", 2, 64, 90.0, "<= 100", True)]


def test_etcd_puts_a_value_the_size_of_the_body_the_service_put_row_writes():
    import base64

    key, value = bench.etcd_put_line(7).split(" ")
    assert base64.b64decode(key).decode() == f"/config/{bench.config_id(7)}"
    # put.lua's body for configuration 7 at the version after the seeded ones.
    body = ('{"name":"bench-config-7","config":{"host":"db.internal","port":5432,"ssl":true,"n":'
            f'{bench.REVISIONS + 1}}}}}')
    assert base64.b64decode(value).decode() == body
    assert len({bench.etcd_put_line(n).split(" ")[0] for n in range(1, bench.ETCD_PUT_KEYS + 1)}) == 1000


def test_accepted_by_names_the_worker_that_holds_each_client_s_connection(tmp_path):
    """From /proc: the sockets of the server (1000) and its workers (1001, 1002), and the TCP tables, whose ports are
    hexadecimal: port 8080 (1F90) accepted 40001 (9C41) in 1001 and 40002 (9C42, over IPv6) in 1002; 40003 is some
    other process's; a connection to another port (5432) is not the service's, nor is the listening socket."""
    (tmp_path / "1000" / "task" / "1000").mkdir(parents=True)
    (tmp_path / "1000" / "task" / "1000" / "children").write_text("1001 1002")
    for pid, sockets in {"1000": ["7"], "1001": ["11", "12"], "1002": ["21"]}.items():
        (tmp_path / pid / "fd").mkdir(parents=True)
        for n, inode in enumerate(sockets):
            os.symlink(f"socket:[{inode}]", tmp_path / pid / "fd" / str(n + 3))
        os.symlink("/dev/null", tmp_path / pid / "fd" / "0")
    (tmp_path / "net").mkdir()
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    row = ("   {n}: {address}:{local} {address}:{remote} {state} 00000000:00000000 00:00000000 00000000     0        0"
           " {inode}\n")
    v4, v6 = "0100007F", "0000000000000000FFFF00000100007F"  # 127.0.0.1, and as IPv4-mapped IPv6
    rows = {"tcp": [(v4, "1F90", "0000", "0A", 7),  # the server's listening socket (state 0A): no client's
                    (v4, "1F90", "9C41", "01", 11), (v4, "1F90", "9C43", "01", 99), (v4, "1538", "9C44", "01", 12),
                    (v4, "9C41", "1F90", "01", 55)],
            "tcp6": [(v6, "1F90", "9C42", "01", 21)]}
    for table, lines in rows.items():
        (tmp_path / "net" / table).write_text(head + "".join(row.format(
            n=n, address=address, local=local, remote=remote, state=state, inode=inode)
            for n, (address, local, remote, state, inode) in enumerate(lines)))
    assert bench.accepted_by(1000, 8080, proc=tmp_path) == {40001: 1001, 40002: 1002}
    assert bench.accepted_by(1000, 8080, proc=tmp_path / "absent") == {}


def test_the_warm_up_fills_every_worker_s_copy(database_url, clean, serve):
    """After `read_each`, every worker answers every path from its copy: read again through each worker while the
    test holds `configurations` locked, none waits for the database (one that did would wait for the lock and
    answer 503, or not within the read's 30 s). The warm-up's random spread before left about an eighth of the
    paths out of each worker's copy with two workers."""
    import asyncio
    import psycopg2
    bench.seed(database_url, applications=10, configurations=300, big_app_configurations=30, revisions=1)
    base = serve(workers=2, LOCK_TIMEOUT_MS="1000")
    service = serve.services[-1]
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM configurations ORDER BY id")
            paths = [f"{bench.CONFIGS}/{id}" for (id,) in cur.fetchall()]
        conn.rollback()
        assert len(paths) == 300
        bench.published(database_url)  # the seed's rows: while over 1,000 wait, each round empties the copies
        asyncio.run(bench.read_each(base, paths, 2, pid=service.pid))
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE configurations IN ACCESS EXCLUSIVE MODE")
            asyncio.run(asyncio.wait_for(bench.read_each(base, paths, 2, pid=service.pid), harness.HANG))
        conn.rollback()
    finally:
        conn.close()
