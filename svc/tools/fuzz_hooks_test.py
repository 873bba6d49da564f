"""The schemathesis hooks point positive cases at real resources, and leave the others as generated."""

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
    assert fuzz_hooks.target("getConfigurationRevision") == "shared configuration"
    assert fuzz_hooks.target("createConfiguration") == "shared application"
    assert fuzz_hooks.target("listApplicationChanges") == "shared application"
    assert fuzz_hooks.target("createApplication") is None
    assert fuzz_hooks.target("getHealth") is None


def test_retarget_names_the_resource_its_first_version_and_its_etag():
    updated = case(path={"id": RANDOM, "version": 77}, headers={"If-Match": "junk"})
    fuzz_hooks.retarget(updated, "restoreConfigurationRevision", REAL, '"etag"')
    assert updated.path_parameters == {"id": REAL, "version": 1}
    assert updated.headers == {"If-Match": '"etag"'}

    unconditional = case(path={"id": RANDOM}, headers={})
    fuzz_hooks.retarget(unconditional, "deleteApplication", REAL, '"etag"')
    assert unconditional.headers == {}  # a write sent without If-Match stays unconditional

    feed = case(path={"id": RANDOM}, query={"after": 3, "epoch": 4000})
    fuzz_hooks.retarget(feed, "listApplicationChanges", REAL, '"etag"', epoch=1)
    assert feed.query == {"after": 3, "epoch": 1}  # the database's epoch, not one it never had
    unpinned = case(path={"id": RANDOM}, query={"after": 3})
    fuzz_hooks.retarget(unpinned, "listApplicationChanges", REAL, '"etag"', epoch=1)
    assert unpinned.query == {"after": 3}

    created = case(body={"application_id": RANDOM, "name": "x", "config": {}})
    fuzz_hooks.retarget(created, "createConfiguration", REAL, '"etag"')
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
    fuzz_hooks.retarget(write, "updateConfiguration", REAL, f'"{REAL}.4"')
    assert write.headers == {"If-Match": f'"{REAL}.4"', "If-None-Match": f'"{REAL}.5"'}
