import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from starlette.datastructures import State

from live import access
from live.readcache import ReadCache
from live.waiters import Waiters
from wire.principals import Principal, digest
from wire.problems import Forbidden, NotFound, Unauthorized

TOKEN = b"csk_" + b"t" * 43


class Database:
    """`api_keys.active` as the ring reads it, and `api_keys.touch`, counted."""

    def __init__(self, rows):
        self.rows, self.calls = rows, []

    async def run(self, fn, *args):
        self.calls.append(fn.__name__)
        return self.rows if fn.__name__ == "active" else None


def row(**overrides):
    return {"id": "01JD3D4M5N6P7Q8R9S0T1V2W3X", "name": "svc", "secret_hash": digest(TOKEN), "actions": ["read"],
            "applications": ["A"], "environments": None, "expires_at": None} | overrides


def state_with(rows) -> State:
    state = State()
    state.read_cache, state.database = ReadCache(max_bytes=0), Database(rows)
    return state


def test_identify_finds_a_managed_key_and_records_its_use_once_a_minute():
    state = state_with([row()])

    async def go():
        first = await access.identify(state, (), TOKEN)
        second = await access.identify(state, (), TOKEN)
        await asyncio.gather(*access.usage(state).tasks)
        return first, second
    first, second = asyncio.run(go())
    assert first == second and first.id == "01JD3D4M5N6P7Q8R9S0T1V2W3X" and first.applications == {"A"}
    assert state.database.calls.count("touch") == 1  # not once per request


@pytest.mark.parametrize("token", [None, b"csk_" + b"u" * 43, TOKEN[:-1] + b"x"])
def test_identify_answers_none_for_no_token_an_unknown_one_and_a_wrong_one(token):
    assert asyncio.run(access.identify(state_with([row()]), (), token)) is None


def test_an_expired_key_is_no_key():
    state = state_with([row(expires_at=datetime.now(UTC) - timedelta(seconds=1))])
    assert asyncio.run(access.identify(state, (), TOKEN)) is None


def test_a_settings_key_is_found_without_reading_the_ring():
    settings = (Principal("root", frozenset({"read", "write", "manage"}), digest=digest(b"s" * 20)),)
    state = state_with([])
    assert asyncio.run(access.identify(state, settings, b"s" * 20)).name == "root"
    assert state.database.calls == []


def test_again_follows_the_ring_a_revoked_key_is_401_and_a_narrowed_one_has_its_new_rights():
    state = state_with([row()])
    scope = {"state": {}}
    scope["state"]["principal"] = asyncio.run(access.identify(state, (), TOKEN))
    state.database.rows = [row(applications=["B"])]
    assert asyncio.run(access.again(state, scope)).applications == {"B"}
    assert access.of(scope).applications == {"B"}
    state.database.rows = []
    with pytest.raises(Unauthorized):
        asyncio.run(access.again(state, scope))


def test_again_keeps_a_settings_key_and_the_open_api():
    settings_key = Principal("root", frozenset({"read"}))
    assert asyncio.run(access.again(State(), {"state": {"principal": settings_key}})) is settings_key
    assert asyncio.run(access.again(State(), {})) is None


def test_the_rules_raise_403_for_what_a_visible_key_may_not_do():
    reader = Principal("r", frozenset({"read"}))
    env_writer = Principal("w", frozenset({"read", "write"}), None, frozenset({"E"}))
    app_writer = Principal("a", frozenset({"read", "write"}), frozenset({"A"}), None)
    with pytest.raises(Forbidden, match="may not write"):
        access.require(reader, "write")
    with pytest.raises(Forbidden, match="may not manage keys"):
        access.require(reader, "manage")
    with pytest.raises(Forbidden, match="every environment"):
        access.require_shared(env_writer)
    access.require_shared(app_writer)  # on some applications, in every environment
    with pytest.raises(Forbidden, match="every application and environment"):
        access.require_everywhere(app_writer)
    for rule in (access.require_shared, access.require_everywhere):
        rule(None)  # the API is open


def test_what_a_key_may_not_see_is_the_404_of_what_does_not_exist():
    key = Principal("k", frozenset({"read"}), frozenset({"A"}), frozenset({"E"}))
    access.check_application(key, "A")
    access.check_environment(key, "E")
    access.check_environment(key, None)
    with pytest.raises(NotFound, match="No application has this id."):
        access.check_application(key, "B")
    with pytest.raises(NotFound, match="No configuration has this id."):
        access.check_application(key, "B", access.NO_CONFIGURATION)
    with pytest.raises(NotFound, match="No environment has this id."):
        access.check_environment(key, "F")


def test_a_held_request_of_a_managed_key_watches_its_expiry_and_none_other_does():
    """A managed key's held request is woken at the key's expiry (`Waiters.at_expiry`), whatever it is then; a key
    of the settings never expires, and an open API has none."""
    async def scenario():
        state = SimpleNamespace(waiters=Waiters(max_waiters=10))
        soon = Principal("k", frozenset({"read"}), id="K1", expires_at=datetime.now(UTC) + timedelta(seconds=50))
        assert access.expiring(state, soon) == ("expires:K1",) and "K1" in state.waiters.expiries
        assert access.expiring(state, Principal("k", frozenset({"read"}), id="K2")) == ("expires:K2",)
        assert "K2" not in state.waiters.expiries  # (watched, for an expiry set later; nothing armed)
        assert access.expiring(state, Principal("s", frozenset({"read"}))) == ()
        assert access.expiring(state, None) == ()
        state.waiters.expiries.pop("K1")[1].cancel()

    asyncio.run(scenario())
