import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from starlette.datastructures import State


from live import keys, readcache, scopes
from live.fastpath import CachedReads
from live.readcache import ReadCache
from wire.headers import Staleness
from wire.principals import Principal
from wire.problems import Forbidden, NotFound, Unprocessable

CONFIG = "01JD3B7M2W8Y6Q4T0V9X1Z3B5C"
MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"
NOW = datetime(2026, 12, 2, 10, tzinfo=UTC)
DELETED = "01JD3B7M2W8Y6Q4T0V9X1Z3B5D"


class Database:
    """`configurations.get`: configuration CONFIG of application A; anything else does not exist."""

    def __init__(self):
        self.calls = []

    async def run(self, fn, id):
        self.calls.append(fn.__name__)
        await asyncio.sleep(0)  # (a trip: others run meanwhile)
        if fn.__name__ == "touch":
            return None
        if fn.__name__ == "owner" and id == DELETED:
            return "B"  # deleted from application B; its history is kept
        if id != CONFIG:
            raise NotFound("No configuration has this id.")
        return {"id": CONFIG, "application_id": "A", "name": "db", "comments": None, "config": {},
                "created_at": NOW, "updated_at": NOW, "version": 1, "epoch": 1}


def state() -> State:
    found = State()
    found.read_cache, found.database = ReadCache(max_bytes=0), Database()
    return found


def scope(principal: Principal | None) -> dict:
    return {"state": {"principal": principal}} if principal else {}


READER_A = Principal("a", frozenset({"read"}), frozenset({"A"}))
WRITER_B = Principal("b", frozenset({"read", "write"}), frozenset({"B"}))
WRITER_E = Principal("e", frozenset({"read", "write"}), None, frozenset({"E"}))
MANAGER = Principal("m", frozenset({"manage"}))


def test_a_configuration_of_an_application_out_of_scope_answers_as_one_that_does_not_exist():
    asyncio.run(scopes.configuration(state(), scope(READER_A), CONFIG))
    with pytest.raises(NotFound, match="No configuration has this id."):
        asyncio.run(scopes.configuration(state(), scope(WRITER_B), CONFIG, write=True))
    with pytest.raises(NotFound, match="No configuration has this id."):
        asyncio.run(scopes.configuration(state(), scope(MANAGER), CONFIG))  # a key that may not read sees nothing
    with pytest.raises(NotFound, match="No configuration has this id."):  # the route's 404, and a hidden one's
        asyncio.run(scopes.configuration(state(), scope(WRITER_B), MISSING))


@pytest.mark.parametrize("principal", [READER_A, WRITER_B, Principal("be", frozenset({"read", "write"}),
                                                                      frozenset({"B"}), frozenset({"E"}))])
def test_a_key_limited_to_some_applications_tells_no_missing_configuration_from_a_hidden_one(principal):
    """Whatever the key may do, and in whichever environment: a configuration that does not exist answers what one
    of an application out of its scope answers, never a 403 or the environment's 404 that would tell them apart."""
    for gate in (lambda id: scopes.configuration(state(), scope(principal), id, write=True),
                 lambda id: scopes.in_environments(state(), scope(principal), id, "F"),
                 lambda id: scopes.in_environments(state(), scope(principal), id, "E", write=True)):
        answers = []
        for id in (CONFIG, MISSING):
            try:
                asyncio.run(gate(id))
                answers.append(None)
            except (NotFound, Forbidden) as error:
                answers.append((type(error), str(error)))
        if principal is not READER_A:  # CONFIG is A's: out of scope for B's keys, which must not tell it from none
            assert answers[0] == answers[1] == (NotFound, "No configuration has this id."), answers
        else:
            assert answers[1] == (NotFound, "No configuration has this id.")


def warm_cache(rounds: list) -> ReadCache:
    """A read cache that keeps CONFIG (A's key read it), counting the sync rounds reads wait for in `rounds`."""
    async def sync(started):
        rounds.append(started)
        return True
    warm = ReadCache(max_bytes=1 << 20)
    warm.connected(sync, lambda started: False)
    asyncio.run(scopes.configuration(state_of(warm), scope(READER_A), CONFIG))
    assert warm.kept(keys.configuration(CONFIG)) is not None
    return warm


# The database's trips a hidden configuration's 404 costs are a missing one's: a read of the configuration (`get`,
# which finds nothing; for a hidden one `touch`, which reads its version only), then on a route the owner's look-up.
READ = {"get": "read", "touch": "read", "owner": "owner"}


def trips(database) -> list[str]:
    return [READ[call] for call in database.calls]


def test_a_hidden_configuration_costs_the_database_trips_a_missing_one_does():
    """A key of application B must not tell A's configuration from none by the time its 404 takes. A missing one
    is read from the database, then its owner (`history.owner`: it may have been deleted, its history kept): two
    trips and no sync round. A hidden one takes the same two, whether the read cache keeps it, has it set aside
    since the listener was lost (what a `max-stale` read is answered from), or has nothing of it."""
    rounds = []
    warm = warm_cache(rounds)
    lost = warm_cache(rounds)
    lost.confirm(lost.clock())  # (a round came back: what it keeps is set aside when the listener is lost)
    lost.disconnected()

    async def gate(found, id, accepted):
        readcache.tolerance.set(accepted)
        await scopes.configuration(found, scope(WRITER_B), id)
    for cache, accepted in ((ReadCache(max_bytes=0), None), (warm, None), (lost, Staleness(always=600))):
        answered = {}
        for id in (CONFIG, MISSING):
            found = state_of(cache)
            rounds.clear()
            with pytest.raises(NotFound, match="No configuration has this id."):
                asyncio.run(gate(found, id, accepted))
            answered[id] = (trips(found.database), len(rounds))
        assert answered[CONFIG] == answered[MISSING] == (["read", "owner"], 0), answered
    found = state_of(warm)  # and A's key still reads it, from what is kept
    asyncio.run(scopes.configuration(found, scope(READER_A), CONFIG))
    assert found.database.calls == []


