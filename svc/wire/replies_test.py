import json
import warnings

import pytest

from wire import models
from wire.replies import not_modified, reply, reply_trusted


def test_reply_serializes_the_model_once_as_json():
    response = reply(models.Health(status="ok", database="ok", listener="listening", waiters=0), 201, {"X-A": "b"})
    assert response.status_code == 201 and response.headers["x-a"] == "b"
    assert response.media_type == "application/json"
    assert json.loads(response.body) == {"status": "ok", "database": "ok", "listener": "listening", "waiters": 0}


def test_not_modified_has_the_etag_and_no_body():
    response = not_modified('"x.1"')
    assert response.status_code == 304 and response.headers["etag"] == '"x.1"' and response.body == b""


ROW = {"id": "01JD3B7M2W8Y6Q4T0V9X1Z3B5C", "application_id": "01JD3B5ZQ6V2K9X4N8M7P1R0ST", "name": "db",
       "comments": None, "config": {"a": [1, {"b": None}], "c": "ż"}, "version": 3}


def _now():
    from datetime import UTC, datetime
    return datetime(2026, 11, 23, 10, 15, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(("model", "data"), [
    (models.ConfigurationResource, ROW | {"created_at": _now(), "updated_at": _now()}),
    (models.ConfigurationResource, ROW | {"comments": "note", "created_at": _now(), "updated_at": _now()}),
    (models.Application, {"id": ROW["id"], "name": "a", "comments": None, "created_at": _now(), "updated_at": _now(),
                          "version": 1, "configuration_ids": [ROW["id"], ROW["application_id"]]}),
    (models.ApplicationPage, {"items": [{"id": ROW["id"], "name": "a", "comments": "c", "created_at": _now(),
                                         "updated_at": _now(), "version": 2}], "next_cursor": ROW["id"]}),
    (models.ConfigurationPage, {"items": [ROW | {"created_at": _now(), "updated_at": _now()}], "next_cursor": None}),
    (models.RevisionPage, {"items": [{"configuration_id": ROW["id"], "application_id": ROW["application_id"],
                                      "version": 1, "name": "n", "comments": None,
                                      "config": {}, "created_at": _now(), "created_by": None,
                                      "created_by_key_id": ROW["id"]}], "next_cursor": "7"}),
    (models.ChangePage, {"items": [{"seq": 1, "epoch": 2, "kind": kind, "configuration_id": ROW["id"], "name": "db",
                                    "version": 1, "at": _now(), "by": None, "by_key_id": None, "environment_id": None,
                                    "environment": None}
                                   for kind in ("created", "updated", "restored", "deleted")], "next_after": 4,
                         "epoch": 2}),
])
def test_trusted_rows_serialize_exactly_as_validated_ones(model, data):
    # Same JSON document (key order follows the row, which the SQL writes in the models' order), and no serializer
    # warning: rows hold plain values (the feed's `kind` is text, not the generated enum).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trusted = reply_trusted(model, data).body
    assert json.loads(trusted) == json.loads(model.model_validate(data).model_dump_json())


@pytest.mark.parametrize("status", [200, 201, 204, 304, 412])
@pytest.mark.parametrize("headers", [None, {}, {"ETag": '"01JD3B7M2W8Y6Q4T0V9X1Z3B5C.3"'},
                                     {"ETag": '"a.2~3"', "Location": "/api/v1/configurations/x"},
                                     {"Content-Type": "application/merge-patch+json"}, {"content-length": "1"}])
def test_a_trusted_reply_is_starlettes_response_of_it(status, headers):
    # `reply_trusted` builds its answer's headers itself where Starlette's `Response` would add its own: the same
    # status, body and headers in the same order, and Starlette's own `Response` for anything else.
    from fastapi import Response

    from wire.replies import Trusted

    data = ROW | {"created_at": _now(), "updated_at": _now()}
    ours = reply_trusted(models.ConfigurationResource, data, status, None if headers is None else dict(headers))
    theirs = Response(ours.body, status_code=status, headers=headers, media_type="application/json")
    assert (ours.status_code, ours.raw_headers, ours.body) == (theirs.status_code, theirs.raw_headers, theirs.body)
    assert ours.headers == theirs.headers and ours.media_type == theirs.media_type
    assert isinstance(ours, Trusted) == (status in (200, 201, 412) and "Content-Type" not in (headers or {})
                                         and "content-length" not in (headers or {}))


@pytest.mark.parametrize("row", [
    ROW | {"config": '{"a": [1, {"b": null}], "c": "ż"}'},
    ROW | {"name": 'q"uo\\te\n ż 🐢 \u2028', "comments": "line\nnext\t\x7f", "config": '{}', "version": 2**31 - 1},
    ROW | {"config": '{"x": "\\u0000 is written so in JSON text"}', "epoch": 3},
])
@pytest.mark.parametrize("microseconds", [0, 5, 123456])
def test_a_configurations_row_renders_as_every_row_does(row, microseconds):
    # A configuration's row (its document the text PostgreSQL returned) is written by a serializer of its own, the
    # document spliced in once: the same bytes as the one every other answer's rows go through.
    from datetime import UTC, datetime

    from wire import jsontext
    from wire.replies import _rendered, render_json

    at = datetime(2026, 12, 7, 13, 1, 2, microseconds, tzinfo=UTC)
    data = row | {"config": jsontext.Raw(row["config"]), "created_at": at, "updated_at": at}
    assert render_json(models.ConfigurationResource, data) == _rendered(models.ConfigurationResource, data)
    assert json.loads(render_json(models.ConfigurationResource, data))["config"] == json.loads(row["config"])
    override = {"configuration_id": row["id"], "environment_id": row["application_id"],
                "patch": jsontext.Raw(row["config"]), "comments": row["comments"], "created_at": at, "updated_at": at,
                "version": row["version"], "epoch": 2}
    assert render_json(models.Override, override) == _rendered(models.Override, override)
    assert json.loads(render_json(models.Override, override))["patch"] == json.loads(row["config"])
