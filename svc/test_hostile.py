"""Hostile input against the live service (uvicorn, API keys on): each row its expected status, never a 5xx."""

import json

import httpx
import pytest
import yaml

from main import CONTRACT
from tools import harness

pytestmark = pytest.mark.integration

RW = "rw-key-" + "x" * 24
RO = "ro-key-" + "y" * 24
APP_ID = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


@pytest.fixture(scope="module")
def base(database_url):
    service = harness.Service(database_url, API_KEYS=f"writer:rw:{RW},reader:ro:{RO}")
    yield service.base
    service.stop()


@pytest.fixture
def api(base, clean):
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {RW}"}, timeout=30) as client:
        yield client


@pytest.fixture
def app_id(api):
    return api.post("/api/v1/applications", json={"name": "hostile"}).json()["id"]


def raw(api, method, path, text, content_type="application/json"):
    return api.request(method, path, content=text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text,
                       headers={"Content-Type": content_type})


NUL = "a\u0000b"


@pytest.mark.parametrize(("label", "body"), [
    ("app name NUL", {"name": NUL}),
    ("app comments NUL", {"name": "ok", "comments": NUL}),
])
def test_nul_in_application_fields_is_422(api, label, body):
    assert api.post("/api/v1/applications", json=body).status_code == 422


@pytest.mark.parametrize(("label", "fields"), [
    ("config name NUL", {"name": NUL}),
    ("config comments NUL", {"comments": NUL}),
    ("config key NUL", {"config": {NUL: 1}}),
    ("config value NUL", {"config": {"k": NUL}}),
    ("config nested value NUL", {"config": {"k": [{"j": NUL}]}}),
])
def test_nul_in_configuration_fields_is_422(api, app_id, label, fields):
    body = {"application_id": app_id, "name": "c", "config": {}} | fields
    assert api.post("/api/v1/configurations", json=body).status_code == 422


@pytest.mark.parametrize("template", [
    '{"name": "\\ud800"}',
    '{"name": "ok", "comments": "x\\udfff"}',
])
def test_lone_surrogates_in_application_fields_are_422(api, template):
    assert raw(api, "POST", "/api/v1/applications", template).status_code == 422


@pytest.mark.parametrize("fragment", [
    '"name": "\\ud800", "config": {}',
    '"name": "c", "comments": "\\udc00", "config": {}',
    '"name": "c", "config": {"\\ud800": 1}',
    '"name": "c", "config": {"k": "\\ud800"}',
    '"name": "c", "config": {"k": ["\\udbff"]}',
])
def test_lone_surrogates_in_configuration_fields_are_422(api, app_id, fragment):
    assert raw(api, "POST", "/api/v1/configurations", f'{{"application_id": "{app_id}", {fragment}}}').status_code == 422


@pytest.mark.parametrize(("name", "status"), [("n" * 256, 201), ("n" * 257, 422), ("ż" * 256, 201), ("🐢" * 256, 201),
                                              ("ż" * 257, 422)])
def test_name_length_is_counted_in_characters(api, name, status):
    response = api.post("/api/v1/applications", json={"name": name})
    assert response.status_code == status
    if status == 201:
        assert api.get(f"/api/v1/applications/{response.json()['id']}").json()["name"] == name


@pytest.mark.parametrize("text", ["'; DROP TABLE applications; --", "\" OR 1=1 --", "%(name)s", "%s%s%s",
                                  "$1::text", "\\x00\\\\'", "<script>alert(1)</script>", "{{7*7}}", "../../etc/passwd"])
def test_injection_strings_are_stored_and_read_back_byte_for_byte(api, app_id, text):
    created = api.post("/api/v1/configurations", json={"application_id": app_id, "name": text, "comments": text,
                                                       "config": {text: text}})
    assert created.status_code == 201
    back = api.get(f"/api/v1/configurations/{created.json()['id']}").json()
    assert (back["name"], back["comments"], back["config"]) == (text, text, {text: text})
    assert api.get("/api/v1/applications", params={"name": text}).status_code == 200


def test_ten_mib_body_is_413(api):
    body = b'{"name": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    assert raw(api, "POST", "/api/v1/applications", body).status_code == 413


