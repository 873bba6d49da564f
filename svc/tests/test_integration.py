"""API → database → API flows on a real PostgreSQL: what is stored, constraints, cascades and error statuses."""

import json

import pytest

from tools.harness import APPS, CONFIGS, assert_problem

pytestmark = pytest.mark.integration


def test_created_application_is_stored_and_read_back(client, sql, application):
    created = application("billing", "Invoices")
    assert created["configuration_ids"] == []
    sql.execute("SELECT name, comments, created_at FROM applications WHERE id = %s", (created["id"],))
    row = sql.fetchone()
    assert row["name"] == "billing" and row["comments"] == "Invoices"
    assert row["created_at"].utcoffset().total_seconds() == 0
    fetched = client.get(f"{APPS}/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_create_answers_location_of_the_new_resource(client):
    response = client.post(APPS, json={"name": "billing"})
    assert response.headers["location"] == f"{APPS}/{response.json()['id']}"
    app_id = response.json()["id"]
    response = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {}})
    assert response.headers["location"] == f"{CONFIGS}/{response.json()['id']}"


def test_duplicate_application_name_is_409_and_nothing_is_stored(client, sql, application):
    application("billing")
    assert_problem(client.post(APPS, json={"name": "billing"}), 409)
    sql.execute("SELECT count(*) AS n FROM applications")
    assert sql.fetchone()["n"] == 1


def test_renaming_onto_a_taken_name_is_409(client, application):
    application("billing")
    other = application("shipping")
    assert_problem(client.put(f"{APPS}/{other['id']}", json={"name": "billing"}), 409)
    assert client.get(f"{APPS}/{other['id']}").json()["name"] == "shipping"


def test_put_application_replaces_name_and_comments(client, sql, application):
    app = application("billing", "old")
    response = client.put(f"{APPS}/{app['id']}", json={"name": "invoicing"})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "invoicing" and body["comments"] is None
    assert body["created_at"] == app["created_at"] and body["updated_at"] >= app["updated_at"]
    sql.execute("SELECT name, comments FROM applications WHERE id = %s", (app["id"],))
    assert sql.fetchone() == {"name": "invoicing", "comments": None}


def test_application_lists_its_configuration_ids_in_order(client, application, configuration):
    app = application()
    ids = [configuration(app["id"], f"c{i}")["id"] for i in range(5)]
    assert client.get(f"{APPS}/{app['id']}").json()["configuration_ids"] == sorted(ids)
    renamed = client.put(f"{APPS}/{app['id']}", json={"name": "renamed"}).json()
    assert renamed["configuration_ids"] == sorted(ids)


def test_configuration_is_stored_with_its_json_and_read_back(client, sql, application, configuration):
    app = application()
    document = {"host": "db.internal", "port": 5432, "ratio": 0.5, "ssl": True, "none": None,
                "nested": {"list": [1, "two", {"three": 3}]}, "unicode": "żółw ✓"}
    created = configuration(app["id"], "database", document, "primary")
    sql.execute("SELECT application_id, config FROM configurations WHERE id = %s", (created["id"],))
    row = sql.fetchone()
    assert row["application_id"] == app["id"] and json.loads(row["config"]) == document
    assert client.get(f"{CONFIGS}/{created['id']}").json() == created


def test_configuration_of_unknown_application_is_422_pointing_at_application_id(client, sql):
    body = assert_problem(client.post(CONFIGS, json={"application_id": "01JD3B5ZQ6V2K9X4N8M7P1R0ST",
                                                     "name": "db", "config": {}}), 422)
    assert body["errors"] == [{"pointer": "/application_id", "message": "No application has this id."}]
    sql.execute("SELECT count(*) AS n FROM configurations")
    assert sql.fetchone()["n"] == 0


