"""schemathesis against the live service: every operation of openapi/openapi.yaml, every check, all phases."""

import os
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tools import harness

pytestmark = pytest.mark.contract

HERE = Path(__file__).resolve().parent.parent  # svc/
SPEC = HERE.parent / "openapi" / "openapi.yaml"
REPORT = HERE / "tools" / "results" / "schemathesis-junit.xml"


KEY = "schemathesis-" + secrets.token_urlsafe(24)


@pytest.fixture
def live_service(serve, clean):
    # Generated `wait`s (up to 300 s) with a matching If-None-Match or an `after` past the end would each hold a
    # request that long; the holds themselves are tested in test_watch.py.
    return serve(API_KEYS=f"schemathesis:admin:{KEY}", MAX_WAIT_SECONDS="0.2")


def _operations() -> set[str]:
    spec = yaml.safe_load(SPEC.read_text())
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {f"{m.upper()} {path}" for path, item in spec["paths"].items() for m in item if m in methods}


def schemathesis(contract: Path, url: str, *options: str) -> subprocess.CompletedProcess:
    """Run schemathesis with the settings of schemathesis.toml (seed, phases, checks, NUL bytes, the reviewed
    baseline) and the hooks of tools/fuzz_hooks.py (positive cases name resources that exist)."""
    command = [sys.executable, "-m", "schemathesis.cli", "run", str(contract), "--url", url, "--no-color", *options]
    # `make fuzz EXAMPLES=N` runs this file with more examples per operation than make test's bound.
    if os.environ.get("FUZZ_EXAMPLES") and "--max-examples" not in options:
        command += ["--max-examples", os.environ["FUZZ_EXAMPLES"]]
    env = harness.child_env(CONFIG_SERVICE_API_KEY=KEY, CONFIG_SERVICE_URL=url, SCHEMATHESIS_HOOKS="tools.fuzz_hooks")
    return subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=3600)


def test_schemathesis_finds_no_failure_and_tests_every_operation(live_service):
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.unlink(missing_ok=True)
    result = schemathesis(SPEC, live_service, "--report", "junit", "--report-junit-path", str(REPORT))
    summary = result.stdout[result.stdout.find("SUMMARY"):]
    print(summary)
    assert result.returncode == 0, result.stdout[-20000:]
    # No warning either: "mostly rejected generated data" or "missing test data" would mean that the cases of an
    # operation seldom got past validation or a 404, and its success path went unfuzzed.
    assert "WARNINGS" not in result.stdout, result.stdout[:result.stdout.find("SUMMARY")][-5000:]

    cases = ET.parse(REPORT).getroot().iter("testcase")
    outcomes = {case.get("name"): [child.tag for child in case] for case in cases}
    untested = _operations() - set(outcomes)
    assert not untested, f"operations schemathesis did not test: {sorted(untested)}"
    assert all(not tags for tags in outcomes.values()), outcomes


NUL_RULE = "pattern: '^[^\\u0000]*$'"


def test_a_contract_without_the_nul_rule_fails_schemathesis(live_service, tmp_path):
    """The control: the contract states the server's NUL rule only as patterns, so one without them is looser
    than the server, and the fuzzing must find the strings with NUL that the server refuses."""
    text = SPEC.read_text()
    assert text.count(NUL_RULE) == 6, "the Comments, ConfigDocument, ConfigValue and ChangeSetChange NUL patterns moved"
    loose = tmp_path / "openapi.yaml"
    loose.write_text(text.replace(NUL_RULE, "description: (the NUL rule, removed for the control)"))
    result = schemathesis(loose, live_service, "--include-operation-id", "createConfiguration",
                          "--phases", "fuzzing", "--max-examples", "400")
    assert result.returncode != 0, result.stdout[-5000:]
    # The failure is the server's 422 for a NUL that the loose contract allowed, at the value's pointer.
    assert "Schema-valid request rejected" in result.stdout, result.stdout[-5000:]
    assert "[422] Unprocessable Content" in result.stdout, result.stdout[-5000:]
    assert "(U+0000)" in result.stdout or "u0000]*$" in result.stdout, result.stdout[-5000:]
