"""The SDK round-trip through the Python client that openapi-python-client generates from the contract.

conftest.py generates the client into generated/config_service_client; flow_test.py runs this file with the client's
own dependencies (httpx, attrs, python-dateutil), not the service's: python flow.py <base URL> [<API key>]. Every
request goes through the generated functions.

After the configuration's round trip, its history (diffs, a past read, an export imported into a new application by
plan and apply), a read accepting a stale answer and a JSON merge patch, then an environment tree: a root and a
child, an override in each (the child's removes a key with `null`), the child's effective view with its provenance,
the same view by names, the two environments compared, and a watch of the view answered by a change of the parent's
override.

Then a managed API key: the flow's key (a settings `admin` key) creates a key that may read one application of two;
a second client with that key reads the application's configuration, gets the other's as the 404 of an id that
does not exist, lists the one application, and reads its own rights; once the admin client revokes the key, the
key's client gets 401.
"""

import asyncio
import datetime
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent / "generated"))

from config_service_client import AuthenticatedClient  # noqa: E402
from config_service_client.api.applications import (  # noqa: E402
    create_application, delete_application, get_application, list_applications)
from config_service_client.api.configurations import (  # noqa: E402
    create_configuration, get_configuration, list_configuration_revisions, patch_configuration,
    restore_configuration_revision, update_configuration)
from config_service_client.api.effective import (  # noqa: E402
    compare_configuration, find_effective, get_effective_configuration)
from config_service_client.api.environments import create_environment, delete_environment  # noqa: E402
from config_service_client.api.health import get_health  # noqa: E402
from config_service_client.api.history import (  # noqa: E402
    apply_import, export_application, get_application_snapshot, get_configuration_diff, plan_import)
from config_service_client.api.keys import create_key, get_current_key, get_key, revoke_key  # noqa: E402
from config_service_client.api.overrides import put_override  # noqa: E402
from config_service_client.models import (  # noqa: E402
    ApiKey, ApiKeyCreate, ApiKeyCreated, ApplicationCreate, Comparison, ConfigDocument, ConfigurationCreate,
    ConfigurationPatch, ConfigurationResource, ConfigurationUpdate, CurrentKey, CurrentKeySource, EffectiveApplication,
    EffectiveConfiguration, Environment, EnvironmentCreate, Health, ImportApply, ImportRequest, KeyAction, Override,
    OverrideWrite, Problem)
from config_service_client.types import Response  # noqa: E402

CONFIG = {"host": "db", "port": 5432, "tags": ["a", "b"], "nested": {"x": None}}
CHANGED = {"host": "db2", "port": 5433, "tags": [], "nested": {"x": 1}}
SERVICE = {"host": "db", "port": 5432, "pool": {"min": 1, "max": 10}}
# The watch asks to be held for HELD seconds; a service that did not wake it on the write would answer the new view
# only then, so the flow wants it answered well before (within HANG), a bound that only a hang reaches, as in
# tests/test_watch.py. The client's read timeout must be longer than the wait.
HELD = 240
HANG = 120.0


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"failed: {what}")


