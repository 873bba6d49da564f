"""Client teams' view of the contract: generated SDKs that build and work, and a contract that lints clean.

The tools are pinned in sdk/package.json (with its lock file) and below; nothing here is a dependency of the
service. Each client is generated afresh from openapi/openapi.yaml, must generate without a warning, and then drives
the live service through the flow of sdk/flow.py and sdk/flow.ts, using only the generated functions.
"""

import hashlib
import json
import re
import secrets
import shutil
import subprocess

import pytest

from tools import harness

pytestmark = pytest.mark.contract

SDK = harness.SVC / "sdk"
CONTRACT = harness.SVC.parent / "openapi" / "openapi.yaml"
GENERATED = SDK / "generated"
OPENAPI_PYTHON_CLIENT = "openapi-python-client==0.29.1"
# The generated Python client's own dependencies (what its pyproject asks for), pinned.
PYTHON_CLIENT_DEPS = ["httpx==0.28.1", "attrs==25.4.0", "python-dateutil==2.9.0.post0"]
NODE_MINIMUM = (20, 19)  # @hey-api/openapi-ts 0.95 needs node >= 20.19
KEY = "sdk-" + secrets.token_urlsafe(24)
QUIET_NODE = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1",
              "npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}


def run(*command: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run in sdk/; the output (stdout and stderr together) is in .stdout. Not under pytest-cov's subprocess
    coverage: the generated clients are not the service's code."""
    env = {k: v for k, v in harness.child_env(**QUIET_NODE).items() if not k.startswith("COV_CORE_")}
    return subprocess.run(command, cwd=SDK, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def warnings_in(output: str) -> list[str]:
    # npm's own notices about this machine's npm configuration are not the generator's.
    return [line for line in output.splitlines()
            if re.search(r"warn", line, re.IGNORECASE) and not line.startswith("npm warn")]


@pytest.fixture(scope="module")
def node_tools() -> None:
    """sdk/node_modules as sdk/package-lock.json pins it (npm ci, again only when the lock file changed)."""
    node = shutil.which("node")
    assert node and shutil.which("npm"), "node and npm are needed (.ci/run installs them)"
    version = tuple(int(part) for part in run("node", "--version").stdout.strip().lstrip("v").split(".")[:2])
    assert version >= NODE_MINIMUM, f"node {version} is older than {NODE_MINIMUM} (.ci/run installs a newer one)"
    lock = hashlib.sha256((SDK / "package-lock.json").read_bytes()).hexdigest()
    stamp = SDK / "node_modules" / ".installed-from-lock"
    if not stamp.exists() or stamp.read_text() != lock:
        installed = run("npm", "ci", "--ignore-scripts")
        assert installed.returncode == 0, installed.stdout[-5000:]
        stamp.write_text(lock)


@pytest.fixture(scope="module")
def live_service(database_url) -> str:
    service = harness.Service(database_url, 1, API_KEYS=f"sdk:rw:{KEY}")
    yield service.base
    service.stop()


def test_spectral_oas_rules_find_nothing(node_tools):
    result = run("npx", "--no-install", "spectral", "lint", str(CONTRACT), "--ruleset", ".spectral.yaml",
                 "--fail-severity", "hint")
    assert result.returncode == 0, result.stdout
    assert "No results with a severity of 'hint' or higher found!" in result.stdout, result.stdout


def test_redocly_recommended_rules_find_nothing(node_tools):
    result = run("npx", "--no-install", "redocly", "lint", str(CONTRACT), "--config", "redocly.yaml",
                 "--format", "json")
    report, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])  # then the summary
    assert report["totals"]["errors"] == 0 and report["totals"]["warnings"] == 0, json.dumps(report, indent=1)
    # Only the reviewed exceptions of .redocly.lint-ignore.yaml are ignored, each with its reason there.
    assert report["totals"]["ignored"] == 2, report["totals"]


def test_python_client_generates_cleanly_and_drives_the_service(live_service):
    target = GENERATED / "config_service_client"
    shutil.rmtree(target, ignore_errors=True)
    generated = run("uv", "tool", "run", "--from", OPENAPI_PYTHON_CLIENT, "openapi-python-client", "generate",
                    "--path", str(CONTRACT), "--output-path", str(target), "--meta", "none")
    assert generated.returncode == 0, generated.stdout
    assert not warnings_in(generated.stdout), generated.stdout
    # Every operation has its module, and every schema its model (nothing dropped as unparseable).
    operations = {path.stem for path in (target / "api").rglob("*.py") if path.stem != "__init__"}
    assert len(operations) == 16, sorted(operations)
    assert (target / "models" / "configuration_resource.py").exists()

    flow = run("uv", "run", "--no-project", "--python", "3.13", *[f"--with={dep}" for dep in PYTHON_CLIENT_DEPS],
               "python", "flow.py", live_service, KEY)
    assert flow.returncode == 0, flow.stdout
    assert "python client: every step passed" in flow.stdout, flow.stdout


def test_typescript_client_generates_compiles_strictly_and_drives_the_service(node_tools, live_service):
    target = GENERATED / "ts"
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(SDK / "build", ignore_errors=True)
    generated = run("npx", "--no-install", "openapi-ts", "--input", str(CONTRACT), "--output", str(target))
    assert generated.returncode == 0, generated.stdout
    assert not warnings_in(generated.stdout), generated.stdout
    sdk = (target / "sdk.gen.ts").read_text()
    operations = set(re.findall(r"^export const (\w+) = ", sdk, re.MULTILINE))
    assert len(operations) == 16, sorted(operations)

    compiled = run("npx", "--no-install", "tsc", "--project", "tsconfig.json")
    assert compiled.returncode == 0, compiled.stdout
    assert json.loads((SDK / "tsconfig.json").read_text())["compilerOptions"]["strict"] is True

    flow = run("node", "build/flow.js", live_service, KEY)
    assert flow.returncode == 0, flow.stdout
    assert "typescript client: every step passed" in flow.stdout, flow.stdout
