import asyncio
import gc
from collections.abc import Callable

import pytest

from live import waiters as waiters_module
from live.keys import EVERYTHING, Change
from live import readcache
from live.readcache import Entry, ReadCache
from live.waiters import Waiters
from tools.harness import HANG, until_async
from wire.problems import ServiceUnavailable, TooManyRequests


def listening(**limits) -> Waiters:
    """Waiters whose listener is connected (no database): what `hold` needs to wait on wakes."""
    waiters = Waiters(**{"max_waiters": 10, **limits})
    waiters.connected()
    return waiters


def changed(*keys: str) -> Change:
    return Change(keys)


async def never(woken=None):
    """A re-check that never finds a change."""
    return None


def test_wake_answers_only_the_waiters_of_that_key_and_the_cap_refuses_more():
    async def scenario():
        waiters = Waiters(max_waiters=2)
        mine = waiters.subscribe(("c:1", "l:9"))
        other = waiters.subscribe(("c:2",))
        with pytest.raises(ServiceUnavailable):
            waiters.subscribe(("c:3",))
        waiters.wake(changed("c:2"))
        assert other.done() and not mine.done()
        waiters.wake(changed("l:9"))
        assert mine.done()
        waiters.unsubscribe(("c:1", "l:9"), mine)
        waiters.unsubscribe(("c:2",), other)
        assert waiters.count == 0 and waiters.held == {}

    asyncio.run(scenario())


def test_hold_rechecks_on_a_wake_and_answers_unchanged_at_the_deadline():
    async def scenario():
        waiters = listening()
        state = {"version": 1, "checks": 0}

        async def check(woken=None):
            state["checks"] += 1
            return f"v{state['version']}" if state["version"] > 1 else None

        timed_out = await waiters.hold(("c:1",), check, 0.05, lambda: "unchanged")
        held = asyncio.create_task(waiters.hold(("c:1",), check, 30, lambda: "unchanged"))
        await asyncio.sleep(0.05)
        waiters.wake(changed("c:2"))  # another key: no re-check
        await asyncio.sleep(0.05)
        checks_before = state["checks"]
        state["version"] = 2
        waiters.wake(changed("c:1"))
        return timed_out, await asyncio.wait_for(held, HANG), checks_before, state["checks"], waiters.count

    timed_out, answer, before, after, count = asyncio.run(scenario())
    assert timed_out == "unchanged" and answer == "v2" and after == before + 1 and count == 0


def test_closing_answers_every_waiter_unchanged_at_once():
    async def scenario():
        waiters = listening(max_wait=300)
        held = [asyncio.create_task(waiters.hold((f"c:{i}",), never, 300, lambda: 304)) for i in range(3)]
        await asyncio.sleep(0.05)
        waiters.close()
        return await asyncio.wait_for(asyncio.gather(*held), HANG)

    assert asyncio.run(scenario()) == [304, 304, 304]


def test_a_client_that_disconnects_ends_its_hold_and_frees_its_slot_at_once():
    async def scenario():
        waiters = listening(max_waiters=1, max_wait=300)
        checks, left = [], asyncio.Event()

        async def check(woken=None):
            checks.append(1)
            return None

        requests = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive():  # as uvicorn's: the (empty) body, then nothing until the client has gone
            if requests:
                return requests.pop()
            await left.wait()
            return {"type": "http.disconnect"}

        held = asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged", receive))
        for _ in range(100):  # loop turns, counted: the hold subscribes in its first
            if waiters.count:
                break
            await asyncio.sleep(0)
        with pytest.raises(ServiceUnavailable):  # the one slot is taken
            waiters.subscribe(("c:2",))
        left.set()
        return await asyncio.wait_for(held, 5), len(checks), waiters.count, waiters.held

    assert asyncio.run(scenario()) == ("unchanged", 1, 0, {})


