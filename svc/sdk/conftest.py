"""What the SDK checks share (test_sdk.py, flow_test.py): the pinned node tools, the two clients generated afresh
from the contract once per run, and a live service with an API key.

The tools are pinned in package.json (with its lock file) and below; none is a dependency of the service.
"""

import hashlib
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools import harness

SDK = Path(__file__).resolve().parent
CONTRACT = harness.SVC.parent / "openapi" / "openapi.yaml"
GENERATED = SDK / "generated"
OPENAPI_PYTHON_CLIENT = "openapi-python-client==0.29.1"
NODE_MINIMUM = (20, 19)  # @hey-api/openapi-ts 0.95 needs node >= 20.19
QUIET_NODE = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1",
              "npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}


def _run(*command: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run in sdk/; the output (stdout and stderr together) is in .stdout. Not under pytest-cov's subprocess
    coverage: the generated clients are not the service's code."""
    env = {k: v for k, v in harness.child_env(**QUIET_NODE).items() if not k.startswith("COV_CORE_")}
    return subprocess.run(command, cwd=SDK, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def run() -> Callable[..., subprocess.CompletedProcess]:
    """`run(*command)` in sdk/, as the SDK checks run their tools."""
    return _run


@pytest.fixture(scope="session")
def node_tools() -> None:
    """sdk/node_modules as package-lock.json pins it (npm ci, again only when the lock file changed)."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed (.ci/run installs them)"
    version = tuple(int(part) for part in _run("node", "--version").stdout.strip().lstrip("v").split(".")[:2])
    assert version >= NODE_MINIMUM, f"node {version} is older than {NODE_MINIMUM} (.ci/run installs a newer one)"
    lock = hashlib.sha256((SDK / "package-lock.json").read_bytes()).hexdigest()
    stamp = SDK / "node_modules" / ".installed-from-lock"
    if not stamp.exists() or stamp.read_text() != lock:
        installed = _run("npm", "ci", "--ignore-scripts")
        assert installed.returncode == 0, installed.stdout[-5000:]
        stamp.write_text(lock)


@dataclass
class Generated:
    path: Path
    output: str  # what the generator (and, for TypeScript, tsc) said


@pytest.fixture(scope="session")
def python_client() -> Generated:
    """The Python client, generated afresh by openapi-python-client into generated/config_service_client."""
    target = GENERATED / "config_service_client"
    shutil.rmtree(target, ignore_errors=True)
    generated = _run("uv", "tool", "run", "--from", OPENAPI_PYTHON_CLIENT, "openapi-python-client", "generate",
                     "--path", str(CONTRACT), "--output-path", str(target), "--meta", "none")
    assert generated.returncode == 0, generated.stdout
    return Generated(target, generated.stdout)


@pytest.fixture(scope="session")
def typescript_client(node_tools) -> Generated:
    """The TypeScript client, generated afresh by @hey-api/openapi-ts into generated/ts, and flow.ts compiled with
    it by `tsc --strict` into build/."""
    target = GENERATED / "ts"
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(SDK / "build", ignore_errors=True)
    generated = _run("npx", "--no-install", "openapi-ts", "--input", str(CONTRACT), "--output", str(target))
    assert generated.returncode == 0, generated.stdout
    compiled = _run("npx", "--no-install", "tsc", "--project", "tsconfig.json")
    assert compiled.returncode == 0, compiled.stdout
    return Generated(target, generated.stdout + compiled.stdout)


@dataclass
class Live:
    base: str
    key: str


@pytest.fixture(scope="module")
def live_service(database_url) -> Iterator[Live]:
    """The service with one `admin` API key of its settings, which the clients send (the flows create, use and
    revoke a managed key with it); stopped after the module, since other tests count what is connected to the test
    database (its listener, for one)."""
    key = "sdk-" + secrets.token_urlsafe(24)
    service = harness.Service(database_url, 1, API_KEYS=f"sdk:admin:{key}")
    yield Live(service.base, key)
    service.stop()
