"""The schemathesis hooks point positive cases at real resources, and leave the others as generated."""

from datetime import UTC, datetime
from types import SimpleNamespace

from schemathesis import GenerationMode
from schemathesis.generation.meta import TestPhase

from tools import fuzz_hooks

RANDOM = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"
REAL = "01KAAAAAAAAAAAAAAAAAAAAAAA"


def case(mode=GenerationMode.POSITIVE, phase=TestPhase.FUZZING, **parts):
    meta = SimpleNamespace(generation=SimpleNamespace(mode=mode), phase=SimpleNamespace(name=phase))
    return SimpleNamespace(meta=meta, path_parameters=parts.get("path"), headers=parts.get("headers"),
                           body=parts.get("body"), query=parts.get("query"))


def test_every_operation_on_an_id_has_a_target_and_the_others_none():
    assert fuzz_hooks.target("deleteApplication") == "fresh application"
    assert fuzz_hooks.target("restoreConfigurationRevision") == "fresh configuration"
    assert fuzz_hooks.target("patchConfiguration") == "fresh configuration"
    assert fuzz_hooks.target("getConfigurationRevision") == "shared configuration"
    assert fuzz_hooks.target("createConfiguration") == "shared application"
    assert fuzz_hooks.target("listApplicationChanges") == "shared application"
    assert fuzz_hooks.target("updateEnvironment") == "fresh environment"
    assert fuzz_hooks.target("getEnvironment") == "shared environment"
    assert fuzz_hooks.target("restoreOverrideRevision") == "fresh override"
    assert fuzz_hooks.target("listOverrideRevisions") == "shared override"
    assert fuzz_hooks.target("compareConfiguration") == "shared view"
    assert fuzz_hooks.target("getEffectiveApplication") == "shared views"
    assert fuzz_hooks.target("findEffective") == "shared names"
    assert fuzz_hooks.target("createApplication") is None
    assert fuzz_hooks.target("createEnvironment") is None  # its parent is given by give_parent, in every phase
    assert fuzz_hooks.target("listEnvironments") is None
    assert fuzz_hooks.target("getHealth") is None


def test_retarget_names_the_resource_its_first_version_and_its_etag():
    updated = case(path={"id": RANDOM, "version": 77}, headers={"If-Match": "junk"})
    fuzz_hooks.retarget(updated, "restoreConfigurationRevision", fuzz_hooks.Target(REAL, '"etag"'))
    assert updated.path_parameters == {"id": REAL, "version": 1}
    assert updated.headers == {"If-Match": '"etag"'}

    unconditional = case(path={"id": RANDOM}, headers={})
    fuzz_hooks.retarget(unconditional, "deleteApplication", fuzz_hooks.Target(REAL, '"etag"'))
    assert unconditional.headers == {}  # a write sent without If-Match stays unconditional

    feed = case(path={"id": RANDOM}, query={"after": 3, "epoch": 4000})
    fuzz_hooks.retarget(feed, "listApplicationChanges", fuzz_hooks.Target(REAL, epoch=1))
    assert feed.query == {"after": 3, "epoch": 1}  # the database's epoch, not one it never had
    unpinned = case(path={"id": RANDOM}, query={"after": 3})
    fuzz_hooks.retarget(unpinned, "listApplicationChanges", fuzz_hooks.Target(REAL, epoch=1))
    assert unpinned.query == {"after": 3}

    created = case(body={"application_id": RANDOM, "name": "x", "config": {}})
    fuzz_hooks.retarget(created, "createConfiguration", fuzz_hooks.Target(REAL))
    assert created.body["application_id"] == REAL


def test_negative_and_stateful_cases_and_every_eighth_positive_one_are_left_as_generated():
    assert not fuzz_hooks.chosen(case(mode=GenerationMode.NEGATIVE), "getApplication")
    assert not fuzz_hooks.chosen(case(phase=TestPhase.STATEFUL), "getApplication")
    assert fuzz_hooks.chosen(case(phase=TestPhase.STATEFUL), "createConfiguration")
    picks = [fuzz_hooks.chosen(case(), "updateConfiguration") for _ in range(16)]
    assert picks.count(False) == 2
    assert all(fuzz_hooks.chosen(case(), "createConfiguration") for _ in range(16))