def test_one_key_holds_at_most_its_share_and_others_are_held_past_it():
    """A managed key scoped to one application held every slot of a worker, and every other key's watches were
    refused 503: each key now holds at most `max_per_key` (429, retry once its oldest hold has ended), and its
    slots come back as its holds end, however they end."""
    async def scenario():
        waiters = listening(max_waiters=10, max_per_key=2, max_wait=300)
        mine = [asyncio.create_task(waiters.hold((f"c:{i}",), never, wait, lambda: 304, owner="k1"))
                for i, wait in enumerate((200, 30))]  # the first to end is the second held
        await asyncio.sleep(0.01)
        with pytest.raises(TooManyRequests) as refused:
            await waiters.hold(("c:9",), never, 300, lambda: 304, owner="k1")
        others = [asyncio.create_task(waiters.hold((f"c:{i}",), never, 300, lambda: 304, owner=owner))
                  for i, owner in enumerate(("k2", "k2", None, None, None))]  # another key's, and settings' keys'
        await asyncio.sleep(0.01)
        counted = waiters.count, {owner: len(held) for owner, held in waiters.owned.items()}
        waiters.close()  # (ends them all)
        await asyncio.wait_for(asyncio.gather(*mine, *others), HANG)
        return refused.value, counted, waiters.owned

    refused, counted, left = asyncio.run(scenario())
    assert refused.status == 429 and "MAX_WAITERS_PER_KEY" in refused.detail
    assert refused.headers["Retry-After"] == "30"  # the hold that ends first: the second, 30 s
    assert counted == (7, {"k1": 2, "k2": 2}) and left == {}


def test_a_key_s_slot_is_freed_however_its_hold_ends():
    class Gone(Exception):
        pass

    async def scenario():
        waiters = listening(max_per_key=1, max_wait=0.01)
        assert await waiters.hold(("c:1",), never, 300, lambda: "timed out", owner="k") == "timed out"

        async def failing(woken=None):
            raise Gone()

        with pytest.raises(Gone):
            await waiters.hold(("c:1",), failing, 300, lambda: None, owner="k")

        async def found(woken=None):
            return "changed"

        assert await waiters.hold(("c:1",), found, 300, lambda: None, owner="k") == "changed"
        return waiters.owned, waiters.count

    assert asyncio.run(scenario()) == ({}, 0)


def test_a_body_past_its_limits_while_held_is_raised_from_the_hold():
    class TooLarge(Exception):
        pass

    async def scenario():
        waiters = listening(max_wait=300)

        async def receive():
            raise TooLarge()

        with pytest.raises(TooLarge):
            await asyncio.wait_for(waiters.hold(("c:1",), never, 300, lambda: "unchanged", receive), 5)
        return waiters.count

    assert asyncio.run(scenario()) == 0


def test_max_wait_bounds_a_longer_wait():
    async def scenario():
        waiters = listening(max_wait=0.05)
        return await asyncio.wait_for(waiters.hold(("c:1",), never, 300, lambda: "bounded"), HANG)

    assert asyncio.run(scenario()) == "bounded"


def test_a_change_of_everything_wakes_every_waiter():
    async def scenario():
        waiters = Waiters(max_waiters=3)
        futures = [waiters.subscribe((key,)) for key in ("c:1", "a:2", "l:3")]
        waiters.wake(changed("c:9"))
        assert not any(f.done() for f in futures)
        waiters.wake(EVERYTHING)
        return [f.done() for f in futures]

    assert asyncio.run(scenario()) == [True, True, True]


def test_while_the_listener_is_lost_holds_recheck_every_poll_and_losing_it_wakes_them(monkeypatch):
    monkeypatch.setattr(waiters_module, "POLL_SECONDS", 0.01)

    async def scenario():
        waiters = Waiters(max_waiters=10)  # not connected yet: nothing would wake a waiter
        checks = []

        async def check(woken=None):
            checks.append(1)
            return "changed" if len(checks) == 3 else None

        polled = await asyncio.wait_for(waiters.hold(("c:1",), check, 300, lambda: "unchanged"), HANG)
        waiters.connected()
        checks.clear()
        held = asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged"))
        for _ in range(100):  # loop turns, counted: the hold subscribes in its first
            if waiters.count:
                break
            await asyncio.sleep(0)
        waiters.disconnected()  # lost: a re-check at once, then polling
        return polled, await asyncio.wait_for(held, HANG), waiters.listening

    assert asyncio.run(scenario()) == ("changed", "changed", False)


