"""schemathesis against the live service: every operation of openapi/openapi.yaml, every check, all phases."""

import os
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.contract

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent / "openapi" / "openapi.yaml"
REPORT = HERE / "tools" / "results" / "schemathesis-junit.xml"


KEY = "schemathesis-" + secrets.token_urlsafe(24)


@pytest.fixture
def live_service(serve, clean):
    # Generated `wait`s (up to 300 s) with a matching If-None-Match or an `after` past the end would each hold a
    # request that long; the holds themselves are tested in test_watch.py.
    return serve(API_KEYS=f"schemathesis:rw:{KEY}", MAX_WAIT_SECONDS="0.2")


def _operations() -> set[str]:
    spec = yaml.safe_load(SPEC.read_text())
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {f"{m.upper()} {path}" for path, item in spec["paths"].items() for m in item if m in methods}


def test_schemathesis_finds_no_failure_and_tests_every_operation(live_service):
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.unlink(missing_ok=True)
    # Settings (seed, examples, phases, checks, NUL bytes, the reviewed baseline) are in schemathesis.toml.
    command = [sys.executable, "-m", "schemathesis.cli", "run", str(SPEC), "--url", live_service,
               "--report", "junit", "--report-junit-path", str(REPORT), "--no-color"]
    env = {**os.environ, "CONFIG_SERVICE_API_KEY": KEY}
    result = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=1800)
    summary = result.stdout[result.stdout.find("SUMMARY"):]
    print(summary)
    assert result.returncode == 0, result.stdout[-20000:]

    cases = ET.parse(REPORT).getroot().iter("testcase")
    outcomes = {case.get("name"): [child.tag for child in case] for case in cases}
    untested = _operations() - set(outcomes)
    assert not untested, f"operations schemathesis did not test: {sorted(untested)}"
    assert all(not tags for tags in outcomes.values()), outcomes