def test_ten_mib_chunked_body_without_length_is_413(api):
    def chunks():
        yield b'{"name": "'
        for _ in range(160):
            yield b"a" * 65536
        yield b'"}'

    response = api.post("/api/v1/applications", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("depth", [33, 10_000])
def test_deep_nesting_is_422(api, app_id, depth):
    config = "[" * depth + "]" * depth
    body = f'{{"application_id": "{app_id}", "name": "deep", "config": {{"k": {config}}}}}'
    assert raw(api, "POST", "/api/v1/configurations", body).status_code == 422


def test_nesting_within_the_limit_is_stored(api, app_id):
    config = {"k": json.loads("[" * 29 + "]" * 29)}  # body, config, and 30 more levels: 32 in all
    assert api.post("/api/v1/configurations", json={"application_id": app_id, "name": "ok", "config": config}
                    ).status_code == 201


def test_too_many_config_keys_is_422(api, app_id):
    body = {"application_id": app_id, "name": "wide", "config": {str(i): i for i in range(1001)}}
    assert api.post("/api/v1/configurations", json=body).status_code == 422


@pytest.mark.parametrize("bad_id", ["01jd3b5zq6v2k9x4n8m7p1r0st", "01JD3B5ZQ6V2K9X4N8M7P1R0S", "01JD3B5ZQ6V2K9X4N8M7P1R0STX",
                                    "01JD3B5ZQ6V2K9X4N8M7P1R0SI", "01JD3B5ZQ6V2K9X4N8M7P1R0SL",
                                    "01JD3B5ZQ6V2K9X4N8M7P1R0SO", "01JD3B5ZQ6V2K9X4N8M7P1R0SU", "81JD3B5ZQ6V2K9X4N8M7P1R0ST"])
def test_invalid_ulids_are_422(api, bad_id):
    assert api.get(f"/api/v1/applications/{bad_id}").status_code == 422
    assert api.get(f"/api/v1/configurations/{bad_id}").status_code == 422
    assert api.post("/api/v1/configurations", json={"application_id": bad_id, "name": "c", "config": {}}
                    ).status_code == 422


@pytest.mark.parametrize("limit", ["0", "-1", str(10**12), "abc", "501", "1.5"])
def test_bad_limits_are_422(api, limit):
    assert api.get("/api/v1/applications", params={"limit": limit}).status_code == 422


@pytest.mark.parametrize(("body", "status"), [
    ('{"name": "x", "unknown": 1}', 422),
    ('{"name": 5}', 422),
    ('{"name": null}', 422),
    ('{"name": "x", "comments": 7}', 422),
    ("", 422),
    ("[]", 422),
    ('[{"name": "x"}]', 422),
    ('"billing"', 422),
    ("null", 422),
    ('{"name": ', 400),
    ('{"name": "first", "name": "dup"}', 201),
])
def test_malformed_bodies(api, body, status):
    response = raw(api, "POST", "/api/v1/applications", body)
    assert response.status_code == status
    if status == 201:  # duplicate keys: the last one wins, as in most JSON parsers
        assert response.json()["name"] == "dup"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_non_json_content_type_is_415(api, content_type):
    assert raw(api, "POST", "/api/v1/applications", '{"name": "x"}', content_type).status_code == 415


def test_json_suffix_media_types_and_charset_are_json(api):
    assert raw(api, "POST", "/api/v1/applications", '{"name": "a"}', "application/json; charset=utf-8").status_code == 201
    assert raw(api, "POST", "/api/v1/applications", '{"name": "b"}', "application/merge-patch+json").status_code == 201


def operations():
    spec = yaml.safe_load(CONTRACT.read_text())
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in {"get", "put", "post", "delete"} and path.startswith("/api/v1"):
                yield method.upper(), path.replace("{id}", APP_ID).replace("{version}", "1")


@pytest.mark.parametrize(("method", "path"), list(operations()))
def test_every_api_operation_without_a_key_is_401(base, method, path):
    for headers in ({}, {"Authorization": "Bearer wrong-key-wrong-key-wrong"}, {"Authorization": f"Basic {RW}"}):
        response = httpx.request(method, base + path, headers=headers, json={})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == harness.PROBLEM


@pytest.mark.parametrize(("method", "path"), [op for op in operations() if op[0] != "GET"])
def test_a_read_only_key_on_every_write_is_403(base, method, path):
    response = httpx.request(method, base + path, headers={"Authorization": f"Bearer {RO}"}, json={})
    assert response.status_code == 403


def test_a_read_only_key_reads(base, api, app_id):
    response = httpx.get(f"{base}/api/v1/applications/{app_id}", headers={"Authorization": f"Bearer {RO}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/docs", "/redoc"])
def test_public_paths_need_no_key(base, path):
    assert httpx.get(base + path).status_code == 200


def test_revisions_record_the_key_that_made_them(api, app_id):
    created = api.post("/api/v1/configurations", json={"application_id": app_id, "name": "c", "config": {}}).json()
    revision = api.get(f"/api/v1/configurations/{created['id']}/revisions/1").json()
    assert revision["created_by"] == "writer"


def test_answers_carry_nosniff_cache_control_and_a_request_id(api):
    response = api.get("/api/v1/applications", headers={"X-Request-ID": "client-42"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-request-id"] == "client-42"
    problem = api.get("/api/v1/applications/" + "0" * 26 + "x")
    assert problem.headers["x-request-id"] and problem.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in api.get("/api/v1/applications",
                                                        headers={"Origin": "https://evil.example"}).headers