def test_a_check_is_told_the_tick_of_the_notification_that_woke_it():
    """So every waiter one notification woke reads past that notification, and no further (one shared fetch)."""
    async def scenario():
        waiters = Waiters(max_waiters=10)
        waiters.listening = True
        seen = []

        async def check(woken):
            seen.append(woken)
            return "changed" if len(seen) == 3 else None

        held = asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged"))
        await until_async(lambda: len(seen) == 1, "the first check")
        waiters.wake(changed("c:1"), 41)
        await until_async(lambda: len(seen) == 2, "the check the notification woke")
        waiters.wake_all()
        assert await asyncio.wait_for(held, HANG) == "changed"
        assert seen == [None, 41, None]  # the first check and a wake of all: no notification's tick

    asyncio.run(scenario())


def test_a_notification_wakes_one_waiter_first_and_the_others_once_its_check_is_done():
    """The leader's read fetches what changed; its followers find it kept, and each is resumed once."""
    async def scenario():
        waiters = listening()
        order, leading = [], asyncio.Event()

        def holder(name):
            checks = 0

            async def check(woken):
                nonlocal checks
                checks += 1
                if checks == 1:
                    return None  # the first check: unchanged, hold
                order.append((name, woken))
                if len(order) == 1:
                    await leading.wait()  # the leader's read, still fetching
                return name
            return asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged"))

        held = [holder(n) for n in ("a", "b", "c")]
        await until_async(lambda: waiters.count == 3, "three held")
        waiters.wake(changed("c:1"), 7)
        await until_async(lambda: len(order) == 1, "the leader's check")
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(order) == 1  # the others wait for it
        leading.set()
        assert sorted(await asyncio.wait_for(asyncio.gather(*held), HANG)) == ["a", "b", "c"]
        assert [woken for _, woken in order] == [7, 7, 7]  # all read past the notification that woke them
        assert waiters.count == 0 and waiters.held == {} and waiters.woken == {} and waiters.led == {}

    asyncio.run(scenario())


def test_followers_check_when_their_leader_fails_or_leaves():
    async def scenario():
        waiters = listening()
        checked = []

        def holder(name, fail=False):
            first = True

            async def check(woken):
                nonlocal first
                if first:
                    first = False
                    return None
                checked.append(name)
                if fail:
                    raise RuntimeError("the leader's read failed")
                return name
            return asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged"))

        leader, follower = holder("a", fail=True), holder("b")
        await until_async(lambda: waiters.count == 2, "two held")
        waiters.wake(changed("c:1"), 3)  # the oldest leads
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(leader, HANG)
        assert await asyncio.wait_for(follower, HANG) == "b"

        # A leader cancelled before its check ran (its client gone, the server stopping) lets its followers go too.
        leader, follower = holder("c"), holder("d")
        await until_async(lambda: waiters.count == 2, "two held again")
        waiters.wake(changed("c:1"), 4)
        leader.cancel()
        assert await asyncio.wait_for(follower, HANG) == "d"
        assert waiters.count == 0 and waiters.woken == {} and waiters.led == {}

    asyncio.run(scenario())


def test_a_second_notification_before_a_waiter_rechecks_is_not_lost():
    """Woken by one notification, a waiter re-subscribes only once it runs: a notification that arrives before then
    (or while it follows a leader) wakes nothing of it, so its check must read past that one too."""
    async def scenario():
        waiters = listening()
        seen = {"a": [], "b": []}
        leading = asyncio.Event()

        def holder(name):
            async def check(woken):
                seen[name].append(woken)
                if name == "a" and len(seen[name]) == 2:
                    await leading.wait()
                return name if len(seen[name]) == 2 else None
            return asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged"))

        a, b = holder("a"), holder("b")
        await until_async(lambda: waiters.count == 2, "two held")
        waiters.wake(changed("c:1"), 10)
        waiters.wake(changed("c:1"), 12)  # before any task ran: the leader and its follower read past 12
        await until_async(lambda: len(seen["a"]) == 2, "the leader's check")
        waiters.wake(changed("c:1"), 15)  # while the follower waits for the leader
        leading.set()
        assert await asyncio.wait_for(asyncio.gather(a, b), HANG) == ["a", "b"]
        assert seen == {"a": [None, 12], "b": [None, 15]}
        waiters.wake_all()  # nothing held: nothing kept either
        assert waiters.woken == {} and waiters.led == {}

    asyncio.run(scenario())


