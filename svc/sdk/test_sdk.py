"""Client teams' view of the contract: it lints clean, and the generators people use build complete clients from it
without a warning (the clients then drive the service in flow_test.py)."""

import json
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.contract

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operation_ids() -> set[str]:
    """Every operationId of the contract's paths (not the ones its links name)."""
    paths = yaml.safe_load(CONTRACT.read_text())["paths"]
    return {operation["operationId"] for item in paths.values() for method, operation in item.items()
            if method in METHODS}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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
    # Every operation of the contract has its module, and the resources have their models (nothing dropped as
    # unparseable).
    operations = {path.stem for path in (python_client.path / "api").rglob("*.py") if path.stem != "__init__"}
    assert operations == {snake(name) for name in operation_ids()}
    for model in ("configuration_resource", "environment", "override", "effective_configuration", "comparison",
                  "api_key_create", "api_key_created", "current_key", "key_action"):
        assert (python_client.path / "models" / f"{model}.py").exists(), model
    # A key's rights: `null` for all (anyOf array / null) is a nullable list, and its actions a list of the enum.
    create = (python_client.path / "models" / "api_key_create.py").read_text()
    for line in ("actions: list[KeyAction]", "applications: list[str] | None", "environments: list[str] | None",
                 "expires_at: datetime.datetime | None | Unset = UNSET"):
        assert f"    {line}\n" in create, line


def test_the_typescript_client_generates_without_a_warning_and_compiles_strictly(typescript_client):
    assert not warnings_in(typescript_client.output), typescript_client.output
    sdk = (typescript_client.path / "sdk.gen.ts").read_text()
    operations = set(re.findall(r"^export const (\w+) = ", sdk, re.MULTILINE))
    assert operations == operation_ids()
    # A key's rights: `null` for all (anyOf array / null) is a nullable array, and its actions an array of the enum.
    types = (typescript_client.path / "types.gen.ts").read_text()
    for declaration in ("export type KeyAction = 'read' | 'write' | 'manage';",
                        "export type KeyActions = Array<KeyAction>;",
                        "export type KeyApplications = Array<Ulid> | null;",
                        "export type KeyEnvironments = Array<Ulid> | null;",
                        "export type KeyExpiry = Timestamp | null;"):
        assert declaration in types, declaration
    tsconfig = json.loads((typescript_client.path.parent.parent / "tsconfig.json").read_text())
    assert tsconfig["compilerOptions"]["strict"] is True
