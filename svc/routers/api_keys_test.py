import uuid

import pytest
from fastapi.testclient import TestClient

from app import create_app
from settings import Settings

ROOT = "r" * 24
KEYS = "/api/v1/keys"


@pytest.fixture
def keyed(database_url, clean):
    """The service with a settings `admin` key (the API is not open), and the headers that send it."""
    settings = Settings(database_url=database_url, pool_min=1, pool_max=4, api_keys=f"root:admin:{ROOT}")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def new_key(client, **rights) -> dict:
    body = {"name": f"k-{uuid.uuid4().hex[:12]}", "actions": ["read"], "applications": None,
            "environments": None} | rights
    response = client.post(KEYS, json=body, headers=auth(ROOT))
    assert response.status_code == 201, response.text
    return response.json()


def all_keys(client) -> list[dict]:
    """Every key, page after page (the test database keeps the keys and the audit of every test before)."""
    items, params = [], {"limit": 500}
    while True:
        page = client.get(KEYS, params=params, headers=auth(ROOT)).json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]


def whole_audit(client) -> list[dict]:
    """Every audit entry, oldest first, read page after page to the end: until `next_after` stays put (a page may
    hold nothing a limited key sees while `next_after` moves past what it may not)."""
    entries, after = [], 0
    while True:
        page = client.get("/api/v1/audit/keys", params={"after": after, "limit": 500}, headers=auth(ROOT)).json()
        entries += page["items"]
        if page["next_after"] == after:
            return entries
        after = page["next_after"]


def test_create_answers_the_secret_once_with_location_and_etag(keyed):
    made = new_key(keyed, comments="for the dashboard")
    response = keyed.get(f"{KEYS}/{made['id']}", headers=auth(ROOT))
    assert made["secret"].startswith("csk_") and len(made["secret"]) == 47
    assert "secret" not in response.json() and made["secret"] not in response.text
    assert response.headers["etag"] == f'"{made["id"]}.1"'
    assert made["created_by"] == {"id": None, "name": "root"} and made["revoked_at"] is None
    assert keyed.get("/api/v1/key", headers=auth(made["secret"])).json()["name"] == made["name"]


def test_a_creation_sent_again_with_its_idempotency_key_answers_the_key_made_without_its_secret(keyed, database_url):
    """The secret is shown once and kept nowhere: not in the record that answers a retry either (a database read, a
    backup or a replica, would otherwise hold live secrets for a day). The retry creates nothing, and says which key
    the first made, whose secret still works."""
    import psycopg2

    body = {"name": f"k-{uuid.uuid4().hex[:12]}", "actions": ["read"], "applications": None, "environments": None}
    once = auth(ROOT) | {"Idempotency-Key": str(uuid.uuid4())}
    made = keyed.post(KEYS, json=body, headers=once)
    assert made.status_code == 201 and made.json()["secret"].startswith("csk_")
    secret, location = made.json()["secret"], made.headers["location"]
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM idempotency_keys WHERE key = %s AND position(%s in "
                        "convert_from(body, 'UTF8') || headers::text) > 0", (once["Idempotency-Key"], secret))
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FROM idempotency_keys WHERE key = %s", (once["Idempotency-Key"],))
            assert cur.fetchone()[0] == 1  # (recorded: the retry below is answered from it)
    finally:
        conn.close()
    again = keyed.post(KEYS, json=body, headers=once)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert again.headers["idempotent-replayed"] == "true" and again.headers["location"] == location
    assert secret not in again.text and made.json()["id"] in again.json()["detail"]
    assert [k["id"] for k in all_keys(keyed) if k["name"] == body["name"]] == [made.json()["id"]]
    assert keyed.get("/api/v1/key", headers=auth(secret)).json()["name"] == body["name"]


def test_update_is_conditional_and_revoke_keeps_the_key_readable(keyed):
    made = new_key(keyed)
    url, body = f"{KEYS}/{made['id']}", {"name": made["name"], "actions": ["read", "write"], "applications": None,
                                         "environments": None}
    stale = keyed.put(url, json=body, headers=auth(ROOT) | {"If-Match": f'"{made["id"]}.7"'})
    assert stale.status_code == 412 and stale.headers["etag"] == f'"{made["id"]}.1"'
    changed = keyed.put(url, json=body, headers=auth(ROOT) | {"If-Match": f'"{made["id"]}.1"'})
    assert changed.status_code == 200 and changed.json()["actions"] == ["read", "write"]
    assert keyed.delete(url, headers=auth(ROOT)).status_code == 204
    assert keyed.get(url, headers=auth(ROOT)).json()["revoked_at"] is not None
    assert keyed.get("/api/v1/key", headers=auth(made["secret"])).status_code == 401
    assert keyed.put(url, json=body, headers=auth(ROOT)).status_code == 409