def sharing(waiters: Waiters, key: str, checks: dict) -> Callable[[str, str], asyncio.Task]:
    """`holder(name, share)`: a request held on `key` whose check (each listed in `checks[name]` by the tick it read
    past) is unchanged at first, then `name`'s answer."""
    def holder(name: str, share: str) -> asyncio.Task:
        async def check(woken):
            checks.setdefault(name, []).append(woken)
            return None if len(checks[name]) == 1 else f"{name}'s answer"
        return asyncio.create_task(waiters.hold((key,), check, 300, lambda: "unchanged", share=share))
    return holder


async def woken_once(waiters: Waiters, key: str, held: list[tuple[str, str]]) -> tuple[list, dict]:
    """Requests held on `key` (`(name, share)`, the oldest first), one notification: their answers and checks."""
    checks: dict = {}
    holder = sharing(waiters, key, checks)
    tasks = [holder(name, share) for name, share in held]
    await until_async(lambda: waiters.count == len(held), "all held")
    waiters.wake(changed(key), 5)
    return await asyncio.wait_for(asyncio.gather(*tasks), HANG), checks


def test_followers_whose_check_is_the_leaders_take_its_answer_without_checking():
    async def scenario():
        waiters = listening()
        answers, checks = await woken_once(waiters, "c:1", [("a", "same"), ("b", "same"), ("c", "other"),
                                                            ("d", "same")])
        assert answers == ["a's answer", "a's answer", "c's answer", "a's answer"]
        assert checks == {"a": [None, 5], "b": [None], "c": [None, 5], "d": [None]}  # b, d: no check again

        # An application's key wakes the requests held on its change feed and those held on its listing: the oldest
        # of each check leads its own, and the feed's followers take their leader's answer even when a listing's
        # request was held before them all (it led them: each checked for itself).
        answers, checks = await woken_once(waiters, "l:A", [("listing", "page"), ("a", "feed"), ("b", "feed"),
                                                            ("c", "feed")])
        assert answers == ["listing's answer", "a's answer", "a's answer", "a's answer"]
        assert checks == {"listing": [None, 5], "a": [None, 5], "b": [None], "c": [None]}
        assert waiters.count == 0 and waiters.woken == {} and waiters.led == {} and waiters.shared == {}

        # A follower that must read past a later notification than its leader did checks for itself.
        gate, checks = asyncio.Event(), {}

        def slow(name):
            async def check(woken):
                checks.setdefault(name, []).append(woken)
                if len(checks[name]) == 1:
                    return None
                if name == "a":
                    await gate.wait()
                return f"{name}'s answer"
            return asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged", share="same"))

        held = [slow("a"), slow("b")]
        await until_async(lambda: waiters.count == 2, "two held")
        waiters.wake(changed("c:1"), 6)
        await until_async(lambda: len(checks["a"]) == 2, "the leader's check")
        waiters.wake(changed("c:1"), 8)  # b still follows: it must read past 8
        gate.set()
        assert await asyncio.wait_for(asyncio.gather(*held), HANG) == ["a's answer", "b's answer"]
        assert checks["b"] == [None, 8]
        assert waiters.shares == {} and waiters.shared == {}

    asyncio.run(scenario())


