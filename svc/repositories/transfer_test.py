import pytest

from repositories import applications, configurations, environments, overrides, transfer
from wire import jsontext
from wire.problems import Conflict, NotFound, PreconditionFailed, Unprocessable

EXACT = jsontext.loads("1.50")


@pytest.fixture
def staging(cur):
    app_id = applications.create(cur, name="billing-staging", comments=None)["id"]
    prod = environments.create(cur, name="prod", parent_id=None, comments=None)
    db = configurations.create(cur, application_id=app_id, name="db", comments="main",
                               config={"port": 5432, "host": "db", "pool": {"max": EXACT, "min": 1}})
    configurations.create(cur, application_id=app_id, name="cache", comments=None, config={"ttl": 60})
    overrides.put(cur, db["id"], prod["id"], patch={"host": "db.prod"}, comments=None)
    return app_id, prod


def test_export_is_sorted_by_name_and_key_and_keeps_numbers_exact(cur, staging):
    app_id, prod = staging
    document = transfer.export(cur, app_id)
    assert jsontext.dumps(document) == (
        '{"format":"config-service/application/1","application":"billing-staging","seq":3,"epoch":1,"environments":["prod"],'
        '"configurations":[{"name":"cache","comments":null,"config":{"ttl":60},"overrides":{}},'
        '{"name":"db","comments":"main","config":{"host":"db","pool":{"max":1.50,"min":1},"port":5432},'
        '"overrides":{"prod":{"host":"db.prod"}}}]}')
    assert transfer.export(cur, app_id, seq=3) == document  # the same state, read from history
    assert [c["name"] for c in transfer.export(cur, app_id, seq=1)["configurations"]] == ["db"]


def test_a_plan_imported_into_another_application_creates_everything_and_apply_writes_it(cur, staging):
    app_id, prod = staging
    target = applications.create(cur, name="billing-prod", comments=None)["id"]
    document = transfer.export(cur, app_id)
    planned = transfer.plan(cur, target, document)
    assert [(item["name"], item["action"]) for item in planned["items"]] == [("cache", "created"), ("db", "created")]
    assert planned["items"][1]["overrides"] == [{"environment": "prod", "environment_id": prod["id"],
                                                  "action": "created",
                                                  "patch": [{"op": "add", "path": "/host", "value": "db.prod"}]}]
    applied = transfer.apply(cur, target, document, planned["token"])
    assert applied["seq"] == 3  # two creations and an override, each in the feed
    exported = transfer.export(cur, target)
    assert exported["configurations"] == document["configurations"]
    again = transfer.plan(cur, target, document)
    assert {item["action"] for item in again["items"]} == {"unchanged"}
    with pytest.raises(PreconditionFailed):
        transfer.apply(cur, target, document, planned["token"])  # applied twice: the target moved since


def test_merge_never_deletes_exact_does_and_updates_carry_their_patch(cur, staging):
    app_id, prod = staging
    document = {"configurations": [{"name": "db", "comments": "main",
                                    "config": {"port": 5433, "host": "db", "pool": {"max": EXACT, "min": 1}},
                                    "overrides": {}}]}
    merge = transfer.plan(cur, app_id, document)
    assert [(i["name"], i["action"], i["patch"], i["overrides"]) for i in merge["items"]] == [
        ("db", "updated", [{"op": "replace", "path": "/port", "value": 5433}], [])]
    exact = transfer.plan(cur, app_id, document, exact=True)
    assert [(i["name"], i["action"]) for i in exact["items"]] == [("db", "updated"), ("cache", "deleted")]
    assert [o["action"] for o in exact["items"][0]["overrides"]] == ["deleted"]
    assert exact["token"] != merge["token"]
    transfer.apply(cur, app_id, document, exact["token"], exact=True)
    assert transfer.export(cur, app_id)["configurations"] == [{**document["configurations"][0]}]


def test_a_write_since_the_plan_makes_apply_412_and_nothing_is_written(cur, staging):
    app_id, prod = staging
    document = {"configurations": [{"name": "new", "comments": None, "config": {}, "overrides": {}}]}
    planned = transfer.plan(cur, app_id, document)
    cache = [c for c in configurations.page(cur, app_id, limit=10)[0] if c["name"] == "cache"][0]
    configurations.update(cur, cache["id"], name="cache", comments=None, config={"ttl": 61})
    with pytest.raises(PreconditionFailed):
        transfer.apply(cur, app_id, document, planned["token"])
    assert "new" not in {c["name"] for c in transfer.export(cur, app_id)["configurations"]}


def test_an_environment_renamed_since_the_plan_makes_apply_412_not_422(cur, staging):
    """The document was valid when it was planned and reviewed: the contract's answer is 412, plan again (a trial
    got 422 "No environment has this name", which tells the client to fix a document that was fine)."""
    app_id, prod = staging
    document = {"configurations": [{"name": "db", "comments": "main", "config": {"port": 1},
                                    "overrides": {"prod": {"host": "x"}}}]}
    planned = transfer.plan(cur, app_id, document)
    environments.update(cur, prod["id"], name="production", parent_id=None, comments=None)
    with pytest.raises(PreconditionFailed, match="was renamed or deleted since the plan, or the document"):
        transfer.apply(cur, app_id, document, planned["token"])
    with pytest.raises(Unprocessable):  # planned again: the document names what is not there
        transfer.plan(cur, app_id, document)


