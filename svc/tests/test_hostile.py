"""Hostile input against the live service (uvicorn, API keys on): each row its expected status, never a 5xx.
Round two (the second half) runs each row against the service with API keys and without."""

import functools
import gzip
import json
import os
import select
import socket
import time
import unicodedata
from decimal import Decimal

import httpx
import pytest
import yaml

from wire import jsontext
from app import CONTRACT
from tools import harness

pytestmark = pytest.mark.integration

RW = "rw-key-" + "x" * 24
RO = "ro-key-" + "y" * 24
APP_ID = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


@pytest.fixture(scope="module")
def base(database_url):
    # A body deadline only a hang reaches: a 10 MiB body streamed in 64 KiB chunks is refused for its size (413),
    # not for its time, however busy the machine. The slow bodies' 408s are `endpoint`'s, with a 1 s deadline.
    service = harness.Service(database_url, API_KEYS=f"writer:rw:{RW},reader:ro:{RO}",
                              BODY_TIMEOUT_SECONDS=str(harness.HANG))
    yield service.base
    assert "unhandled error" not in service.log(), "a hostile request reached the last-resort 500"
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


def test_query_values_that_are_not_utf8_once_decoded_are_422_on_every_kind_of_read(api, app_id):
    """A served worker, its fast path and its routes: `%FF` in a query was read as U+FFFD (a list filtered by a name
    nobody sent answered 200, a contract audit found)."""
    id = api.post("/api/v1/configurations", json={"application_id": app_id, "name": "c", "config": {}}).json()["id"]
    for target in ("/api/v1/applications?name=%FF", f"/api/v1/applications/{app_id}/configurations?name=x%C3",
                   f"/api/v1/configurations/{id}?wait=1&x=%FF", "/api/v1/effective?application=%FF&configuration=c",
                   f"/api/v1/applications/{app_id}/changes?after=0&x%FF=1"):
        refused = api.get(target)
        assert refused.status_code == 422, (target, refused.status_code, refused.text)
        assert refused.json()["errors"][0]["message"].startswith("Not UTF-8"), target
    assert api.get("/api/v1/applications?name=caf%C3%A9").status_code == 200


@pytest.mark.parametrize("limit", ["0", "-1", str(10**12), "abc", "501", "1.5"])
def test_bad_limits_are_422(api, limit):
    assert api.get("/api/v1/applications", params={"limit": limit}).status_code == 422