def test_the_leader_writes_its_own_and_its_followers_answers_before_any_follower_resumes(caplog):
    """With `deliver`, the 1,000 answers one change makes leave in one pass of the leader's task: the last is not
    written after 999 tasks resumed. A follower whose `deliver` could not write (False) is answered by its caller; one
    of another check, or none, takes no answer it did not check; a `deliver` that fails leaves the followers to check
    for themselves."""
    async def scenario():
        waiters = listening()
        written, returned = [], []

        def holder(name, share, writes=True):
            checks = 0

            async def check(woken):
                nonlocal checks
                checks += 1
                return None if checks == 1 else f"answer of {name}'s check"

            def deliver(answer):
                written.append((name, answer, len(returned)))
                return writes

            async def hold():
                answer = await waiters.hold(("c:1",), check, 300, lambda: "unchanged", share=share, deliver=deliver)
                returned.append(name)
                return answer
            return asyncio.create_task(hold())

        held = [holder("a", "same"), holder("b", "same"), holder("c", "same", writes=False), holder("d", "other"),
                holder("e", "same")]
        await until_async(lambda: waiters.count == 5, "five held")
        waiters.wake(changed("c:1"), 3)
        answers = await asyncio.wait_for(asyncio.gather(*held), HANG)
        assert answers == ["answer of a's check"] * 3 + ["answer of d's check", "answer of a's check"]
        # a, the leader, wrote its own and its three followers' in the order they waited, before any returned; d
        # checked for itself (it has no followers, so its caller writes its answer: `deliver` is not called).
        assert written == [(n, "answer of a's check", 0) for n in "abce"]
        assert waiters.deliveries == {} and waiters.shared == {}

        # A `deliver` that raises: the leader's hold raises it, its followers still check, each for itself.
        checks = []

        def failing(name):
            async def check(woken):
                checks.append((name, woken))
                return None if len([c for c in checks if c[0] == name]) == 1 else name

            def deliver(answer):
                raise RuntimeError("the write failed")
            return asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged", share="same",
                                                    deliver=deliver))

        held = [failing("x"), failing("y")]
        await until_async(lambda: waiters.count == 2, "two held")
        waiters.wake(changed("c:1"), 4)
        results = await asyncio.wait_for(asyncio.gather(*held, return_exceptions=True), HANG)
        assert isinstance(results[0], RuntimeError) and results[1] == "y"
        assert checks == [("x", None), ("y", None), ("x", 4), ("y", 4)]
        assert waiters.count == 0 and waiters.deliveries == {}

        # A follower's `deliver` that raises is that follower's: logged, its leader answers, and it takes the answer.
        def one(name, fails):
            calls = []

            async def check(woken):
                calls.append(woken)
                return None if len(calls) == 1 else f"{name}'s answer"

            def deliver(answer):
                if fails:
                    raise RuntimeError("the write failed")
                return True
            return asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged", share="same",
                                                    deliver=deliver))

        held = [one("p", False), one("q", True)]
        await until_async(lambda: waiters.count == 2, "two held")
        waiters.wake(changed("c:1"), 5)
        assert await asyncio.wait_for(asyncio.gather(*held), HANG) == ["p's answer", "p's answer"]

    with caplog.at_level("WARNING", logger="config_service"):
        asyncio.run(scenario())
    assert [r.message for r in caplog.records] == ["a held request's answer could not be written for it"]


