"""The whole suite, as `make test` runs it: two pytest processes at once, then one coverage report of both.

`python -m tools.suite [PYTEST_ARGS...]`. One process runs the files of `FIRST`, the other every other test file
(pytest's own collection, those files `--ignore`d): each test runs once, in one of them. Each process has its own
test database (conftest.py's `database_url` names it by the process) and its own coverage data (`COVERAGE_FILE`);
the two are combined, then reported with the floor (`FLOOR`), which holds for the whole suite only.

Why two: one pytest process kept about one of the machine's two cores busy. Much of the suite's time is spent
waiting on something it started (a service, a PostgreSQL of its own, a browser, a deadline it must observe), and most
of the rest is one process's Python at a time. As one process, the suite took 19 min 47 s on the 2-core CI machine
(2026-12-07), over the guide's bound of about 15; as two, 10 min 3 s, then 11 min 1 s once bench's smoke run
measured its targets' pairs (the longer of the two; `.ci/run` in all about 12 min). A busy machine is what
every test is written for: each counts its work and has a deadline only a hang reaches.

Each line either process writes is printed as it comes, behind `[1]` or `[2]` (each one's summary as it ends);
then their exit codes and the coverage table. The exit status is nonzero if either process failed or the floor was missed.
"""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent.parent  # svc/

# The first process's files: the system tests that hold services, clusters and replicas, and bench's smoke run
# (seconds of their slowest tests, 2026-12-07, the two processes side by side: F22 45, the smoke run 92 and about 40
# more since its targets' pairs, access 36, F13 20). The second has the rest: schemathesis (175), the SDK round trips,
# the console in a real browser, the races of tests/test_concurrency.py, the unit tests and the other system tests.
# In a fresh clone under .ci/run, with the concurrency tests in the first and without the pairs: 603 s against 546.
FIRST = (
    "tests/test_faults.py",
    "tests/test_revocation.py",
    "tests/test_failover.py",
    "tests/test_watch.py",
    "tests/test_access.py",
    "tools/bench_test.py",
)
FLOOR = 90  # percent of lines, for the whole suite
STOP_WITHIN = 60  # seconds an interrupted pytest has to tear down
DATA = ".coverage"  # the combined data, where `coverage report` and `coverage html` look by default


def commands(python: str, args: list[str]) -> list[list[str]]:
    """The two pytest processes' command lines: `args` go to both (a `-x`, a `-k`)."""
    pytest = [python, "-m", "pytest", "--cov=.", "--cov-report=", *args]
    return [[*pytest, *FIRST], [*pytest, *(f"--ignore={path}" for path in FIRST)]]


def part(number: int) -> str:
    """The coverage data file of process `number` (1 or 2)."""
    return f"{DATA}.part{number}"


def _forward(stream: IO[str], prefix: str, out: IO[str], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            out.write(prefix + line)
            out.flush()


def run(python: str, args: list[str], *, cwd: Path = HERE, out: IO[str] = sys.stdout) -> int:
    """Both processes, then the report: 0 when both passed and the floor holds."""
    lock = threading.Lock()
    # (PYENV_VERSION, from a pyenv shim, would pin the children's shims to another Python; COVERAGE_FILE is each
    # one's own.)
    env = {k: v for k, v in os.environ.items() if k not in ("PYENV_VERSION", "COVERAGE_FILE")}
    for stale in [*cwd.glob(DATA), *cwd.glob(f"{DATA}.*")]:  # (not `.coveragerc`, which `.coverage*` would match)
        stale.unlink()
    processes, forwarders = [], []
    try:
        for number, command in enumerate(commands(python, args), start=1):
            process = subprocess.Popen(command, cwd=cwd, env={**env, "COVERAGE_FILE": part(number)},
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, errors="replace", bufsize=1)
            processes.append(process)
            forwarder = threading.Thread(target=_forward, args=(process.stdout, f"[{number}] ", out, lock))
            forwarder.start()
            forwarders.append(forwarder)
        codes = [process.wait() for process in processes]
    finally:
        for process in processes:  # (interrupted: each pytest tears its fixtures down, stopping what they started)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=STOP_WITHIN)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for forwarder in forwarders:
            forwarder.join()
    out.write(f"pytest exit codes: {codes[0]} (files of tools/suite.py's FIRST), {codes[1]} (the others)\n")
    out.flush()
    parts = [part(number) for number in (1, 2) if (cwd / part(number)).exists()]
    coverage = [python, "-m", "coverage"]
    combined = subprocess.run([*coverage, "combine", f"--data-file={DATA}", *parts], cwd=cwd, env=env)
    report = subprocess.run([*coverage, "report", f"--data-file={DATA}", "--show-missing", "--skip-covered",
                             f"--fail-under={FLOOR}"], cwd=cwd, env=env) if combined.returncode == 0 else combined
    return next((code for code in (*codes, combined.returncode, report.returncode) if code != 0), 0)


if __name__ == "__main__":
    sys.exit(run(sys.executable, sys.argv[1:]))