def test_a_well_formed_idempotency_key_is_new_in_every_case_and_a_malformed_one_stays():
    first, second = case(headers={"Idempotency-Key": "0"}), case(headers={"Idempotency-Key": "0"})
    fuzz_hooks.fresh_idempotency_key(first)
    fuzz_hooks.fresh_idempotency_key(second)
    assert first.headers["Idempotency-Key"] != "0" and first.headers["Idempotency-Key"] != second.headers["Idempotency-Key"]
    bad = case(headers={"Idempotency-Key": "a\\b"})
    fuzz_hooks.fresh_idempotency_key(bad)
    assert bad.headers["Idempotency-Key"] == "a\\b"
    fuzz_hooks.fresh_idempotency_key(case())  # no headers at all


def test_a_write_that_sends_if_none_match_names_a_version_the_resource_does_not_have_yet():
    write = case(path={"id": RANDOM}, headers={"If-Match": '"x"', "If-None-Match": "*"})
    fuzz_hooks.retarget(write, "updateConfiguration", fuzz_hooks.Target(REAL, f'"{REAL}.4"'))
    assert write.headers == {"If-Match": f'"{REAL}.4"', "If-None-Match": f'"{REAL}.5"'}


ENV = "01KBBBBBBBBBBBBBBBBBBBBBBB"
ROOT = "01KCCCCCCCCCCCCCCCCCCCCCCC"


def test_an_override_write_names_the_configuration_the_environment_and_the_overrides_etag():
    write = case(path={"id": RANDOM, "environment_id": RANDOM, "version": 9},
                 headers={"If-Match": "junk", "If-None-Match": "*"})
    fuzz_hooks.retarget(write, "restoreOverrideRevision", fuzz_hooks.Target(REAL, f'"{REAL}.{ENV}.3"', ENV))
    assert write.path_parameters == {"id": REAL, "environment_id": ENV, "version": 1}
    assert write.headers == {"If-Match": f'"{REAL}.{ENV}.3"', "If-None-Match": f'"{REAL}.{ENV}.4"'}


def test_a_view_names_its_environment_and_compare_goes_from_the_parent_to_it():
    view = case(path={"id": RANDOM}, query={"environment_id": RANDOM, "wait": 5})
    fuzz_hooks.retarget(view, "getEffectiveConfiguration", fuzz_hooks.Target(REAL, environment=ENV, parent=ROOT))
    assert view.path_parameters == {"id": REAL} and view.query == {"environment_id": ENV, "wait": 5}
    compared = case(path={"id": RANDOM}, query={"from": RANDOM, "to": RANDOM})
    fuzz_hooks.retarget(compared, "compareApplication", fuzz_hooks.Target(REAL, environment=ENV, parent=ROOT))
    assert compared.query == {"from": ROOT, "to": ENV}
    one_side = case(path={"id": RANDOM}, query={"to": RANDOM})
    fuzz_hooks.retarget(one_side, "compareConfiguration", fuzz_hooks.Target(REAL, environment=ENV, parent=ROOT))
    assert one_side.query == {"to": ENV}  # without `from`, the configuration's own config stays the first side


def test_find_effective_asks_by_real_names_and_the_configuration_only_when_the_case_does():
    names = {"application": "billing", "environment": "prod", "configuration": "database"}
    every = case(query={"application": "x", "environment": "y"})
    fuzz_hooks.retarget(every, "findEffective", fuzz_hooks.Target("", names=names))
    assert every.query == {"application": "billing", "environment": "prod"}
    one = case(query={"application": "x", "environment": "y", "configuration": "z"})
    fuzz_hooks.retarget(one, "findEffective", fuzz_hooks.Target("", names=names))
    assert one.query == names