def main(base_url: str, key: str = "") -> None:
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True,
                                 timeout=httpx.Timeout(HELD + 60))

    app = create_application.sync_detailed(client=client, body=ApplicationCreate(name=f"sdk-py-{time.time_ns()}"))
    check(app.status_code == 201, "create application answers 201")
    app_id = app.parsed.id

    created = create_configuration.sync_detailed(client=client, body=ConfigurationCreate(
        application_id=app_id, name="database", config=ConfigDocument.from_dict(CONFIG)))
    check(created.status_code == 201 and isinstance(created.parsed, ConfigurationResource),
          "create configuration answers 201")
    config_id, etag = created.parsed.id, created.headers["ETag"]

    owner = get_application.sync(app_id, client=client)
    check(config_id in owner.configuration_ids, "the application lists the configuration")

    listed = list_applications.sync(client=client, name=app.parsed.name)
    check([item.id for item in listed.items] == [app_id], "list applications finds it")

    updated = update_configuration.sync_detailed(config_id, client=client, if_match=etag, body=ConfigurationUpdate(
        name="database", config=ConfigDocument.from_dict(CHANGED)))
    check(updated.status_code == 200 and updated.parsed.version == 2, "update with If-Match answers version 2")

    stale = update_configuration.sync_detailed(config_id, client=client, if_match=etag, body=ConfigurationUpdate(
        name="database", config=ConfigDocument.from_dict(CONFIG)))
    check(stale.status_code == 412 and isinstance(stale.parsed, Problem), "a stale If-Match is a typed 412 problem")

    read = get_configuration.sync(config_id, client=client)
    check(read.config.to_dict() == CHANGED, "the config round-trips exactly")

    revisions = list_configuration_revisions.sync(config_id, client=client)
    check(len(revisions.items) == 2, "two revisions")

    restored = restore_configuration_revision.sync(config_id, 1, client=client)
    check(restored.config.to_dict() == CONFIG, "restore brings version 1 back")

    history(client, app_id, config_id, app.parsed.name)
    patched(client, config_id)
    environments = environment_tree(client, app_id, app.parsed.name)

    deleted = delete_application.sync_detailed(app_id, client=client)
    check(deleted.status_code == 204, "delete application answers 204")

    gone = get_configuration.sync_detailed(config_id, client=client)
    check(gone.status_code == 404 and isinstance(gone.parsed, Problem) and gone.parsed.status == 404
          and gone.parsed.type_.endswith("/not-found"), "the deleted configuration is a typed 404 problem")

    for environment in reversed(environments):  # the child first; the application took its overrides with it
        dropped = delete_environment.sync_detailed(environment.id, client=client)
        check(dropped.status_code == 204, f"delete environment {environment.name} answers 204")

    scoped_key(client, base_url)
    print("python client: every step passed")


def history(client: AuthenticatedClient, app_id: str, config_id: str, prefix: str) -> None:
    """Diffs of the configuration's revisions, the application read at a feed position, and the application
    exported, planned into a new one, applied with the plan's token, and applied again (412)."""
    same = get_configuration_diff.sync_detailed(config_id, client=client, from_=1, to=3)
    check(same.status_code == 200 and same.parsed.patch == [], "revision 3 restored revision 1: their diff is empty")
    changed = get_configuration_diff.sync(config_id, client=client, from_=1, to=2)
    check({"op": "replace", "path": "/host", "value": "db2"} in [op.to_dict() for op in changed.patch],
          "the diff from revision 1 to 2 replaces the host")
    past = get_application_snapshot.sync_detailed(app_id, client=client, seq=1)
    check(past.status_code == 200 and [c.config.to_dict() for c in past.parsed.configurations] == [CONFIG],
          "the application at feed position 1 has the configuration's first version")
    exported = export_application.sync(app_id, client=client)
    check([c.name for c in exported.configurations] == ["database"], "the export names the configuration")
    target = create_application.sync(client=client, body=ApplicationCreate(name=f"{prefix}-copy"))
    plan = plan_import.sync_detailed(target.id, client=client, body=ImportRequest(document=exported))
    check(plan.status_code == 200 and [(i.name, i.action) for i in plan.parsed.items] == [("database", "created")],
          "the plan of the export into a new application creates its configuration")
    body = ImportApply(document=exported, token=plan.parsed.token)
    applied = apply_import.sync_detailed(target.id, client=client, body=body)
    check(applied.status_code == 200, "applying the plan with its token answers 200")
    copy = export_application.sync(target.id, client=client)
    check([c.to_dict() for c in copy.configurations] == [c.to_dict() for c in exported.configurations],
          "the new application exports what was imported")
    again = apply_import.sync_detailed(target.id, client=client, body=body)
    check(again.status_code == 412 and isinstance(again.parsed, Problem), "the plan applied twice is a typed 412")
    check(delete_application.sync_detailed(target.id, client=client).status_code == 204, "delete the copy")


