"""The README's "Use it from your service" runs as written: its shell commands, in order, against a live service on
an empty database, and its Python client, copied from the README as is."""

import json
import re
import subprocess
import threading
import time
import urllib.request
from decimal import Decimal

import pytest

from tools import harness

pytestmark = pytest.mark.integration

README = harness.SVC.parent / "README.md"


def section() -> str:
    text = README.read_text()
    start = text.index("## Use it from your service")
    return text[start:text.index("\n## ", start + 1)]


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", section(), re.MULTILINE | re.DOTALL)


def test_the_shell_commands_run_as_written_and_answer_what_the_readme_says(serve, clean):
    base = serve()
    script = "\n".join(blocks("sh"))
    assert "curl" in script and len(blocks("sh")) == 5
    started = time.monotonic()
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=harness.child_env(BASE=base),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"name":"billing","comments":"Invoices and payments"' in out
    # What the README shows: the document as PostgreSQL's jsonb writes it.
    assert '"name":"database","comments":null,"config":{"ssl": true, "host": "db.internal", "port": 5432}' in out
    assert '"config":{"ssl": true, "host": "db2.internal", "port": 5432}' in out and '"version":2' in out
    statuses = re.findall(r"(\d{3})\n", out)  # the -w '%{http_code}\n' lines (a JSON answer ends with })
    assert statuses == ["412", "304", "304"], out  # the stale write, the cheap poll, the held poll
    assert time.monotonic() - started >= 2  # the `wait=2` was held
    assert '"next_after":2' in out and '"kind":"created"' in out and '"kind":"updated"' in out
    assert '"version":3' in out
    # The restore put version 1 back.
    app = json.load(urllib.request.urlopen(f"{base}/api/v1/applications?name=billing"))["items"][0]
    page = json.load(urllib.request.urlopen(f"{base}/api/v1/applications/{app['id']}/configurations?name=database"))
    assert page["items"][0]["config"] == {"host": "db.internal", "port": 5432, "ssl": True}
    assert page["items"][0]["version"] == 3


def test_the_python_client_reads_by_names_and_follows_a_change(serve, clean):
    base = serve()
    (code,) = blocks("python")
    namespace: dict = {}
    exec(compile(code, "<README.md>", "exec"), namespace)  # the README's client, as a service would copy it
    ConfigClient = namespace["ConfigClient"]

    app = json.load(_call(base, "POST", "/api/v1/applications", {"name": "billing"}))
    created = json.load(_call(base, "POST", "/api/v1/configurations",
                              {"application_id": app["id"], "name": "database", "config": {"host": "db"}}))
    with pytest.raises(LookupError):
        ConfigClient(base, "billing", "cache")

    client = ConfigClient(base, "billing", "database")
    assert client.read() == {"host": "db"}
    assert client.wait_for_change(1) is None  # nothing changed: 304 after a second

    def change(path: str, body: dict):
        harness.until(lambda: harness.held(base) == 1, "the client's request held")
        _call(base, "PUT", path, body)

    def changed_while_held(watching, path: str, body: dict):
        writer = threading.Thread(target=change, args=(path, body))
        writer.start()
        started = time.monotonic()
        got = watching.wait_for_change(300)
        assert time.monotonic() - started < 200  # answered by the change, not by the end of the wait (300 s)
        writer.join()
        return got

    assert changed_while_held(client, f"/api/v1/configurations/{created['id']}",
                              {"name": "database", "config": {"host": "db2", "ratio": 0.10}}) == \
        {"host": "db2", "ratio": Decimal("0.10")}  # exactly as written

    # As an environment sees it: prod-eu under prod, each overriding; by names, the effective view.
    prod = json.load(_call(base, "POST", "/api/v1/environments", {"name": "prod"}))
    eu = json.load(_call(base, "POST", "/api/v1/environments", {"name": "prod-eu", "parent_id": prod["id"]}))
    _call(base, "PUT", f"/api/v1/configurations/{created['id']}/overrides/{prod['id']}", {"patch": {"host": "db.prod"}})
    with pytest.raises(LookupError):
        ConfigClient(base, "billing", "database", environment="prod-us")
    in_eu = ConfigClient(base, "billing", "database", environment="prod-eu")
    assert in_eu.read() == {"host": "db.prod", "ratio": Decimal("0.10")}
    assert in_eu.wait_for_change(1) is None
    assert changed_while_held(in_eu, f"/api/v1/configurations/{created['id']}/overrides/{eu['id']}",
                              {"patch": {"ratio": 0.5}}) == {"host": "db.prod", "ratio": Decimal("0.5")}


def _call(base: str, method: str, path: str, body: dict):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=10)