def test_an_environments_parent_is_the_shared_root_or_none_for_the_root_itself(monkeypatch):
    monkeypatch.setattr(fuzz_hooks, "service", lambda: SimpleNamespace(shared=lambda kind: (ROOT, '"e"')))
    created = case(body={"name": "x", "parent_id": RANDOM})
    fuzz_hooks.give_parent(created, "createEnvironment")
    assert created.body["parent_id"] == ROOT
    root = case(path={"id": ROOT}, body={"name": "x", "parent_id": RANDOM})
    fuzz_hooks.give_parent(root, "updateEnvironment")
    assert root.body["parent_id"] is None  # never its own parent
    orphan = case(path={"id": ENV}, body={"name": "x", "parent_id": None})
    fuzz_hooks.give_parent(orphan, "updateEnvironment")
    assert orphan.body["parent_id"] is None  # a root stays one


def test_key_operations_on_an_id_have_a_target_and_create_key_none():
    assert fuzz_hooks.target("getKey") == "shared key"
    assert fuzz_hooks.target("updateKey") == "fresh key"
    assert fuzz_hooks.target("revokeKey") == "fresh key"
    assert fuzz_hooks.target("createKey") is None  # its body is given its rights by give_rights, in every phase
    assert fuzz_hooks.target("listKeys") is None
    assert fuzz_hooks.target("getCurrentKey") is None


def test_a_key_write_names_the_key_its_etag_and_a_version_it_does_not_have_yet():
    revoked = case(path={"id": RANDOM}, headers={"If-Match": "junk", "If-None-Match": "*"})
    fuzz_hooks.retarget(revoked, "revokeKey", fuzz_hooks.Target(REAL, f'"{REAL}.1"'))
    assert revoked.path_parameters == {"id": REAL}
    assert revoked.headers == {"If-Match": f'"{REAL}.1"', "If-None-Match": f'"{REAL}.2"'}


NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_a_keys_body_names_real_ids_a_future_expiry_and_read_with_write():
    body = {"name": "k", "actions": ["write", "manage"], "applications": [RANDOM, ENV, ROOT], "environments": [RANDOM],
            "expires_at": "2026-11-23T10:15:00Z"}
    fuzz_hooks.rights(body, [REAL], [ROOT, ENV], NOW)
    assert body == {"name": "k", "actions": ["write", "manage", "read"], "applications": [REAL],
                    "environments": [ROOT], "expires_at": "2026-12-03T12:00:00Z"}

    kept = {"name": "k", "actions": ["read", "write"], "applications": None, "environments": [],
            "expires_at": "2030-01-01T00:00:00+23:59"}
    fuzz_hooks.rights(kept, [REAL], [ROOT, ENV], NOW)
    assert kept == {"name": "k", "actions": ["read", "write"], "applications": None, "environments": [],
                    "expires_at": "2030-01-01T00:00:00+23:59"}  # all, none, and a future expiry stay as generated

    never = {"name": "k", "actions": ["manage"], "applications": None, "environments": None, "expires_at": None}
    fuzz_hooks.rights(never, [REAL], [ROOT, ENV], NOW)
    assert never["expires_at"] is None and never["actions"] == ["manage"]
    assert not fuzz_hooks.future("2026-12-02T12:00:00Z", NOW)  # not after now: replaced
    assert not fuzz_hooks.future("2027-01-01T00:00:00", NOW)  # no offset: not a time the contract allows
    assert fuzz_hooks.future("9999-12-31T23:59:59Z", NOW)
    assert not fuzz_hooks.future("9999-12-31T23:59:59-00:01", NOW)  # the year 10000 in UTC: a documented 422


def test_a_keys_create_or_update_revokes_the_holder_of_its_name_but_not_the_key_updated(monkeypatch):
    freed = []
    one = SimpleNamespace(shared=lambda kind: (ROOT, '"e"'), free=lambda name, keep=None: freed.append((name, keep)))
    monkeypatch.setattr(fuzz_hooks, "service", lambda: one)
    created = case(body={"name": "taken", "actions": ["read"], "applications": [RANDOM], "environments": None})
    fuzz_hooks.give_rights(created)
    updated = case(path={"id": REAL}, body={"name": "mine", "actions": ["read"], "applications": None,
                                            "environments": None})
    fuzz_hooks.give_rights(updated)
    assert freed == [("taken", None), ("mine", REAL)]
    assert created.body["applications"] == [ROOT]