def test_list_and_audit_show_the_keys_and_who_managed_them(keyed):
    made = new_key(keyed)
    assert made["id"] in [key["id"] for key in all_keys(keyed)]
    audit = whole_audit(keyed)
    mine = [entry for entry in audit if entry["key"]["id"] == made["id"]]
    assert [entry["action"] for entry in mine] == ["created"]
    assert mine[0]["by"] == {"id": None, "name": "root"} and mine[0]["before"] is None
    assert mine[0]["after"]["actions"] == ["read"] and made["secret"] not in str(audit)


def test_a_key_that_may_not_manage_gets_403_and_the_current_key_says_what_it_may_do(keyed):
    made = new_key(keyed, applications=None)
    assert keyed.get(KEYS, headers=auth(made["secret"])).status_code == 403
    current = keyed.get("/api/v1/key", headers=auth(made["secret"])).json()
    assert current == {"open": False, "id": made["id"], "name": made["name"], "source": "managed",
                       "actions": ["read"], "applications": None, "environments": None, "expires_at": None}
    assert keyed.get("/api/v1/key", headers=auth(ROOT)).json()["source"] == "settings"


def test_with_the_api_open_keys_are_not_managed(client):
    assert client.get("/api/v1/key").json()["open"] is True
    refused = client.post(KEYS, json={"name": "x", "actions": ["read"], "applications": None, "environments": None})
    assert refused.status_code == 403 and "open" in refused.json()["detail"]


@pytest.mark.parametrize("field, repeated", [("actions", ["read", "write", "read"]),
                                             ("applications", ["01JD3B5ZQ6V2K9X4N8M7P1R0ST"] * 2),
                                             ("environments", ["01JD3C0F5G6H7J8K9M0N1P2Q3R"] * 2)])
def test_a_repeated_action_application_or_environment_is_422_at_the_repeat(keyed, field, repeated):
    # The contract's uniqueItems, which the generated models do not check: ["read", "read"] was a 201.
    body = {"name": "twice", "actions": ["read"], "applications": None, "environments": None, field: repeated}
    created = keyed.post(KEYS, json=body, headers=auth(ROOT))
    assert created.status_code == 422, created.text
    assert created.json()["errors"] == [{"pointer": f"/{field}/{len(repeated) - 1}",
                                         "message": "Each item may be named once."}]
    made = new_key(keyed)
    # Before the preconditions too: a schema-violating body with a stale If-Match is a 422, not a 412.
    stale = {"If-Match": f'"{made["id"]}.9"'}
    updated = keyed.put(f"{KEYS}/{made['id']}", json=body | {"name": made["name"]}, headers=auth(ROOT) | stale)
    assert updated.status_code == 422 and updated.json()["errors"][0]["pointer"] == f"/{field}/{len(repeated) - 1}"
    assert keyed.get(f"{KEYS}/{made['id']}", headers=auth(ROOT)).json()["version"] == 1


def test_an_expiry_with_any_rfc_3339_offset_is_kept_as_the_instant_in_utc(keyed):
    # PostgreSQL takes no offset beyond 15:59, which RFC 3339 allows up to 23:59: this was a 500.
    made = new_key(keyed, expires_at="2030-01-01T00:00:00+23:30")
    assert made["expires_at"] == "2029-12-31T00:30:00Z"
    assert keyed.get(f"{KEYS}/{made['id']}", headers=auth(ROOT)).json()["expires_at"] == "2029-12-31T00:30:00Z"
    changed = keyed.put(f"{KEYS}/{made['id']}", headers=auth(ROOT), json={
        "name": made["name"], "actions": ["read"], "applications": None, "environments": None,
        "expires_at": "2031-06-01T12:00:00-23:59"})
    assert changed.status_code == 200 and changed.json()["expires_at"] == "2031-06-02T11:59:00Z"


def test_an_expiry_in_the_year_10000_in_utc_is_422(keyed):
    # 9999-12-31 west of UTC: neither RFC 3339 (which the answer is) nor PostgreSQL's reader can write it.
    late = keyed.post(KEYS, headers=auth(ROOT), json={"name": "late", "actions": ["read"], "applications": None,
                                                     "environments": None, "expires_at": "9999-12-31T23:00:00-02:00"})
    assert late.status_code == 422 and late.json()["errors"] == [{
        "pointer": "/expires_at", "message": "The expiry must be before 10000-01-01T00:00:00Z."}]
    latest = new_key(keyed, expires_at="9999-12-31T23:59:59Z")
    assert latest["expires_at"] == "9999-12-31T23:59:59Z"


@pytest.mark.parametrize("spelled", [4102444800, 4102444800.5, "4102444800", "2100-01-01 00:00:00Z",
                                     "2100-01-01T00:00Z", "2100-01-01T00:00:00+0100", "2100-01-01T00:00:00"])
