import socket

from main import port_taken


def test_a_port_in_use_is_named_with_what_to_do_and_a_free_one_is_none():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = port_taken("127.0.0.1", port)
    assert line.startswith(f"port {port} on 127.0.0.1 is already in use") and "set PORT in svc/.env" in line
    assert port_taken("127.0.0.1", port) is None


def test_an_address_not_of_this_machine_is_named():
    assert port_taken("192.0.2.1", 8000).startswith("cannot listen on 192.0.2.1:8000: ")


def test_a_refused_start_ends_the_runner_with_its_line_and_a_failure_with_one_worker_or_two(database_url):
    """With several workers uvicorn stops the others when one fails to start, and returns as from a clean stop: the
    runner still ends with the refusal's line, and non-zero, so that a supervisor sees a failure."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tools import harness

    url = harness.create_database(harness.with_database(database_url, f"runner_unmigrated_{os.getpid()}"))
    try:
        for workers in ("1", "2"):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            done = subprocess.run([sys.executable, "-m", "main"], cwd=Path(__file__).parent, capture_output=True,
                                  text=True, timeout=120, env=harness.child_env(
                                      DATABASE_URL=url, HOST="127.0.0.1", PORT=str(port), WORKERS=workers))
            assert done.returncode != 0, (workers, done.stderr[-2000:])
            last = done.stderr.strip().splitlines()[-1]
            assert last.startswith("refusing to start: the database lacks "), (workers, last)
            # Said by its line: no traceback, and one line for the statements a schema without tables cannot
            # prepare (an operator trial counted 66 lines, 44 of them these, and two tracebacks).
            assert "Traceback" not in done.stderr, (workers, done.stderr[-2000:])
            assert done.stderr.count("not prepared") <= int(workers), (workers, done.stderr[-2000:])
    finally:
        harness.drop_database(url)


def test_a_service_started_before_its_database_stops_once_the_database_answers_unmigrated(database_url):
    """The check of the migrations runs once the database answers: a service that started before it (answering 503)
    stops when it comes up without them, saying why, and a supervisor sees a failure."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tools import harness

    for workers in ("1", "2"):
        url = harness.with_database(database_url, f"runner_late_{workers}_{os.getpid()}")
        harness.drop_database(url)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        runner = subprocess.Popen([sys.executable, "-m", "main"], cwd=Path(__file__).parent, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=harness.child_env(
                                      DATABASE_URL=url, HOST="127.0.0.1", PORT=str(port), WORKERS=workers))
        try:
            deadline = time.monotonic() + 60
            while not harness.answers(f"http://127.0.0.1:{port}/health", any_status=True):
                assert runner.poll() is None and time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
            harness.create_database(url)
            _, err = runner.communicate(timeout=60)
            assert runner.returncode != 0, (workers, err[-2000:])
            last = err.strip().splitlines()[-1]
            assert "the database lacks" in last and "run `make migrate`" in last, (workers, last)
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.communicate()
            harness.drop_database(url)


def test_the_settings_trusted_proxies_and_keep_alive_are_what_uvicorn_uses(monkeypatch):
    """`FORWARDED_ALLOW_IPS` and `KEEP_ALIVE_SECONDS` from the settings (read from `.env` too, which uvicorn itself
    does not read) are what uvicorn runs with: none of its own defaults."""
    import uvicorn

    import main
    from settings import Settings

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    given = {}
    monkeypatch.setattr(main.service, "settings", Settings(forwarded_allow_ips="10.0.0.0/8", port=port,
                                                           keep_alive_seconds=75))
    monkeypatch.setattr(main.signal, "signal", lambda *args: None)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: given.update(kwargs))
    monkeypatch.setenv(main.service.REFUSED_FILE, "")  # (restored after: the runner sets it)
    main.run()
    assert given["forwarded_allow_ips"] == "10.0.0.0/8" and given["port"] == port
    assert given["timeout_keep_alive"] == 75  # (KEEP_ALIVE_SECONDS)
