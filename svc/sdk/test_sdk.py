"""Client teams' view of the contract: it lints clean, and the generators people use build complete clients from it
without a warning (the clients then drive the service in flow_test.py)."""

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"


def warnings_in(output: str) -> list[str]:
    # npm's own notices about this machine's npm configuration are not the generator's.
    return [line for line in output.splitlines()
            if re.search(r"warn", line, re.IGNORECASE) and not line.startswith("npm warn")]


def test_spectral_oas_rules_find_nothing(node_tools, run):
    result = run("npx", "--no-install", "spectral", "lint", str(CONTRACT), "--ruleset", ".spectral.yaml",
                 "--fail-severity", "hint")
    assert result.returncode == 0, result.stdout
    assert "No results with a severity of 'hint' or higher found!" in result.stdout, result.stdout


def test_redocly_recommended_rules_find_nothing(node_tools, run):
    result = run("npx", "--no-install", "redocly", "lint", str(CONTRACT), "--config", "redocly.yaml",
                 "--format", "json")
    report, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])  # then the summary
    assert report["totals"]["errors"] == 0 and report["totals"]["warnings"] == 0, json.dumps(report, indent=1)
    # No exception: nothing is ignored.
    assert report["totals"]["ignored"] == 0, report["totals"]


def test_the_python_client_generates_without_a_warning_and_completely(python_client):
    assert not warnings_in(python_client.output), python_client.output
    # Every operation has its module, and every schema its model (nothing dropped as unparseable).
    operations = {path.stem for path in (python_client.path / "api").rglob("*.py") if path.stem != "__init__"}
    assert len(operations) == 16, sorted(operations)
    assert (python_client.path / "models" / "configuration_resource.py").exists()


def test_the_typescript_client_generates_without_a_warning_and_compiles_strictly(typescript_client):
    assert not warnings_in(typescript_client.output), typescript_client.output
    sdk = (typescript_client.path / "sdk.gen.ts").read_text()
    operations = set(re.findall(r"^export const (\w+) = ", sdk, re.MULTILINE))
    assert len(operations) == 16, sorted(operations)
    tsconfig = json.loads((typescript_client.path.parent.parent / "tsconfig.json").read_text())
    assert tsconfig["compilerOptions"]["strict"] is True