def patched(client: AuthenticatedClient, config_id: str) -> None:
    """The configuration read accepting a stale answer (answered current, without `Age`, while the database
    answers), then changed by a JSON merge patch with If-Match: a null removes a key at any depth, what the patch
    does not name stays; the same If-Match again is a typed 412."""
    current = get_configuration.sync_detailed(config_id, client=client, cache_control="stale-if-error=300")
    check(current.status_code == 200 and isinstance(current.parsed, ConfigurationResource)
          and "Age" not in current.headers, "a read accepting a stale answer is answered current, without Age")
    patch = ConfigurationPatch(config=ConfigDocument.from_dict({"port": 6432, "nested": {"x": None}}))
    merged = patch_configuration.sync_detailed(config_id, client=client, if_match=current.headers["ETag"], body=patch)
    check(merged.status_code == 200 and isinstance(merged.parsed, ConfigurationResource)
          and merged.parsed.version == current.parsed.version + 1 and merged.parsed.name == "database"
          and merged.parsed.config.to_dict() == {**CONFIG, "port": 6432, "nested": {}},
          "the merge patch changes the port, removes nested.x, and keeps the rest")
    again = patch_configuration.sync_detailed(config_id, client=client, if_match=current.headers["ETag"], body=patch)
    check(again.status_code == 412 and isinstance(again.parsed, Problem) and again.parsed.status == 412,
          "the patch with a stale If-Match is a typed 412 problem")


def environment_tree(client: AuthenticatedClient, app_id: str, prefix: str) -> list[Environment]:
    """A root and a child environment, overrides in both of a new configuration, its effective view read by id and
    by names, compared, and watched; answers the two environments, root first."""
    made = create_environment.sync_detailed(client=client, body=EnvironmentCreate(name=f"{prefix}-prod"))
    check(made.status_code == 201 and isinstance(made.parsed, Environment) and made.parsed.parent_id is None,
          "create a root environment answers 201")
    root = made.parsed
    made = create_environment.sync_detailed(client=client, body=EnvironmentCreate(name=f"{prefix}-prod-eu",
                                                                                  parent_id=root.id))
    check(made.status_code == 201 and isinstance(made.parsed, Environment) and made.parsed.parent_id == root.id,
          "create a child environment answers 201 naming its parent")
    child = made.parsed

    created = create_configuration.sync_detailed(client=client, body=ConfigurationCreate(
        application_id=app_id, name="service", config=ConfigDocument.from_dict(SERVICE)))
    check(created.status_code == 201, "create the configuration to override answers 201")
    config_id = created.parsed.id

    parent = put_override.sync_detailed(config_id, root.id, client=client, body=OverrideWrite(
        patch=ConfigDocument.from_dict({"host": "db.prod"})))
    check(parent.status_code == 201 and isinstance(parent.parsed, Override) and parent.parsed.version == 1,
          "put the root's override answers 201")
    removing = {"pool": {"max": 20}, "port": None}
    own = put_override.sync_detailed(config_id, child.id, client=client, body=OverrideWrite(
        patch=ConfigDocument.from_dict(removing)))
    check(own.status_code == 201 and isinstance(own.parsed, Override) and own.parsed.patch.to_dict() == removing,
          "put the child's override (a null removes port) answers 201 and keeps the null")

    read = get_effective_configuration.sync_detailed(config_id, client=client, environment_id=child.id)
    check(read.status_code == 200 and isinstance(read.parsed, EffectiveConfiguration),
          "the child's effective view answers 200")
    view, etag = read.parsed, read.headers["ETag"]
    check(view.config.to_dict() == {"host": "db.prod", "pool": {"min": 1, "max": 20}},
          "the effective view merges the root's override, then the child's, over config")
    check([layer.to_dict() for layer in view.provenance] == [
        {"environment_id": None, "environment": None, "pointers": ["/pool/min"], "removed": []},
        {"environment_id": root.id, "environment": root.name, "pointers": ["/host"], "removed": []},
        {"environment_id": child.id, "environment": child.name, "pointers": ["/pool/max"], "removed": ["/port"]}],
        "the provenance names the layer of every value, root first, and the layer that removed the port")

    unchanged = get_effective_configuration.sync_detailed(config_id, client=client, environment_id=child.id,
                                                          if_none_match=etag)
    check(unchanged.status_code == 304 and unchanged.parsed is None, "If-None-Match of the view answers 304")

    named = find_effective.sync_detailed(client=client, application=prefix, environment=child.name,
                                         configuration="service")
    check(named.status_code == 200 and isinstance(named.parsed, EffectiveApplication)
          and named.parsed.application_id == app_id and named.parsed.environment_id == child.id
          and [one.to_dict() for one in named.parsed.configurations] == [view.to_dict()],
          "findEffective by names answers the same view")

    compared = compare_configuration.sync_detailed(config_id, client=client, from_=root.id, to=child.id)
    check(compared.status_code == 200 and isinstance(compared.parsed, Comparison),
          "compare the two environments answers 200")
    check([operation.to_dict() for operation in compared.parsed.patch] == [
        {"op": "replace", "path": "/pool/max", "value": 20}, {"op": "remove", "path": "/port"}],
        "the comparison is the JSON Patch from the root's view to the child's")
    check([layer.to_dict() for layer in compared.parsed.from_provenance] == [
        {"environment_id": None, "environment": None, "pointers": ["/pool/max", "/port"], "removed": []}]
        and [layer.to_dict() for layer in compared.parsed.to_provenance] == [
        {"environment_id": child.id, "environment": child.name, "pointers": ["/pool/max"], "removed": ["/port"]}],
        "each side's provenance names the layers of what differs")

    written, answered, took = asyncio.run(watch(client, config_id, root.id, child.id, etag, parent.headers["ETag"]))
    check(written.status_code == 200 and isinstance(written.parsed, Override) and written.parsed.version == 2,
          "replacing the root's override with If-Match answers 200, version 2")
    check(took < HANG, f"the held watch is answered by the write, not by the end of its wait ({took:.0f} s)")
    check(answered.status_code == 200 and isinstance(answered.parsed, EffectiveConfiguration)
          and answered.parsed.config.to_dict() == {"host": "db.prod2", "pool": {"min": 1, "max": 20}}
          and answered.headers["ETag"] != etag,
          "the held watch is answered 200 with the new view")
    now = get_effective_configuration.sync_detailed(config_id, client=client, environment_id=child.id)
    check(now.headers["ETag"] == answered.headers["ETag"], "the watch answered the view's current ETag")
    return [root, child]