def test_bad_documents_are_422_at_the_member(cur, staging):
    app_id, prod = staging
    with pytest.raises(Unprocessable) as error:
        transfer.plan(cur, app_id, {"configurations": [{"name": "a", "config": {}, "overrides": {"qa/x": {}}}]})
    assert error.value.errors[0]["pointer"] == "/document/configurations/0/overrides/qa~1x"
    with pytest.raises(Unprocessable) as error:
        transfer.plan(cur, app_id, {"configurations": [{"name": "a", "config": {}}, {"name": "a", "config": {}}]})
    assert error.value.errors[0]["pointer"] == "/document/configurations/1/name"
    with pytest.raises(NotFound):
        transfer.plan(cur, "01JD3B5ZQ6V2K9X4N8M7P1R0ST", {"configurations": []})


def test_a_change_set_writes_all_or_names_the_change_that_failed(cur, staging):
    app_id, prod = staging
    rows = {c["name"]: c for c in configurations.page(cur, app_id, limit=10)[0]}
    cur.execute("SELECT last_change FROM applications WHERE id = %s", (app_id,))
    before = cur.fetchone()["last_change"]
    good = [{"action": "create", "name": "queue", "comments": None, "config": {"size": 1}},
            {"action": "update", "configuration_id": rows["cache"]["id"], "name": "cache", "comments": None,
             "config": {"ttl": 5}, "if_match": f'"{rows["cache"]["id"]}.1"'},
            {"action": "delete", "configuration_id": rows["db"]["id"], "if_match": None}]
    result = transfer.change_set(cur, app_id, good)
    assert result["seq"] == before + 4  # the db's override goes with it, in the feed too
    assert [r["action"] for r in result["results"]] == ["create", "update", "delete"]
    assert result["results"][1]["etag"] == f'"{rows["cache"]["id"]}.2"'
    stale = [{"action": "create", "name": "other", "comments": None, "config": {}},
             {"action": "update", "configuration_id": rows["cache"]["id"], "name": "cache", "comments": None,
              "config": {}, "if_match": f'"{rows["cache"]["id"]}.1"'}]
    with pytest.raises(PreconditionFailed, match="Change 1 \\(update\\)"):
        transfer.change_set(cur, app_id, stale)
    with pytest.raises(Conflict, match="Change 0"):  # (autocommit here: the HTTP tests show nothing is written)
        transfer.change_set(cur, app_id, [{"action": "create", "name": "queue", "comments": None, "config": {}}])
    other = applications.create(cur, name="other", comments=None)["id"]
    with pytest.raises(NotFound, match="no configuration with this id"):
        transfer.change_set(cur, other, [{"action": "delete", "configuration_id": rows["cache"]["id"]}])


def test_the_token_binds_the_document_not_only_what_the_plan_shows(cur, staging):
    app_id, prod = staging
    first = {"configurations": [{"name": "cache", "comments": "one", "config": {"ttl": 60}, "overrides": {}}]}
    second = {"configurations": [{"name": "cache", "comments": "two", "config": {"ttl": 60}, "overrides": {}}]}
    planned = transfer.plan(cur, app_id, first)
    assert transfer.plan(cur, app_id, second)["items"] == planned["items"]  # both: comments_changed
    with pytest.raises(PreconditionFailed):
        transfer.apply(cur, app_id, second, planned["token"])
    transfer.apply(cur, app_id, first, planned["token"])
    assert [c["comments"] for c in transfer.export(cur, app_id)["configurations"] if c["name"] == "cache"] == ["one"]


def test_an_override_an_import_updates_keeps_its_comments_as_the_plan_shows_no_change_to_them(cur, staging):
    """A document carries no override's comments: applying it changed the patch the plan showed and cleared the
    comments, which it did not show."""
    app_id, prod = staging
    document = transfer.export(cur, app_id)
    (db,) = [c for c in document["configurations"] if c["name"] == "db"]
    current = transfer.current(cur, app_id)["configurations"]["db"]
    overrides.put(cur, current["id"], prod["id"], patch={"host": "db.prod"}, comments="INC-42: pinned by on-call")
    db["overrides"]["prod"] = {"host": "db.prod2"}
    planned = transfer.plan(cur, app_id, document)
    (item,) = [i for i in planned["items"] if i["name"] == "db"]
    assert item["overrides"][0]["patch"] == [{"op": "replace", "path": "/host", "value": "db.prod2"}]
    transfer.apply(cur, app_id, document, planned["token"])
    after = overrides.get(cur, current["id"], prod["id"])
    assert jsontext.loads(after["patch"]) == {"host": "db.prod2"} and after["comments"] == "INC-42: pinned by on-call"


def test_a_document_whose_numbers_are_spelled_otherwise_than_stored_plans_unchanged_once_applied(cur, staging):
    """`1e21`, `1.0E+2` and `-0.0` are stored as `1000000000000000000000`, `100` and `0.0`: the plan compared the
    spelling, so every apply of such a document wrote a new version with the same content, and its plan showed
    changes that were none. `0.10` stays `0.10` (its scale is kept), and `0.1` against it is a change."""
    target = applications.create(cur, name="limits", comments=None)["id"]
    document = {"configurations": [{"name": "limits", "comments": None, "overrides": {},
                                    "config": jsontext.loads('{"max": 1e21, "hundred": 1.0E+2, "neg": -0.0, '
                                                             '"ok": 0.10, "tiny": 1e-7}')}]}
    planned = transfer.plan(cur, target, document)
    transfer.apply(cur, target, document, planned["token"])
    again = transfer.plan(cur, target, document)
    assert [(i["action"], i["patch"]) for i in again["items"]] == [("unchanged", [])]
    document["configurations"][0]["config"]["ok"] = jsontext.loads("0.1")
    changed = transfer.plan(cur, target, document)
    assert [(i["action"], [op["path"] for op in i["patch"]]) for i in changed["items"]] == [("updated", ["/ok"])]