def test_a_hidden_configuration_deleted_since_costs_the_same_trips():
    """Kept, and deleted meanwhile: its version read finds nothing, and its owner is looked up all the same."""
    warm = warm_cache([])
    found = state_of(warm)
    found.database.run = lambda fn, id, run=found.database.run: run(fn, MISSING)  # (it is gone)
    with pytest.raises(NotFound, match="No configuration has this id."):
        asyncio.run(scopes.configuration(found, scope(WRITER_B), CONFIG))
    assert trips(found.database) == ["read", "owner"]


def test_requests_for_one_hidden_configuration_at_once_share_its_read_as_a_missing_ones_do():
    """50 requests at once for one id: a missing one's share one read of the database (the read cache's fetch),
    and so do a hidden one's (`ReadCache.probe`), each then looking up the owner."""
    warm = warm_cache([])

    async def burst(found, id):
        async def one():
            with pytest.raises(NotFound):
                await scopes.configuration(found, scope(WRITER_B), id)
        await asyncio.gather(*(one() for _ in range(50)))
    for id in (CONFIG, MISSING):
        found = state_of(warm)
        asyncio.run(burst(found, id))
        assert sorted(trips(found.database)) == ["owner"] * 50 + ["read"], (id, found.database.calls)


def test_the_fast_paths_get_of_a_hidden_configuration_costs_what_a_missing_ones_does():
    """The GET by id answered below the router (`fastpath.CachedReads`): one read from the database each, and
    none for a key that may not read, as the route's gate answers it."""
    rounds = []
    warm = warm_cache(rounds)
    fast = CachedReads(None, prefix="/api/v1")

    def read(found, id, principal):
        answer, _, _ = fast._read({"type": "http", "method": "GET", "path": f"/api/v1/configurations/{id}",
                                   "query_string": b"", "app": SimpleNamespace(state=found),
                                   "state": {"principal": principal}})
        with pytest.raises(NotFound, match="No configuration has this id."):
            asyncio.run(answer())
    for cache in (ReadCache(max_bytes=0), warm):
        for principal, expected in ((WRITER_B, ["read"]), (MANAGER, [])):
            answered = {}
            for id in (CONFIG, MISSING):
                found = state_of(cache)
                rounds.clear()
                read(found, id, principal)
                answered[id] = (trips(found.database), len(rounds))
            assert answered[CONFIG] == answered[MISSING] == (expected, 0), answered


def state_of(cache: ReadCache) -> State:
    found = state()
    found.read_cache = cache
    return found


def test_writing_what_every_environment_shares_needs_every_environment():
    with pytest.raises(Forbidden):
        asyncio.run(scopes.configuration(state(), scope(READER_A), CONFIG, write=True))
    with pytest.raises(Forbidden):
        asyncio.run(scopes.configuration(state(), scope(WRITER_E), CONFIG, write=True))
    asyncio.run(scopes.in_environments(state(), scope(WRITER_E), CONFIG, "E", write=True))  # its override
    with pytest.raises(NotFound, match="No environment has this id."):
        asyncio.run(scopes.in_environments(state(), scope(WRITER_E), CONFIG, "F", write=True))
    asyncio.run(scopes.in_environments(state(), scope(WRITER_E), CONFIG, None, "E"))  # own config against E


def test_applications_environments_and_creations():
    asyncio.run(scopes.application(scope(READER_A), "A"))
    with pytest.raises(NotFound, match="No application has this id."):
        asyncio.run(scopes.application(scope(READER_A), "B"))
    with pytest.raises(NotFound, match="No environment has this id."):
        asyncio.run(scopes.application(scope(WRITER_E), "A", "F"))
    with pytest.raises(Forbidden):
        asyncio.run(scopes.environment(scope(WRITER_E), "E", write=True))  # every application's views follow it
    with pytest.raises(Unprocessable):
        scopes.new_configuration(scope(READER_A), "B")  # as an application that does not exist
    with pytest.raises(Forbidden):
        scopes.new_configuration(scope(READER_A), "A")
    with pytest.raises(Forbidden):
        scopes.everywhere(scope(WRITER_B))
    with pytest.raises(Forbidden):
        scopes.reading(scope(MANAGER))
    for gate in (scopes.everywhere, scopes.reading):
        gate(scope(None))  # the API is open


def test_key_management_needs_manage_and_keys_checked_at_all():
    assert scopes.managing(scope(MANAGER)) is MANAGER
    with pytest.raises(Forbidden, match="may not manage keys"):
        scopes.managing(scope(READER_A))
    with pytest.raises(Forbidden, match="open"):
        scopes.managing(scope(None))


def test_names_a_key_may_not_see_are_names_nothing_has():
    gate = scopes.named(scope(READER_A))
    asyncio.run(gate("A", "E"))
    with pytest.raises(NotFound, match="No application has this name."):
        asyncio.run(gate("B", "E"))
    with pytest.raises(NotFound, match="No environment has this name."):
        asyncio.run(scopes.named(scope(WRITER_E))("A", "F"))


def test_a_deleted_configuration_is_its_applications_as_its_history_is():
    asyncio.run(scopes.configuration(state(), scope(WRITER_B), DELETED))  # B's: its revisions are B's to read
    with pytest.raises(NotFound, match="No configuration has this id."):
        asyncio.run(scopes.configuration(state(), scope(READER_A), DELETED))