def test_no_collector_pass_runs_while_a_leader_writes_its_followers_answers():
    """The cyclic collector is held off for the leader's pass of writes (a pass that falls there walks every held
    request, tens of ms before the answers after it), and is on again after it, even when a write raises; a
    collector already off stays off."""
    async def scenario(fails):
        waiters = listening()
        seen = []

        def holder(name):
            checks = 0

            async def check(woken):
                nonlocal checks
                checks += 1
                return None if checks == 1 else "answer"

            def deliver(answer):
                seen.append((name, gc.isenabled()))
                if fails and name == "a":
                    raise RuntimeError("the write failed")
                return True
            return asyncio.create_task(waiters.hold(("c:1",), check, 300, lambda: "unchanged", share="same",
                                                    deliver=deliver))

        held = [holder(n) for n in "abc"]
        await until_async(lambda: waiters.count == 3, "three held")
        collecting = gc.isenabled()
        waiters.wake(changed("c:1"), 3)
        await asyncio.wait_for(asyncio.gather(*held, return_exceptions=True), HANG)
        assert gc.isenabled() == collecting
        return seen

    assert gc.isenabled()
    assert asyncio.run(scenario(False)) == [("a", False), ("b", False), ("c", False)]
    assert asyncio.run(scenario(True)) == [("a", False)]  # its followers then checked for themselves
    assert gc.isenabled()
    gc.disable()
    try:
        assert asyncio.run(scenario(False)) == [("a", False), ("b", False), ("c", False)]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_key_s_holds_are_woken_at_its_expiry_as_it_is_when_it_comes_moved_earlier_or_later():
    """A held request ended at the expiry its key had when it began: an expiry moved earlier meanwhile did not end
    it (401 only at its `wait`, a trial: 11 s late), one moved later ended it early (a 304 at the old one). The key's
    holds are now woken at its expiry as it is, armed again whenever it moves."""
    from datetime import UTC, datetime, timedelta

    async def scenario():
        waiters = listening()
        now = datetime.now(UTC)
        expires = {"at": now + timedelta(seconds=HANG)}  # the key's expiry, as its checks read it
        checks = []

        async def check(woken=None):
            checks.append(woken)
            if expires["at"] <= datetime.now(UTC):
                return "401"
            waiters.at_expiry("K1", expires["at"])  # (as `access.expiring` arms it for the key as it is)
            return None

        key = waiters.at_expiry("K1", expires["at"])
        held = asyncio.create_task(waiters.hold(("c:1", "keys", key), check, HANG, lambda: "unchanged"))
        await until_async(lambda: len(checks) == 1, "the first check")
        expires["at"] = datetime.now(UTC) + timedelta(seconds=0.05)  # moved earlier: the key changed,
        waiters.wake(changed("keys"))  # and the key ring's notification wakes its check, which arms it again
        async with asyncio.timeout(HANG):  # (before: held for its whole `wait`)
            assert await held == "401"
        assert "K1" not in waiters.expiries  # fired, and not armed again

        later = now + timedelta(seconds=HANG)
        waiters.at_expiry("K2", datetime.now(UTC) + timedelta(seconds=0.05))
        assert waiters.at_expiry("K2", later) == "expires:K2"  # moved later: the earlier timer is cancelled
        assert waiters.expiries["K2"][0] == later
        waiters.at_expiry("K2", None)  # no expiry any more: disarmed
        assert "K2" not in waiters.expiries

        # A hold that begins, with its key as it was admitted, leaves what its checks armed (a review: a request
        # admitted just before the key's expiry was brought forward armed the old one again).
        soon = datetime.now(UTC) + timedelta(seconds=HANG / 2)
        key = waiters.at_expiry("K3", soon)
        assert waiters.at_expiry("K3", later, replace=False) == key and waiters.expiries["K3"][0] == soon
        # The key's last hold ending disarms it: no timer outlives the holds (a review: one per key, for ever).
        checked = []

        async def quiet(woken=None):
            checked.append(woken)
            return None
        holding = asyncio.create_task(waiters.hold(("c:9", key), quiet, HANG, lambda: "unchanged"))
        await until_async(lambda: checked, "the hold's first check")
        assert "K3" in waiters.expiries
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)
        assert "K3" not in waiters.expiries and waiters.count == 0

    asyncio.run(scenario())


def test_a_check_that_does_not_answer_ends_with_the_hold_unchanged_at_its_deadline_not_after():
    """A re-check reads the database; with a primary hung it did not end before the read's own bound, and the hold
    with it, 10-12 s past its `wait` (a trial). The hold now ends unchanged at its deadline, the check in flight
    cancelled."""
    async def scenario():
        waiters = listening()
        stuck = asyncio.Event()  # never set: a database that does not answer
        checks = []

        async def check(woken=None):
            checks.append(woken)
            if len(checks) > 1:
                await stuck.wait()
            return None

        held = asyncio.create_task(waiters.hold(("c:1",), check, 0.2, lambda: "unchanged"))
        await until_async(lambda: len(checks) == 1, "the first check")
        waiters.wake(changed("c:1"))  # the re-check it begins never ends
        async with asyncio.timeout(HANG):  # (a bound only a hang reaches: it was the read's own, 10 s and more)
            assert await held == "unchanged"
        assert len(checks) == 2 and waiters.count == 0

    asyncio.run(scenario())