def test_an_expiry_not_spelled_as_rfc_3339_is_422(keyed, spelled):
    # pydantic's datetime takes Unix times and looser spellings: a number was a 201 (or the 412 of a stale If-Match).
    body = {"name": "spelled", "actions": ["read"], "applications": None, "environments": None, "expires_at": spelled}
    created = keyed.post(KEYS, json=body, headers=auth(ROOT))
    assert created.status_code == 422 and created.json()["errors"][0]["pointer"] == "/expires_at", created.text
    made = new_key(keyed)
    stale = {"If-Match": f'"{made["id"]}.9"'}
    updated = keyed.put(f"{KEYS}/{made['id']}", json=body | {"name": made["name"]}, headers=auth(ROOT) | stale)
    assert updated.status_code == 422 and updated.json()["errors"][0]["pointer"] == "/expires_at"


def test_an_expiry_may_use_a_fraction_and_lower_case_t_and_z(keyed):
    assert new_key(keyed, expires_at="2100-01-01t00:00:00.250z")["expires_at"] == "2100-01-01T00:00:00.250000Z"


def test_the_audit_answers_an_expiry_as_a_utc_time(keyed):
    made = new_key(keyed, expires_at="2999-01-01T01:00:00+01:00")
    (entry,) = [entry for entry in whole_audit(keyed) if entry["key"]["id"] == made["id"]]
    assert entry["after"]["expires_at"] == made["expires_at"] == "2999-01-01T00:00:00Z"


def test_a_key_whose_application_was_deleted_is_saved_as_it_reads_but_gains_no_id_that_never_was(keyed):
    """A deleted application stays in the rights of the keys limited to it (it names nothing now): a change of
    the key that sends it back, as the key reads, is taken; an id the key did not have must name an application."""
    apps = [keyed.post("/api/v1/applications", json={"name": f"app-{uuid.uuid4().hex[:8]}"},
                       headers=auth(ROOT)).json()["id"] for _ in range(2)]
    made = new_key(keyed, applications=apps)
    assert keyed.delete(f"/api/v1/applications/{apps[0]}", headers=auth(ROOT)).status_code == 204
    read = keyed.get(f"{KEYS}/{made['id']}", headers=auth(ROOT))
    assert read.json()["applications"] == sorted(apps)
    body = {field: read.json()[field] for field in ("name", "actions", "applications", "environments",
                                                    "expires_at", "comments")} | {"comments": "renamed"}
    saved = keyed.put(f"{KEYS}/{made['id']}", json=body, headers=auth(ROOT) | {"If-Match": read.headers["etag"]})
    assert saved.status_code == 200, saved.text
    never = "0" * 26
    refused = keyed.put(f"{KEYS}/{made['id']}", json=body | {"applications": [*body["applications"], never]},
                        headers=auth(ROOT))
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/applications/2"


def test_a_settings_key_s_name_is_refused_only_to_a_manager_and_only_as_a_new_name(database_url, clean):
    """A key that may not manage keys gets 403 whatever name it sends (the 409 would tell it the settings' keys'
    names); a managed key named before a settings key took its name is saved as it reads, and may not be renamed
    to another settings key's name."""
    reader, deployer = "e" * 24, "d" * 24
    first = Settings(database_url=database_url, pool_min=1, pool_max=4, api_keys=f"root:admin:{ROOT}")
    with TestClient(create_app(first), raise_server_exceptions=False) as client:
        made = new_key(client, name="deployer", actions=["read", "write"])
    later = Settings(database_url=database_url, pool_min=1, pool_max=4,
                     api_keys=f"root:admin:{ROOT},reader:ro:{reader},deployer:rw:{deployer}")
    with TestClient(create_app(later), raise_server_exceptions=False) as client:
        body = {"name": "Reader", "actions": ["read"], "applications": None, "environments": None}
        assert client.post(KEYS, json=body, headers=auth(reader)).status_code == 403
        assert client.post(KEYS, json=body, headers=auth(ROOT)).status_code == 409
        read = client.get(f"{KEYS}/{made['id']}", headers=auth(ROOT))
        kept = {f: read.json()[f] for f in ("name", "actions", "applications", "environments", "expires_at")}
        saved = client.put(f"{KEYS}/{made['id']}", json=kept | {"comments": "kept"}, headers=auth(ROOT))
        assert saved.status_code == 200, saved.text
        renamed = client.put(f"{KEYS}/{made['id']}", json=kept | {"name": "READER"}, headers=auth(ROOT))
        assert renamed.status_code == 409 and "settings" in renamed.json()["detail"]
        client.delete(f"{KEYS}/{made['id']}", headers=auth(ROOT))