def test_history_reads_ask_for_the_present_and_diffs_for_the_first_revision():
    assert fuzz_hooks.target("getApplicationSnapshot") == "shared application"
    assert fuzz_hooks.target("getConfigurationDiff") == "shared configuration"
    assert fuzz_hooks.target("getOverrideDiff") == "shared override"
    assert fuzz_hooks.target("getEffectiveSnapshot") == "shared view"
    point = case(path={"id": RANDOM}, query={"seq": 99, "at": "2999-01-01T00:00:00Z"})
    fuzz_hooks.retarget(point, "getApplicationSnapshot", fuzz_hooks.Target(REAL))
    assert set(point.query) == {"at"} and point.query["at"] < "2999"
    diff = case(path={"id": RANDOM}, query={"from": 40, "to": 7})
    fuzz_hooks.retarget(diff, "getConfigurationDiff", fuzz_hooks.Target(REAL))
    assert diff.query == {"from": 1, "to": 1}


def test_documents_name_the_shared_environment_and_applies_carry_their_plans_token(monkeypatch):
    calls = []

    class Fake:
        serial = iter(range(100))

        def name(self, kind):
            return "shared-env"

        def call(self, method, path, body=None):
            calls.append((method, path, body))
            return {"token": "t" * 64}, None

    monkeypatch.setattr(fuzz_hooks, "SERVICE", Fake())
    body = {"mode": "exact", "token": "0" * 64, "document": {"configurations": [
        {"name": "a", "config": {}, "overrides": {"nowhere": {"x": 1}, "else": {}}}, {"name": "a", "config": {}}]}}
    applied = case(path={"id": REAL}, body=body)
    fuzz_hooks.give_document(applied, "applyImport", REAL)
    configurations = applied.body["document"]["configurations"]
    assert [c["name"] for c in configurations] == ["fuzz-document-0", "fuzz-document-1"]
    assert configurations[0]["overrides"] == {"shared-env": {"x": 1}}
    assert applied.body["token"] == "t" * 64
    assert calls == [("POST", f"/api/v1/applications/{REAL}/import/plan",
                      {"document": applied.body["document"], "mode": "exact"})]
    large = case(path={"id": REAL}, body={"document": {"configurations": [{"name": "x", "config": {}}] * 5000}})
    fuzz_hooks.give_document(large, "planImport", REAL)
    assert len(large.body["document"]["configurations"]) == fuzz_hooks.DOCUMENT_CONFIGURATIONS
    changes = case(body={"changes": [{"action": "delete", "configuration_id": RANDOM}]})
    fuzz_hooks.give_document(changes, "applyChangeSet", REAL)
    assert changes.body["changes"][0]["action"] == "create" and changes.body["changes"][0]["config"] == {}


def test_a_link_that_read_a_null_names_an_id_nothing_has():
    linked = case(path={"id": None, "environment_id": "None", "other": REAL})
    fuzz_hooks.no_null_ids(linked)
    assert linked.path_parameters == {"id": fuzz_hooks.NOTHING, "environment_id": fuzz_hooks.NOTHING, "other": REAL}


def test_a_cache_control_that_accepts_stale_answers_is_dropped_and_any_other_is_sent_as_generated():
    for stale in ("max-stale", "stale-if-error=5, private", "MAX-STALE=0"):
        dropped = case(headers={"Cache-Control": stale, "If-None-Match": "*"})
        fuzz_hooks.current_reads(dropped)
        assert dropped.headers == {"If-None-Match": "*"}, stale
    for other in ("no-cache", "max-stale=x", "\x00\u00e9", "max-stale, no-cache"):
        kept = case(headers={"Cache-Control": other})
        fuzz_hooks.current_reads(kept)
        assert kept.headers == {"Cache-Control": other}
    fuzz_hooks.current_reads(case())  # no headers at all