def test_a_check_cut_at_its_deadline_does_not_end_the_fetch_other_reads_joined():
    """A hold's check that started a read cache's fetch is cut at the hold's deadline: the reads that joined that
    fetch (a plain GET of the same configuration) are answered by it, not with the cut's cancellation (a review found
    them answered 503, "the service stopped", when the check itself read for them)."""
    async def scenario():
        waiters = listening()
        cache = ReadCache(max_bytes=10_000)

        async def sync(tick: int) -> bool:
            return True

        cache.connected(sync)
        answers = asyncio.Event()  # the database's answer: held back until the hold's deadline has passed
        fetches = []

        async def fetch() -> Entry:
            fetches.append(1)
            await answers.wait()
            return Entry('"2"', b"2")

        checks = []

        async def check(woken=None):
            checks.append(woken)
            if len(checks) == 1:
                return None  # (the first check: nothing changed yet)
            await cache.read("c:1", fetch)
            return "changed"

        held = asyncio.create_task(waiters.hold(("c:1",), check, 0.2, lambda: "unchanged"))
        await until_async(lambda: waiters.count == 1, "the hold")
        waiters.wake(changed("c:1"))  # its re-check starts the fetch, which does not answer before the deadline
        await until_async(lambda: fetches, "the check's fetch")
        plain = asyncio.create_task(cache.read("c:1", fetch))  # a GET, which joins it
        async with asyncio.timeout(HANG):
            assert await held == "unchanged"
        answers.set()
        async with asyncio.timeout(HANG):
            assert (await plain).body == b"2"
        assert len(fetches) == 1 and cache.kept("c:1") is not None

    asyncio.run(scenario())


def test_a_leader_cut_at_its_deadline_hands_its_followers_to_the_first_of_them():
    """A leader's check is cut at the leader's deadline while the database is slow: its followers (the same check,
    woken by the same change) are led by the first of them, one check for all and its answer written for each, not
    a check each just when the database is slow (a review found 6 checks for 6 held requests)."""
    async def scenario():
        waiters = listening(max_waiters=100)
        cache = ReadCache(max_bytes=10_000)

        async def sync(tick: int) -> bool:
            return True

        cache.connected(sync)
        answers = asyncio.Event()
        fetches, delivered, checks = [], [], []

        async def fetch() -> Entry:
            fetches.append(1)
            await answers.wait()
            return Entry('"2"', b"2")

        async def check(woken=None):
            checks.append(woken)
            if woken is None:
                return None  # (the first check: nothing changed yet)
            readcache.began.set(woken)
            return await cache.read("c:1", fetch)

        def held(i: int, wait: float) -> asyncio.Task:
            def deliver(answer) -> bool:
                delivered.append(i)
                return True
            return asyncio.create_task(waiters.hold(("c:1",), check, wait, lambda: "unchanged", share="same",
                                                    deliver=deliver))

        leader = held(0, 0.2)
        await until_async(lambda: waiters.count == 1, "the leader held")
        followers = [held(i, HANG) for i in range(1, 6)]
        await until_async(lambda: waiters.count == 6, "its followers held")
        before = len(checks)
        waiters.wake(changed("c:1"), cache.tick())
        async with asyncio.timeout(HANG):
            assert await leader == "unchanged"  # cut at its deadline
        await until_async(lambda: len(checks) >= before + 2, "the first follower's check")
        answers.set()
        async with asyncio.timeout(HANG):
            results = await asyncio.gather(*followers)
        assert [result.body for result in results] == [b"2"] * 5
        assert len(checks) == before + 2 and len(fetches) == 1  # the leader's, then the first follower's for all
        assert sorted(delivered) == [1, 2, 3, 4, 5]

    asyncio.run(scenario())
