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
