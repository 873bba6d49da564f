"""flow.py and flow.ts, the round-trips through the generated clients: each passes against the service, and each
fails, at the step that went wrong, when the service does not do what the step expects."""

import pytest

pytestmark = pytest.mark.contract

# The generated Python client's own dependencies (what its pyproject asks for), pinned.
PYTHON_CLIENT_DEPS = ["httpx==0.28.1", "attrs==25.4.0", "python-dateutil==2.9.0.post0"]


def python_flow(run, base: str, key: str):
    return run("uv", "run", "--no-project", "--python", "3.13", *[f"--with={dep}" for dep in PYTHON_CLIENT_DEPS],
               "python", "flow.py", base, key)


def typescript_flow(run, base: str, key: str):
    return run("node", "build/flow.js", base, key)


def test_the_python_flow_drives_the_service_through_the_generated_client(python_client, live_service, run):
    flow = python_flow(run, live_service.base, live_service.key)
    assert flow.returncode == 0, flow.stdout
    assert "python client: every step passed" in flow.stdout, flow.stdout


def test_the_typescript_flow_drives_the_service_through_the_generated_client(typescript_client, live_service, run):
    flow = typescript_flow(run, live_service.base, live_service.key)
    assert flow.returncode == 0, flow.stdout
    assert "typescript client: every step passed" in flow.stdout, flow.stdout


@pytest.mark.parametrize("flow", [python_flow, typescript_flow])
def test_a_flow_fails_at_the_step_the_service_got_wrong(python_client, typescript_client, live_service, run, flow):
    # A key the service does not have: its first write answers 401, not the 201 the first step checks.
    failed = flow(run, live_service.base, "not-a-key")
    assert failed.returncode == 1, failed.stdout
    assert "failed: create application answers 201" in failed.stdout, failed.stdout
    assert "every step passed" not in failed.stdout