def scoped_key(admin: AuthenticatedClient, base_url: str) -> None:
    """A key that may read application A only, created by `admin` (a key that may manage keys everywhere), used by a
    client of its own, then revoked."""
    prefix = f"sdk-py-key-{time.time_ns()}"
    apps, configs = [], []
    for side in ("a", "b"):
        app = create_application.sync_detailed(client=admin, body=ApplicationCreate(name=f"{prefix}-{side}"))
        check(app.status_code == 201, f"create application {side.upper()} answers 201")
        created = create_configuration.sync_detailed(client=admin, body=ConfigurationCreate(
            application_id=app.parsed.id, name="database", config=ConfigDocument.from_dict(CONFIG)))
        check(created.status_code == 201, f"create application {side.upper()}'s configuration answers 201")
        apps.append(app.parsed)
        configs.append(created.parsed)
    (a, b), (config_a, config_b) = apps, configs

    # A whole second, in the future: the answer gives it back exactly.
    expires = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=1)
    made = create_key.sync_detailed(client=admin, body=ApiKeyCreate(
        name=prefix, actions=[KeyAction.READ], applications=[a.id], environments=None, expires_at=expires))
    check(made.status_code == 201 and isinstance(made.parsed, ApiKeyCreated) and made.parsed.secret.startswith("csk_"),
          "createKey answers 201 with the secret")
    key = made.parsed
    check(key.actions == [KeyAction.READ] and key.applications == [a.id] and key.environments is None
          and key.expires_at == expires and key.revoked_at is None and key.created_by.id is None,
          "the new key has the rights asked for, made by the settings key")
    check(made.headers["Location"].endswith(f"/api/v1/keys/{key.id}"), "createKey's Location names the key")
    shown = get_key.sync_detailed(key.id, client=admin)
    check(shown.status_code == 200 and isinstance(shown.parsed, ApiKey) and shown.parsed.name == prefix
          and not hasattr(shown.parsed, "secret") and "secret" not in shown.parsed.to_dict(),
          "getKey answers the key without its secret")

    scoped = AuthenticatedClient(base_url=base_url, token=key.secret, raise_on_unexpected_status=True,
                                 timeout=httpx.Timeout(30))
    read = get_configuration.sync_detailed(config_a.id, client=scoped)
    check(read.status_code == 200 and isinstance(read.parsed, ConfigurationResource)
          and read.parsed.config.to_dict() == CONFIG, "the scoped key reads A's configuration")
    hidden = get_configuration.sync_detailed(config_b.id, client=scoped)
    check(hidden.status_code == 404 and isinstance(hidden.parsed, Problem) and hidden.parsed.status == 404
          and hidden.parsed.type_.endswith("/not-found") and hidden.parsed.detail == "No configuration has this id.",
          "B's configuration is to the scoped key the typed 404 of an id that does not exist")
    listed = list_applications.sync_detailed(client=scoped)
    check(listed.status_code == 200 and [item.id for item in listed.parsed.items] == [a.id]
          and listed.parsed.next_cursor is None, "the scoped key lists application A only")
    written = create_application.sync_detailed(client=scoped, body=ApplicationCreate(name=f"{prefix}-c"))
    check(written.status_code == 403 and isinstance(written.parsed, Problem), "the read-only key may not write: 403")

    own = get_current_key.sync_detailed(client=scoped)
    check(own.status_code == 200 and isinstance(own.parsed, CurrentKey), "getCurrentKey answers 200")
    check(own.parsed.open_ is False and own.parsed.id == key.id and own.parsed.name == prefix
          and own.parsed.source == CurrentKeySource.MANAGED and own.parsed.actions == [KeyAction.READ]
          and own.parsed.applications == [a.id] and own.parsed.environments is None
          and own.parsed.expires_at == expires, "getCurrentKey names the key and its rights")
    mine = get_current_key.sync(client=admin)
    check(isinstance(mine, CurrentKey) and mine.source == CurrentKeySource.SETTINGS and mine.id is None
          and mine.actions == [KeyAction.READ, KeyAction.WRITE, KeyAction.MANAGE] and mine.applications is None,
          "getCurrentKey of the settings key: every right, everywhere")

    revoked = revoke_key.sync_detailed(key.id, client=admin)
    check(revoked.status_code == 204, "revokeKey answers 204")
    refused = get_configuration.sync_detailed(config_a.id, client=scoped)
    check(refused.status_code == 401 and isinstance(refused.parsed, Problem) and refused.parsed.status == 401,
          "once revoked, the key's client gets a typed 401")
    check(get_current_key.sync_detailed(client=scoped).status_code == 401, "getCurrentKey of the revoked key: 401")
    after = get_key.sync(key.id, client=admin)
    check(isinstance(after, ApiKey) and after.revoked_at is not None, "the revoked key stays readable, revoked_at set")

    for app in (a, b):
        check(delete_application.sync_detailed(app.id, client=admin).status_code == 204,
              f"delete application {app.name} answers 204")