@pytest.mark.parametrize(("body", "status"), [
    ('{"name": "x", "unknown": 1}', 422),
    ('{"name": 5}', 422),
    ('{"name": null}', 422),
    ('{"name": "x", "comments": 7}', 422),
    ("", 400),  # no JSON text at all: not well-formed (RFC 8259 §2)
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


def test_an_encoded_body_is_415_with_accept_encoding_identity(api, app_id):
    """The service decodes no Content-Encoding (RFC 9110 §8.4): gzip's bytes are refused as what they are, on the
    route and on the fast write alike, with the coding it takes; the same body unencoded is stored."""
    created = api.post("/api/v1/configurations", json={"application_id": app_id, "name": "gz", "config": {}})
    path = f"/api/v1/configurations/{created.json()['id']}"
    body = json.dumps({"name": "gz", "config": {"a": 1}}).encode()
    for method, url in (("POST", "/api/v1/applications"), ("PUT", path)):
        answer = api.request(method, url, content=gzip.compress(body), headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip", "If-Match": created.headers["ETag"]})
        assert answer.status_code == 415 and answer.headers["Accept-Encoding"] == "identity", answer.text
        assert answer.headers["Content-Type"] == "application/problem+json"
    assert api.get(path).json()["config"] == {}
    answer = api.put(path, content=body, headers={"Content-Type": "application/json", "Content-Encoding": "identity",
                                                   "If-Match": created.headers["ETag"]})
    assert answer.status_code == 200 and answer.json()["config"] == {"a": 1}


def test_json_suffix_media_types_and_charset_are_json(api):
    assert raw(api, "POST", "/api/v1/applications", '{"name": "a"}', "application/json; charset=utf-8").status_code == 201
    assert raw(api, "POST", "/api/v1/applications", '{"name": "b"}', "application/merge-patch+json").status_code == 201


@functools.cache
def contract() -> dict:
    return yaml.safe_load(CONTRACT.read_text())


def operations(declared: bool = False):
    """(method, path) of every operation of the API, its path filled in; with `declared`, and its responses."""
    for path, item in contract()["paths"].items():
        for method, op in item.items():
            if method in {"get", "put", "patch", "post", "delete"} and path.startswith("/api/v1"):
                filled = method.upper(), path.replace("{id}", APP_ID).replace("{version}", "1")
                yield (*filled, op["responses"]) if declared else filled


@pytest.mark.parametrize(("method", "path"), list(operations()))
def test_every_api_operation_without_a_key_is_401(base, method, path):
    for headers in ({}, {"Authorization": "Bearer wrong-key-wrong-key-wrong"}, {"Authorization": f"Basic {RW}"}):
        response = httpx.request(method, base + path, headers=headers, json={})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == harness.PROBLEM


@pytest.mark.parametrize(("method", "path", "declared"), list(operations(declared=True)))
def test_a_body_over_the_limit_is_a_declared_413_on_every_operation_whether_it_takes_one_or_not(base, method, path,
                                                                                                  declared):
    """A body over 1 MiB is refused before it is read (and before the key is looked at), whatever the operation: the
    contract declares the 413 on every one, those that take no body included (a trial found 37 that did not)."""
    assert "413" in declared
    answer = httpx.request(method, base + path, content=b" " * (1024 * 1024 + 1),
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.headers["content-type"] == harness.PROBLEM


# An import's plan is a POST that writes nothing (a read-only key may review one): tests/test_access.py has it.
@pytest.mark.parametrize(("method", "path"), [op for op in operations()
                                              if op[0] != "GET" and not op[1].endswith("/import/plan")])
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


# Round two: each row with API keys and without.

@pytest.fixture(scope="module", params=["with keys", "without keys"])
def endpoint(request, database_url):
    keyed = request.param == "with keys"
    keys = {"API_KEYS": f"writer:rw:{RW},reader:ro:{RO}"} if keyed else {}
    service = harness.Service(database_url, BODY_TIMEOUT_SECONDS="1", **keys)
    yield service.base, ({"Authorization": f"Bearer {RW}"} if keyed else {})
    assert "unhandled error" not in service.log(), "a hostile request reached the last-resort 500"
    service.stop()


@pytest.fixture
def api2(endpoint, clean):
    url, headers = endpoint
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def app2(api2):
    return api2.post("/api/v1/applications", json={"name": "hostile"}).json()["id"]


def create_raw(api, app_id, config_text, name="c"):
    return raw(api, "POST", "/api/v1/configurations",
               f'{{"application_id": "{app_id}", "name": "{name}", "config": {config_text}}}')


@pytest.mark.parametrize(("text", "pointer"), [
    ('{"x": NaN}', "/config/x"), ('{"x": Infinity}', "/config/x"), ('{"x": -Infinity}', "/config/x"),
    ('{"x": 1e999999999}', "/config/x"), ('{"x": -1e999999999}', "/config/x"),
    ('{"a": [1, {"b": NaN}]}', "/config/a/1/b"), ('{"x": 1e-16384}', "/config/x"), ('{"x": 0.0e-16383}', "/config/x"),
    ('{"x": 1' + "0" * 131072 + '}', "/config/x"),
    # exponents past what Python's Decimal holds (10**18 and beyond): JSON allows them, no numeric stores them
    ('{"x": 1e9999999999999999999}', "/config/x"), ('{"x": 0e9999999999999999999}', "/config/x"),
    ('{"x": -0.0e-9999999999999999999}', "/config/x"), ('{"a": [1E+1000000000000000000]}', "/config/a/0"),
], ids=lambda value: value[:40] if isinstance(value, str) else None)
def test_numbers_json_or_numeric_cannot_hold_are_422_with_a_pointer(api2, app2, text, pointer):
    for response in (create_raw(api2, app2, text),
                     raw(api2, "PUT", "/api/v1/configurations/" + create_raw(api2, app2, "{}", "u").json()["id"],
                         f'{{"name": "u", "config": {text}}}')):
        problem = harness.assert_problem(response, 422)
        assert [e["pointer"] for e in problem["errors"]] == [pointer]
        api2.delete(f"/api/v1/configurations/{response.request.url.path.rsplit('/', 1)[-1]}") \
            if response.request.method == "PUT" else None


@pytest.mark.parametrize("number", [
    "3.1415926535897932384626433832795028", "1e-400", "1e400", "-1e400", "1E+2", "-0", "0.1", "-0.000",
    "123456789012345678901234567890", "1" + "0" * 4500, "1e-16383", "1e131071", "2.5e-300",
], ids=lambda number: number[:40])
def test_numbers_are_stored_and_read_back_with_the_same_value(api2, app2, sql, number):
    created = create_raw(api2, app2, f'{{"x": {number}, "list": [{number}], "deep": {{"y": {number}}}}}')
    assert created.status_code == 201, created.text
    expected = Decimal(number)
    id = jsontext.loads(created.content)["id"]  # json.loads refuses integers of more than 4300 digits
    for response in (created, api2.get(created.headers["location"]),
                     api2.get(f"/api/v1/configurations/{id}/revisions/1")):
        config = jsontext.loads(response.content)["config"]
        assert (Decimal(config["x"]), Decimal(config["list"][0]), Decimal(config["deep"]["y"])) == (expected,) * 3
    sql.execute("SELECT config -> 'x' = %s::jsonb AS same FROM configurations WHERE id = %s",
                (number, id))
    assert sql.fetchone()["same"]


@pytest.mark.parametrize("number", ["1e3", "1.5", "-1.50", "1e-3", "-12.5e-3", "0e5", "0.000", "123.456e1",
                                    "1e400", "-1e-400", "1e131071", "1e-16383"])
def test_the_width_the_body_checks_count_is_what_postgresql_writes(sql, number):
    sql.execute("SELECT length(%s::jsonb::text) AS width", (number,))
    assert sql.fetchone()["width"] == jsontext.width(Decimal(number))


def test_a_few_bytes_of_numbers_that_read_back_as_megabytes_are_422(api2, app2):
    """`1e131071` is 8 bytes in a body and 131,072 characters in every read of it: a body of such numbers is
    refused once, written out in full, they would pass MAX_BODY_BYTES (1 MiB here), at the one past it, with PUT as
    with POST. Eight of them (1,048,576 characters: the limit) are stored, and read back whole."""
    def numbers(n: int) -> str:
        return "{" + ", ".join(f'"n{i}": 1e131071' for i in range(n)) + "}"
    refused = harness.assert_problem(create_raw(api2, app2, numbers(9)), 422)
    assert [e["pointer"] for e in refused["errors"]] == ["/config/n8"]
    assert "MAX_BODY_BYTES" in refused["errors"][0]["message"]
    created = create_raw(api2, app2, numbers(8))
    assert created.status_code == 201, created.text[:300]
    put = raw(api2, "PUT", created.headers["location"], f'{{"name": "c", "config": {numbers(9)}}}')
    assert [e["pointer"] for e in harness.assert_problem(put, 422)["errors"]] == ["/config/n8"]
    read = api2.get(created.headers["location"])
    assert len(read.content) > 8 * 131072 and jsontext.loads(read.content)["config"]["n7"] == Decimal("1e131071")


def test_a_number_survives_update_and_restore_exactly(api2, app2):
    created = create_raw(api2, app2, '{"pi": 3.14159265358979323846264338327950288419716939937510}')
    url = created.headers["location"]
    api2.put(url, json={"name": "c", "config": {"pi": 3}})
    restored = api2.post(f"{url}/revisions/1/restore")
    assert b'"pi": 3.14159265358979323846264338327950288419716939937510' in restored.content


def writes_with_if_match(api, app_id):
    """(method, path, body) of every conditional write, on fresh resources."""
    name = "w-" + os.urandom(4).hex()
    config = api.post("/api/v1/configurations", json={"application_id": app_id, "name": name, "config": {}}).json()
    other = api.post("/api/v1/applications", json={"name": name}).json()
    return [("PUT", f"/api/v1/configurations/{config['id']}", {"name": name, "config": {}}, config["id"]),
            ("POST", f"/api/v1/configurations/{config['id']}/revisions/1/restore", None, config["id"]),
            ("DELETE", f"/api/v1/configurations/{config['id']}", None, config["id"]),
            ("PUT", f"/api/v1/applications/{other['id']}", {"name": name}, other["id"]),
            ("DELETE", f"/api/v1/applications/{other['id']}", None, other["id"])]


@pytest.mark.parametrize("version", ["9999999999", "2147483648", "99999999999999999999999999", "0", "01",
                                     # the current version in another epoch, or in epoch 1 spelled as it never is
                                     "1~2", "1~1", "1~01", "1~4294967296", "1~"])
def test_if_match_with_a_version_no_resource_has_is_412_with_the_current_etag(api2, app2, version):
    for method, path, body, id in writes_with_if_match(api2, app2):
        response = api2.request(method, path, json=body, headers={"If-Match": f'"{id}.{version}"'})
        harness.assert_problem(response, 412)
        assert response.headers["etag"] == f'"{id}.1"'


def test_if_match_compares_strongly_and_if_none_match_weakly(api2, app2):
    for method, path, body, id in writes_with_if_match(api2, app2):
        harness.assert_problem(api2.request(method, path, json=body, headers={"If-Match": f'W/"{id}.1"'}), 412)
    for index in range(5):  # each on fresh resources at version 1
        method, path, body, id = writes_with_if_match(api2, app2)[index]
        response = api2.request(method, path, json=body, headers={"If-Match": f'"x", W/"{id}.1", "{id}.1"'})
        assert response.status_code in (200, 204), (method, path, response.text)
    config = api2.post("/api/v1/configurations", json={"application_id": app2, "name": "n", "config": {}})
    etag = config.headers["etag"]
    assert api2.get(config.headers["location"], headers={"If-None-Match": f"W/{etag}"}).status_code == 304


def get_paths(api, app_id):
    config = api.post("/api/v1/configurations", json={"application_id": app_id, "name": "h", "config": {"a": 1}})
    cid = config.json()["id"]
    return ["/health", "/api/v1/applications", f"/api/v1/applications/{app_id}",
            f"/api/v1/applications/{app_id}/configurations", f"/api/v1/applications/{app_id}/changes",
            f"/api/v1/configurations/{cid}", f"/api/v1/configurations/{cid}/revisions",
            f"/api/v1/configurations/{cid}/revisions/1", "/api/v1/configurations/" + APP_ID]


def test_head_answers_what_get_answers_without_a_body(api2, app2):
    paths = get_paths(api2, app2)
    assert set(p.replace(app2, "{id}") for p in paths[:5]) | {"/api/v1/configurations/{id}"} <= {
        path for path, item in contract()["paths"].items() if "get" in item}
    for path in paths:
        get, head = api2.get(path), api2.head(path)
        assert (head.status_code, head.content) == (get.status_code, b""), path
        ignored = {"x-request-id", "date"}
        assert {k: v for k, v in head.headers.items() if k not in ignored} == \
               {k: v for k, v in get.headers.items() if k not in ignored}, path
    etag = api2.get(paths[5]).headers["etag"]
    assert api2.head(paths[5], headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("path", [
    "/api/v1/applications/{app}%2fconfigurations", "/api/v1/applications/{app}%2Fconfigurations",
    "/api/v1/applications%2F{app}", "/api/v1/applications/{app}%2F", "/api/v1%2Fapplications",
    "/api/v1/applications/{app}/configurations%2F..%2F..", "/health%2F",
])
def test_an_encoded_slash_is_never_a_separator(api2, app2, path):
    response = api2.get(path.format(app=app2))
    harness.assert_problem(response, 404)


NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


def test_names_are_one_name_in_any_normalization_form(api2, app2):
    first = api2.post("/api/v1/applications", json={"name": NFD})
    assert first.status_code == 201 and first.json()["name"] == NFC
    harness.assert_problem(api2.post("/api/v1/applications", json={"name": NFC}), 409)
    assert [a["id"] for a in api2.get("/api/v1/applications", params={"name": NFD}).json()["items"]] == [first.json()["id"]]
    config = api2.post("/api/v1/configurations", json={"application_id": app2, "name": NFC, "config": {}})
    assert config.status_code == 201
    harness.assert_problem(api2.post("/api/v1/configurations", json={"application_id": app2, "name": NFD,
                                                                      "config": {}}), 409)
    listed = api2.get(f"/api/v1/applications/{app2}/configurations", params={"name": NFD}).json()["items"]
    assert [c["id"] for c in listed] == [config.json()["id"]]
    renamed = api2.put(config.headers["location"], json={"name": "e\u0301", "config": {}})
    assert renamed.json()["name"] == "\u00e9"


@pytest.mark.parametrize("name", [
    " ", "   ", "\t", "\u3000", "\u200b", "\u00a0", " billing", "billing ", "billing\u3000", "\u2028x",
    "a\tb", "a\nb", "a\u202eb", "\u202eevil", "a\u200bb", "a\u2066b", "\ufeffx", "x\u00ad",
    "a\U000e0001b", "\U0001d173", "a\x7fb", "a\x85b",
])
def test_names_that_could_be_confused_are_422_at_the_field(api2, app2, name):
    for response, pointer in ((api2.post("/api/v1/applications", json={"name": name}), "/name"),
                              (api2.post("/api/v1/configurations",
                                         json={"application_id": app2, "name": name, "config": {}}), "/name")):
        problem = harness.assert_problem(response, 422)
        assert [e["pointer"] for e in problem["errors"]] == [pointer], name
    assert api2.get("/api/v1/applications", params={"name": name}).status_code == 422


def test_names_with_inner_spaces_and_any_script_are_fine(api2, app2):
    for name in ("my app", "Zürich billing", "請求", "🐢 turtle", "a\u3000b", "x-y_z.1"):
        assert api2.post("/api/v1/applications", json={"name": name}).status_code == 201, name


def slow_body(base: str, body_parts: list[bytes], headers: str) -> tuple[bytes, float]:
    """Send a request's head and then its body parts a second apart; the answer and how long it took."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=harness.HANG) as sock:
        started = time.monotonic()
        sock.sendall(f"POST /api/v1/applications HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        for part in body_parts:
            if select.select([sock], [], [], 0)[0]:
                break  # answered already: sending more now would reset the connection under the answer
            sock.sendall(part)
            time.sleep(0.6)
        answer = b""
        while chunk := sock.recv(65536):  # the service closes the connection after the 408
            answer += chunk
        return answer, time.monotonic() - started


@pytest.mark.parametrize(("parts", "headers"), [
    ([b'{"na'], "Content-Length: 100\r\nContent-Type: application/json\r\n"),  # never ends
    ([b"{", b'"n', b"a", b"m"], "Content-Length: 100\r\nContent-Type: application/json\r\n"),  # trickles
    ([b"3\r\n{\"n\r\n"], "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n"),  # no last chunk
    ([], "Content-Length: 10\r\n"),  # nothing at all
])
def test_a_slow_or_endless_body_is_408_and_the_connection_closed(endpoint, parts, headers):
    base, auth = endpoint
    extra = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
    answer, took = slow_body(base, parts, headers + extra)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"content-type: application/problem+json" in head.lower() and b"connection: close" in head.lower()
    assert json.loads(body)["status"] == 408
    # BODY_TIMEOUT_SECONDS=1 from the request's start: a body that never ends is answered, not waited for (only a
    # hang reaches the bound; the body never completes, so the 408 itself is the proof).
    assert took < harness.HANG / 2


@pytest.mark.parametrize(("path", "params"), [
    ("", {"name": "\u0000"}), ("", {"name": "x" * 257}), ("", {"limit": "1e3"}), ("", {"cursor": "../../etc"}),
    ("/{app}/changes", {"wait": "1e9"}), ("/{app}/changes", {"after": "-1"}), ("/{app}/changes", {"after": "9" * 30}),
    ("/{app}/changes", {"epoch": "0"}), ("/{app}/changes", {"epoch": "4294967296"}), ("/{app}/changes", {"epoch": "x"}),
    ("/{app}/configurations", {"wait": "0"}), ("/{app}/configurations", {"name": " x"}),
])
def test_query_parameters_an_attacker_sends_are_422(api2, app2, path, params):
    harness.assert_problem(api2.get("/api/v1/applications" + path.format(app=app2), params=params), 422)


# Integers a lenient parser takes (Python's int() and pydantic's lax mode read 1_0 as 10, strip spaces, take a
# sign, leading zeros and a zero fraction); the contract's integers are plain decimals.
NOT_PLAIN = ["1_0", "0_1", " 10", "10 ", "+10", "010", "10.0", "1e1", "\u0661\u0660", "0x10", "", "-0"]


@pytest.mark.parametrize("value", NOT_PLAIN)
def test_integers_in_the_query_are_plain_decimals_else_422_at_the_parameter(api2, app2, value):
    config = api2.post("/api/v1/configurations", json={"application_id": app2, "name": "q", "config": {}})
    url, etag = config.headers["location"], config.headers["etag"]
    app = f"/api/v1/applications/{app2}"
    for path, name in ((f"{app}/changes", "wait"), (f"{app}/changes", "after"), (f"{app}/changes", "limit"),
                       (f"{app}/changes", "epoch"),
                       ("/api/v1/applications", "limit"), (f"{app}/configurations", "limit"),
                       (f"{app}/configurations", "wait"), (f"{url}/revisions", "limit"), (url, "wait"), (app, "wait")):
        response = api2.get(path, params={name: value}, headers={"If-None-Match": etag})
        problem = harness.assert_problem(response, 422)
        assert [e["pointer"] for e in problem["errors"]] == [f"#/query/{name}"], (path, name)


@pytest.mark.parametrize("value", [v for v in NOT_PLAIN if v.strip() and v != "10 "])
def test_versions_in_the_path_are_plain_decimals_else_422_at_the_parameter(api2, app2, value):
    config = api2.post("/api/v1/configurations", json={"application_id": app2, "name": "p", "config": {}})
    url = config.headers["location"]
    for _ in range(10):  # versions 2 to 11: revision 10 exists, so 1_0 could find one
        api2.put(url, json={"name": "p", "config": {}})
    for response in (api2.get(f"{url}/revisions/{value}"), api2.post(f"{url}/revisions/{value}/restore")):
        problem = harness.assert_problem(response, 422)
        assert [e["pointer"] for e in problem["errors"]] == ["#/path/version"]
    assert api2.get(url).json()["version"] == 11  # nothing was restored


def test_if_headers_an_attacker_sends(api2, app2):
    config = api2.post("/api/v1/configurations", json={"application_id": app2, "name": "i", "config": {}})
    url = config.headers["location"]
    for value in ('"' + "9" * 5000 + '"', ",".join(['"x"'] * 2000), "W/", '""', "*, *", "\u00e9t\u00e9".encode("latin-1")):
        assert api2.put(url, json={"name": "i", "config": {}}, headers={"If-Match": value}).status_code in (200, 412)
        assert api2.put(url, json={"name": "i", "config": {}}, headers={"If-None-Match": value}).status_code in (200, 412)
        assert api2.get(url, headers={"If-None-Match": value}).status_code in (200, 304)


def exchange(base: str, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one raw request (it asks for the connection to be closed) and read the whole answer: its status, its
    headers (lower-case names) and its body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(("version", "host_lines"), [
    ("1.1", []), ("1.1", ["127.0.0.1", "127.0.0.1"]), ("1.0", ["a", "b"]), ("1.1", ["a b"]), ("1.1", ["a@b"]),
    ("1.1", ["a/b"]), ("1.1", ["a:b"]), ("1.1", ["[::1"]), ("1.1", ["[nonsense]:80"]), ("1.1", ["a\tb"]),
    ("1.0", ["a, b"]),
], ids=lambda value: repr(value))
def test_a_missing_repeated_or_invalid_host_is_400(endpoint, app2, api2, version, host_lines):
    """RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with more than one Host line
    or an invalid one; a problem, on every path (the fast path's included)."""
    base, auth = endpoint
    config = api2.post("/api/v1/configurations", json={"application_id": app2, "name": "h", "config": {}}).json()
    for path in ("/health", "/api/v1/applications", f"/api/v1/configurations/{config['id']}"):
        head = f"GET {path} HTTP/{version}\r\n" + "".join(f"Host: {h}\r\n" for h in host_lines)
        head += "".join(f"{k}: {v}\r\n" for k, v in auth.items()) + "Connection: close\r\n\r\n"
        status, headers, body = exchange(base, head.encode())
        assert status == 400, (path, body)
        assert headers[b"content-type"] == b"application/problem+json" and headers[b"x-request-id"]
        assert json.loads(body)["status"] == 400 and "Host" in json.loads(body)["detail"]


@pytest.mark.parametrize(("version", "host_lines"), [
    ("1.0", []), ("1.1", ["127.0.0.1"]), ("1.1", ["127.0.0.1:8000"]), ("1.1", ["localhost"]), ("1.1", ["[::1]:8000"]),
    ("1.1", ["config.example.com:"]), ("1.1", ["xn--caf-dma.example"]), ("1.1", [""]), ("1.1", ["a%20b"]),
], ids=lambda value: repr(value))
def test_one_valid_host_or_none_on_http_1_0_is_served(endpoint, version, host_lines):
    base, auth = endpoint
    head = f"GET /api/v1/applications HTTP/{version}\r\n" + "".join(f"Host: {h}\r\n" for h in host_lines)
    head += "".join(f"{k}: {v}\r\n" for k, v in auth.items()) + "Connection: close\r\n\r\n"
    status, _, body = exchange(base, head.encode())
    assert status == 200, body


def test_a_request_asking_to_upgrade_is_served_as_http_1_1_with_its_body(endpoint, app2, api2):
    """The service upgrades to nothing (RFC 9110 §7.8 lets it ignore `Upgrade`): `curl --http2 -d ...` asks for h2c
    and its PUT is applied with the body it sent; a WebSocket handshake is answered as the GET it is."""
    base, auth = endpoint
    created = api2.post("/api/v1/configurations", json={"application_id": app2, "name": "u", "config": {}})
    path = f"/api/v1/configurations/{created.json()['id']}"
    keys = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
    body = json.dumps({"name": "u", "config": {"upgraded": False}}).encode()
    status, headers, answer = exchange(base, (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n"
        f"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nIf-Match: {created.headers['ETag']}\r\n{keys}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    assert status == 200, answer
    assert json.loads(answer)["config"] == {"upgraded": False} and headers[b"etag"] != created.headers["ETag"].encode()
    assert api2.get(path).json()["config"] == {"upgraded": False}
    status, headers, answer = exchange(base, (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{keys}\r\n").encode())
    assert status == 200 and json.loads(answer)["config"] == {"upgraded": False}


@pytest.mark.parametrize("request_bytes", [b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x7fb\r\n\r\n",
                                           b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX A: b\r\n\r\n",
                                           b"GET /health HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
                                           b"\x16\x03\x01\x02\x00\r\n\r\n"],
                         ids=["control character", "space in a name", "version", "TLS hello"])
def test_what_is_not_http_is_a_400_problem(endpoint, request_bytes):
    status, headers, body = exchange(endpoint[0], request_bytes)
    assert status == 400 and headers[b"content-type"] == b"application/problem+json"
    assert json.loads(body)["type"] == "https://config-service.dev/problems/malformed-request"
