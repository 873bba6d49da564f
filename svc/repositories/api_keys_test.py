from datetime import UTC, datetime, timedelta

import pytest

from repositories import api_keys, applications
from wire.principals import Principal
from wire.problems import Conflict, Forbidden, Unprocessable

MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"  # sorts before any id made now


@pytest.fixture
def keys(cur):
    """The cursor in a transaction in which no other key is left, rolled back afterwards: the key audit is
    append-only, so the keys of other tests stay in the database (they are revoked here, for this test only)."""
    cur.execute("BEGIN")
    cur.execute("UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL")
    yield cur
    cur.execute("ROLLBACK")


def attempt(cur, fn, *args, **kwargs):
    """`fn` as a unit of work of its own, as the service runs it (`transaction=True`): undone when it raises."""
    cur.execute("SAVEPOINT unit")
    try:
        result = fn(cur, *args, **kwargs)
    except Exception:
        cur.execute("ROLLBACK TO SAVEPOINT unit")
        raise
    cur.execute("RELEASE SAVEPOINT unit")
    return result


def rights(name: str, actions=("read", "write", "manage"), applications=None, environments=None, **more) -> dict:
    return {"name": name, "actions": list(actions), "applications": applications, "environments": environments,
            "expires_at": None, "comments": None} | more


def audited(cur, key_id: str) -> list[str]:
    cur.execute("SELECT action FROM key_audit WHERE key_id = %(id)s ORDER BY seq", {"id": key_id})
    return [row["action"] for row in cur.fetchall()]


def test_the_last_key_that_may_manage_keys_everywhere_is_neither_revoked_nor_narrowed(keys):
    only = attempt(keys, api_keys.create, by=None, **rights("only"))
    app = applications.create(keys, name="a", comments=None)
    for narrowed in (rights("only", ["read", "write"]), rights("only", applications=[app["id"]])):
        with pytest.raises(Conflict, match="no API key that may manage keys"):
            attempt(keys, api_keys.update, only["id"], by=None, **narrowed)
    with pytest.raises(Conflict, match="no API key that may manage keys"):
        attempt(keys, api_keys.revoke, only["id"], by=None)
    unchanged = api_keys.get(keys, only["id"])
    assert (unchanged["version"], unchanged["revoked_at"], unchanged["actions"]) == (1, None, only["actions"])
    assert audited(keys, only["id"]) == ["created"]
    # what leaves it a manager everywhere is allowed: a new name, an expiry
    later = datetime.now(UTC) + timedelta(days=1)
    assert attempt(keys, api_keys.update, only["id"], by=None, **rights("renamed", expires_at=later))["version"] == 2


def test_with_another_manager_everywhere_a_manager_may_go_and_then_that_one_is_the_last(keys):
    first = attempt(keys, api_keys.create, by=None, **rights("first"))
    second = attempt(keys, api_keys.create, by=None, **rights("second", ["manage"]))
    app = applications.create(keys, name="a", comments=None)
    attempt(keys, api_keys.create, by=None, **rights("of-a", applications=[app["id"]]))  # counts for nothing
    attempt(keys, api_keys.update, first["id"], by=None, **rights("first", ["read"]))
    attempt(keys, api_keys.revoke, first["id"], by=None)
    with pytest.raises(Conflict):
        attempt(keys, api_keys.revoke, second["id"], by=None)
    assert audited(keys, first["id"]) == ["created", "updated", "revoked"]
    assert audited(keys, second["id"]) == ["created"]


def test_an_expired_manager_does_not_count(keys):
    kept = attempt(keys, api_keys.create, by=None, **rights("kept"))
    expired = attempt(keys, api_keys.create, by=None, **rights("expired"))
    keys.execute("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = %(id)s",
                 {"id": expired["id"]})
    with pytest.raises(Conflict):
        attempt(keys, api_keys.revoke, kept["id"], by=None)


def test_an_admin_key_of_the_settings_keeps_keys_manageable(keys):
    only = attempt(keys, api_keys.create, by=None, **rights("only"))
    attempt(keys, api_keys.update, only["id"], by=None, settings_manager=True, **rights("only", ["read"]))
    attempt(keys, api_keys.revoke, only["id"], by=None, settings_manager=True)
    assert audited(keys, only["id"]) == ["created", "updated", "revoked"]
    attempt(keys, api_keys.revoke, only["id"], by=None)  # again: nothing to do, nothing recorded
    assert audited(keys, only["id"]) == ["created", "updated", "revoked"]


def test_pointers_name_the_item_where_the_body_has_it(keys):
    app = applications.create(keys, name="a", comments=None)
    other = applications.create(keys, name="b", comments=None)
    for given, pointer in (({"applications": [app["id"], MISSING]}, "/applications/1"),  # MISSING sorts first
                           ({"applications": [other["id"], app["id"], other["id"]]}, "/applications/2"),
                           ({"actions": ["read", "write", "read"]}, "/actions/2"),
                           ({"environments": [MISSING, MISSING]}, "/environments/1")):
        with pytest.raises(Unprocessable) as refused:
            attempt(keys, api_keys.create, by=None, **rights("k") | given)
        assert [error["pointer"] for error in refused.value.errors] == [pointer]


def test_a_grant_beyond_the_granting_key_is_403_before_anything_is_looked_up(keys):
    app = applications.create(keys, name="a", comments=None)
    manager = Principal("m", frozenset({"read", "manage"}), frozenset({app["id"]}))
    for given in ({"applications": [MISSING]}, {"applications": None}, {"applications": [app["id"]],
                                                                          "actions": ["read", "write"]}):
        with pytest.raises(Forbidden):
            attempt(keys, api_keys.create, by=manager, **rights("k", ["read"]) | given)
    made = attempt(keys, api_keys.create, by=manager, **rights("k", ["read"], [app["id"]]))
    assert made["created_by"] == {"id": None, "name": "m"} and made["secret"].startswith("csk_")


def test_update_replaces_a_keys_rights_and_records_them_in_the_audit(keys):
    a = applications.create(keys, name="a", comments=None)
    b = applications.create(keys, name="b", comments=None)
    made = api_keys.create(keys, by=None, **rights("reader", ("read",), [a["id"]]))
    updated = api_keys.update(keys, made["id"], by=None, settings_manager=True, **rights("reader", ("read",),
                                                                                        [b["id"]]))
    assert (updated["applications"], updated["version"]) == ([b["id"]], 2)
    assert api_keys.get(keys, made["id"])["applications"] == [b["id"]]
    ring = {row["id"]: row for row in api_keys.active(keys)}
    assert ring[made["id"]]["applications"] == [b["id"]]
    assert audited(keys, made["id"]) == ["created", "updated"]