async def watch(client: AuthenticatedClient, config_id: str, root_id: str, child_id: str, etag: str,
                root_etag: str) -> tuple[Response, Response, float]:
    """Hold a GET of the child's view (If-None-Match + wait), then change the root's override through the same
    client: answers the write's response, the held one's, and the seconds from the write to the held answer."""
    async with client:
        held = asyncio.create_task(get_effective_configuration.asyncio_detailed(
            config_id, client=client, environment_id=child_id, if_none_match=etag, wait=HELD))
        deadline = time.monotonic() + HANG
        while True:  # until the service holds it: a write before that would be read, not waited for
            health = await get_health.asyncio(client=client)
            if isinstance(health, Health) and isinstance(health.waiters, int) and health.waiters >= 1:
                break
            check(not held.done(), "the watch is held while nothing changed")
            check(time.monotonic() < deadline, f"the service holds the watch within {HANG:.0f} s")
            await asyncio.sleep(0.02)
        started = time.monotonic()
        written = await put_override.asyncio_detailed(config_id, root_id, client=client, if_match=root_etag,
                                                      body=OverrideWrite(patch=ConfigDocument.from_dict(
                                                          {"host": "db.prod2"})))
        answered = await held
        return written, answered, time.monotonic() - started


if __name__ == "__main__":
    main(*sys.argv[1:])