def test_configuration_names_are_unique_per_application_only(client, application, configuration):
    first, second = application("a"), application("b")
    configuration(first["id"], "database")
    configuration(second["id"], "database")
    assert_problem(client.post(CONFIGS, json={"application_id": first["id"], "name": "database",
                                              "config": {}}), 409)
    other = configuration(first["id"], "cache")
    assert_problem(client.put(f"{CONFIGS}/{other['id']}", json={"name": "database", "config": {}}), 409)


def test_put_configuration_replaces_fields_and_keeps_its_application(client, sql, application, configuration):
    app = application()
    config = configuration(app["id"], "db", {"a": 1}, "note")
    response = client.put(f"{CONFIGS}/{config['id']}", json={"name": "db2", "config": {"b": [2]}})
    assert response.status_code == 200
    assert response.json()["config"] == {"b": [2]} and response.json()["comments"] is None
    sql.execute("SELECT application_id, name, config::json AS config FROM configurations WHERE id = %s", (config["id"],))
    assert sql.fetchone() == {"application_id": app["id"], "name": "db2", "config": {"b": [2]}}


def test_put_cannot_move_a_configuration_to_another_application(client, application, configuration):
    app, other = application("a"), application("b")
    config = configuration(app["id"])
    body = assert_problem(client.put(f"{CONFIGS}/{config['id']}",
                                     json={"name": "db", "config": {}, "application_id": other["id"]}), 422)
    assert body["errors"][0]["pointer"] == "/application_id"


def test_deleting_an_application_deletes_its_configurations(client, sql, application, configuration):
    app = application()
    config = configuration(app["id"])
    assert client.delete(f"{APPS}/{app['id']}").status_code == 204
    sql.execute("SELECT count(*) AS n FROM configurations")
    assert sql.fetchone()["n"] == 0
    assert_problem(client.get(f"{CONFIGS}/{config['id']}"), 404)
    assert_problem(client.get(f"{APPS}/{app['id']}"), 404)


def test_deleting_a_configuration_leaves_its_application(client, application, configuration):
    app = application()
    config = configuration(app["id"])
    assert client.delete(f"{CONFIGS}/{config['id']}").status_code == 204
    assert client.get(f"{APPS}/{app['id']}").json()["configuration_ids"] == []
    assert_problem(client.delete(f"{CONFIGS}/{config['id']}"), 404)


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("base", [APPS, CONFIGS])
def test_unknown_id_is_404(client, method, base):
    body = {"name": "x", "config": {}} if base == CONFIGS else {"name": "x"}
    kwargs = {"json": body} if method == "put" else {}
    assert_problem(client.request(method, f"{base}/01JD3B5ZQ6V2K9X4N8M7P1R0ST", **kwargs), 404)


def test_list_of_an_unknown_application_is_404(client):
    assert_problem(client.get(f"{APPS}/01JD3B5ZQ6V2K9X4N8M7P1R0ST/configurations"), 404)


