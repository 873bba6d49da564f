"""The console in a real browser: Debian's chromium, driven by puppeteer-core (pinned in tests/console/package.json
and its lock file), runs the operator's flows of tests/console/flow.mjs against a live service: sign in, find an
application among 1,000, read a configuration per environment with provenance, edit with the diff, a conflicting
save from a second tab answered with the other change, history and restore, history as of a feed position and a
time, compare, overrides, a change made through the API shown live, a narrow window, an export downloaded and
imported into a second application as a plan reviewed then applied (and a plan made stale by a write in between
answered 412, then planned again), 1,000 configurations, hostile names and values, API keys (a key made, its
secret shown once, changed with a conflict, revoked, the audit), signing out, and a service without keys. Screenshots go to tools/results/console/; the figures measured are printed."""

import hashlib
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tools import harness

pytestmark = pytest.mark.integration

FLOW = Path(__file__).resolve().parent / "console"
SHOTS = harness.SVC / "tools" / "results" / "console"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
QUIET_NODE = {"npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false",
              "NO_COLOR": "1"}


def _run(*command: str, timeout: float) -> subprocess.CompletedProcess:
    """In tests/console/, outside pytest-cov's subprocess coverage (the browser flow is not the service's code)."""
    env = {k: v for k, v in harness.child_env(**QUIET_NODE, CHROMIUM=CHROMIUM).items() if not k.startswith("COV_CORE_")}
    return subprocess.run(command, cwd=FLOW, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def driver() -> None:
    """tests/console/node_modules as package-lock.json pins it (npm ci, again only when the lock file changed)."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed (.ci/run installs them)"
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)"
    lock = hashlib.sha256((FLOW / "package-lock.json").read_bytes()).hexdigest()
    stamp = FLOW / "node_modules" / ".installed-from-lock"
    if not stamp.exists() or stamp.read_text() != lock:
        installed = _run("npm", "ci", "--ignore-scripts", timeout=600)
        assert installed.returncode == 0, installed.stdout[-5000:]
        stamp.write_text(lock)


def test_the_console_does_what_an_operator_does_in_a_real_browser(driver, serve, clean):
    # `clean`: the flow names its applications (billing, catalogue, ...), which an earlier test may have left.
    key = "ops-" + secrets.token_urlsafe(24)
    # Patient: the flow seeds 1,000 configurations of one application, 16 at a time, each queued on its row.
    with_keys = serve(API_KEYS=f"ops:admin:{key}", **harness.PATIENT)
    without_keys = serve(**harness.PATIENT)
    shutil.rmtree(SHOTS, ignore_errors=True)
    flow = _run("node", "flow.mjs", with_keys, key, without_keys, str(SHOTS), timeout=harness.HANG * 2)
    print(flow.stdout)
    assert flow.returncode == 0, flow.stdout[-8000:]
    assert "console: every step passed" in flow.stdout
    figures = json.loads(flow.stdout.split("figures: ", 1)[1].splitlines()[0])
    print("console figures:", json.dumps(figures, indent=1))
    for name in ("sign-in", "applications", "configuration-view-provenance", "edit-diff", "conflict", "history",
                 "history-as-of", "compare", "live-feed", "narrow", "hostile", "open-api", "import-plan",
                 "import-stale", "key-form", "key-secret", "key", "keys"):
        assert (SHOTS / f"{name}.png").stat().st_size > 0, name