def test_application_pages_cover_every_row_once_in_order(client, application):
    ids = [application(f"app-{i:02d}")["id"] for i in range(23)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = client.get(APPS, params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids) and pages == 5


def test_exactly_full_last_page_has_no_next_cursor(client, application):
    for i in range(4):
        application(f"a{i}")
    first = client.get(APPS, params={"limit": 2}).json()
    second = client.get(APPS, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 2 and second["next_cursor"] is None


def test_configuration_pages_of_one_application(client, application, configuration):
    app, other = application("a"), application("b")
    ids = [configuration(app["id"], f"c{i}")["id"] for i in range(7)]
    configuration(other["id"], "elsewhere")
    first = client.get(f"{APPS}/{app['id']}/configurations", params={"limit": 4}).json()
    second = client.get(f"{APPS}/{app['id']}/configurations",
                        params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in first["items"] + second["items"]] == sorted(ids)
    assert second["next_cursor"] is None


def test_find_by_exact_name(client, application, configuration):
    app = application("billing")
    application("billing-2")
    config = configuration(app["id"], "db")
    configuration(app["id"], "db2")
    assert [a["id"] for a in client.get(APPS, params={"name": "billing"}).json()["items"]] == [app["id"]]
    found = client.get(f"{APPS}/{app['id']}/configurations", params={"name": "db"}).json()["items"]
    assert [c["id"] for c in found] == [config["id"]]
    assert client.get(APPS, params={"name": "nobody"}).json() == {"items": [], "next_cursor": None}


def test_trailing_slash_lists_directly(client, application):
    application()
    response = client.get(APPS + "/", follow_redirects=False)
    assert response.status_code == 200 and len(response.json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": ""}, "/name"),
        ({"name": "x" * 257}, "/name"),
        ({"name": "ok", "comments": "c" * 1025}, "/comments"),
        ({"name": "ok", "id": "01JD3B5ZQ6V2K9X4N8M7P1R0ST"}, "/id"),
        ({"name": "ok", "created_at": "2026-01-01T00:00:00Z"}, "/created_at"),
        ({"name": 5}, "/name"),
        ({}, "/name"),
        ({"name": "a\u0000b"}, "/name"),
    ],
)
def test_invalid_application_body_is_422_pointing_at_the_field(client, body, pointer):
    problem = assert_problem(client.post(APPS, json=body), 422)
    assert pointer in [e["pointer"] for e in problem["errors"]]


def test_names_of_256_characters_are_accepted(client):
    assert client.post(APPS, json={"name": "x" * 256}).status_code == 201
    assert client.post(APPS, json={"name": "ż" * 256}).status_code == 201


@pytest.mark.parametrize(
    ("config", "pointer"),
    [
        ({"a": {"b": ["ok", "bad\u0000"]}}, "/config/a/b/1"),
        ({"k\u0000": 1}, "/config/k\u0000"),
        ([1, 2], "/config"),
        ("text", "/config"),
    ],
)
def test_invalid_config_is_422(client, config, pointer, application):
    app = application()
    problem = assert_problem(client.post(CONFIGS, json={"application_id": app["id"], "name": "c",
                                                        "config": config}), 422)
    assert any(e["pointer"].startswith(pointer[:8]) for e in problem["errors"])


def test_lone_surrogate_in_config_is_422_not_500(client, application):
    app = application()
    raw = '{"application_id": "%s", "name": "c", "config": {"k": "\\ud800"}}' % app["id"]
    problem = assert_problem(client.post(CONFIGS, content=raw, headers={"content-type": "application/json"}), 422)
    assert problem["errors"][0]["pointer"] == "/config/k"


def test_malformed_json_is_400(client):
    assert_problem(client.post(APPS, content=b'{"name": ', headers={"content-type": "application/json"}), 400)


@pytest.mark.parametrize("path", [f"{APPS}/abc", f"{APPS}/01jd3b5zq6v2k9x4n8m7p1r0st", f"{CONFIGS}/01JD3B5ZQ6V2K9X4N8M7P1R0SU"])
def test_malformed_id_is_422(client, path):
    problem = assert_problem(client.get(path), 422)
    assert problem["errors"][0]["pointer"] == "#/path/id"


@pytest.mark.parametrize("limit", ["0", "-1", "501", "1000000000000", "abc"])
def test_limit_out_of_range_is_422(client, limit):
    problem = assert_problem(client.get(APPS, params={"limit": limit}), 422)
    assert problem["errors"][0]["pointer"] == "#/query/limit"


def test_undeclared_method_is_405_with_allow(client):
    response = client.patch(APPS)
    assert_problem(response, 405)
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_unknown_path_is_404_problem(client):
    assert_problem(client.get("/api/v1/nothing"), 404)


def test_injection_strings_are_stored_verbatim(client, sql, application):
    name = "'; DROP TABLE applications; --"
    app = application(name)
    assert client.get(f"{APPS}/{app['id']}").json()["name"] == name
    sql.execute("SELECT name FROM applications")
    assert sql.fetchone()["name"] == name
