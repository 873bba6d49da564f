"""Held requests (`wait`): each waits under the keys of what it read (`keys.py`) until a notification of one of
them wakes it.

A waiter is a future under one or more keys. A notification wakes only the waiters of its keys; each re-checks and
answers only when its representation changed, else waits again. A waiter subscribes before it checks, so a change
that commits after the check wakes it, and one that committed before is seen by the check: nothing is missed. While
the listener is disconnected, waiters re-check every `POLL_SECONDS` (a database that is down answers 503); when it
connects or is lost, every waiter re-checks. Past `max_waiters` held at once, a request is answered 503; a managed
key past `max_per_key` of its own held at once, 429 (one key cannot take every slot from the others).

A notification wakes one waiter of each key first, the leader (one of each check under the key, `hold`'s `share`:
an application's key wakes the requests held on its feed and those held on its listing, and the feed's 1,000 must not
follow a listing's request, whose answer is not theirs); the others (its followers) re-check once the leader's check
is done. The leader's read fetches the new representation, so each follower's check finds it kept
and answers without waiting again: 1,000 requests held on one configuration are resumed once each, not twice
(woken, then again by the fetch they all joined). A waiter is told the tick of the newest notification that woke
it before it re-subscribed, so a second notification that arrives while it waits its turn (or before its task runs)
is not lost: its check reads past that one too.

A waiter may give the way to write its answer to its client at once (`hold`'s `deliver`): then the leader, its check
done, writes its own answer and each follower's that takes it, in one pass, before any follower's task runs. The
last of 1,000 answers leaves after 1,000 writes, not after 999 tasks resumed, each unwinding its hold first, and
no pass of the cyclic collector falls between them (`_uncollected`).
"""

import asyncio
import contextlib
import gc
import logging
import math
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from starlette.types import Receive

from live import keys as keys_module
from live.keys import Change
from wire.problems import ServiceUnavailable, TooManyRequests

log = logging.getLogger("config_service")

POLL_SECONDS = 1.0
EXPIRY_AFTER = 0.005  # seconds past a key's expiry that its holds are woken at (`Waiters.at_expiry`)


class Waiters:
    def __init__(self, *, max_waiters: int, max_wait: float = 300, max_per_key: int | None = None) -> None:
        self.max_waiters = max_waiters
        self.max_wait = max_wait
        self.max_per_key = max_waiters if max_per_key is None else max_per_key
        self.owned: dict[Hashable, dict[object, float]] = {}  # each key's held requests and their deadlines, oldest first
        self.held: dict[str, dict[asyncio.Future, None]] = {}  # the waiters under each key, the oldest first
        self.count = 0
        # Waiters a notification woke, with the tick their check must read past (None: the tick when it checks).
        # One still pending here is a follower: its leader's check is not done yet.
        self.woken: dict[asyncio.Future, int | None] = {}
        self.led: dict[asyncio.Future, list[asyncio.Future]] = {}  # each leader's followers
        self.shares: dict[asyncio.Future, Hashable] = {}  # what each waiter's check is (`hold`'s `share`)
        self.shared: dict[asyncio.Future, object] = {}  # a follower's answer, its leader's
        self.deliveries: dict[asyncio.Future, Callable[[Any], bool]] = {}  # how each waiter's answer is written now
        self.listening = False
        self.closing = False
        self.expiries: dict[str, tuple[datetime, asyncio.TimerHandle]] = {}  # `at_expiry`'s, by key id

    # -- a key's expiry ---------------------------------------------------------------------------------------
    def at_expiry(self, owner: str, expires_at: datetime | None, *, replace: bool = True) -> str:
        """The key (`keys.EXPIRES` + `owner`, a managed key's id) whose waiters are woken once `expires_at` has
        passed, armed for it (once per key and time: moved, re-armed; None, disarmed). Their checks then find the
        key expired (401). A hold watches it rather than ending at the expiry its key had when it began: an expiry
        moved earlier meanwhile ends it then, one moved later does not end it early (a trial found both). Without
        `replace` (a hold that begins, with its key as it was when its request came), an arming already there stays:
        the checks, which read the key as it is now, arm it, and a request admitted before a change must not undo
        what the change armed. Disarmed when the key's last hold ends (`unsubscribe`)."""
        armed = self.expiries.get(owner)
        if (armed is None or armed[0] != expires_at) and (replace or armed is None):
            if armed is not None:
                armed[1].cancel()
                del self.expiries[owner]
            if expires_at is not None:
                left = max(0.0, (expires_at - datetime.now(UTC)).total_seconds())
                # (A little after: a wake that came early, by the loop's clock, finds the key not expired yet, and
                # its check arms it again for what is left.)
                handle = asyncio.get_running_loop().call_later(left + EXPIRY_AFTER, self._expired, owner, expires_at)
                self.expiries[owner] = (expires_at, handle)
        return keys_module.EXPIRES + owner

    def _expired(self, owner: str, expires_at: datetime) -> None:
        armed = self.expiries.get(owner)
        if armed is not None and armed[0] == expires_at:
            del self.expiries[owner]  # (fired: a check that finds the key not expired yet arms it again)
        self.wake(Change((keys_module.EXPIRES + owner,)))

    # -- the listener's state --------------------------------------------------------------------------------
    def connected(self) -> None:
        """The listener is connected: every waiter re-checks (whatever committed while nobody listened)."""
        self.listening = True
        self.wake_all()

    def disconnected(self) -> None:
        """The listener is lost: every waiter re-checks, then every POLL_SECONDS until it is back."""
        self.listening = False
        self.wake_all()

    def close(self) -> None:
        """Answer every waiter now, as unchanged (304, an empty page): the shutdown has begun."""
        self.closing = True
        self.wake_all()

    # -- waking ----------------------------------------------------------------------------------------------
    def subscribe(self, keys: Iterable[str], share: Hashable | None = None,
                  deliver: Callable[[Any], bool] | None = None) -> asyncio.Future:
        if self.count >= self.max_waiters:
            raise ServiceUnavailable("Too many clients are waiting for changes; try again.", retry_after=1)
        future = asyncio.get_running_loop().create_future()
        if share is not None:
            self.shares[future] = share
            if deliver is not None:
                self.deliveries[future] = deliver
        for key in keys:
            self.held.setdefault(key, {})[future] = None
        self.count += 1
        return future

    def unsubscribe(self, keys: Iterable[str], future: asyncio.Future) -> None:
        self.woken.pop(future, None)
        self.shares.pop(future, None)
        self.shared.pop(future, None)
        self.deliveries.pop(future, None)
        for key in keys:
            found = self.held.get(key)
            if found is not None:
                found.pop(future, None)
                if not found:
                    del self.held[key]
                    if key.startswith(keys_module.EXPIRES):  # the key's last hold: its expiry wakes nobody now
                        armed = self.expiries.pop(key[len(keys_module.EXPIRES):], None)
                        if armed is not None:
                            armed[1].cancel()
        self.count -= 1

    def wake(self, change: Change, tick: int | None = None) -> None:
        """A notification: the waiters of its keys re-check (every waiter, for a change of everything). `tick`: the
        read cache's tick once the change was applied to it, which their checks read past (see `hold`)."""
        if change.everything:
            self.wake_all()
            return
        woken, shares = self.woken, self.shares
        for key in change.keys:
            led: dict[Hashable, list[asyncio.Future]] = {}  # the waiters of each check (`share`), the oldest first
            for future in self.held.get(key, ()):
                if future in woken:  # woken already, not re-checked yet: it must read past this one too
                    woken[future] = _later(woken[future], tick)
                elif not future.done():  # (done otherwise: its time ran out or its client left)
                    woken[future] = tick
                    led.setdefault(shares.get(future), []).append(future)
            for leader, *followers in led.values():
                leader.set_result(None)
                if followers:
                    self.led[leader] = followers

    def wake_all(self) -> None:
        for futures in self.held.values():
            for future in futures:
                self.woken[future] = None
                if not future.done():
                    future.set_result(None)

    def _share(self, followers: list[asyncio.Future], share: Hashable, woken: int, answer: object) -> None:
        """A leader's check, woken past tick `woken`, answered: its followers whose check is the same (`share`) and
        would read past the same tick take its answer instead of checking; each that gave a `deliver` has it written
        now, in the order they waited."""
        deliveries = self.deliveries
        for future in followers:
            if not future.done() and self.woken.get(future) == woken and self.shares.get(future) == share:
                self.shared[future] = answer
                deliver = deliveries.get(future)
                if deliver is not None:
                    try:
                        deliver(answer)
                    except Exception:  # that follower's own: it writes its answer itself (`hold` returns it)
                        log.warning("a held request's answer could not be written for it", exc_info=True)

    def _hand_over(self, followers: list[asyncio.Future]) -> None:
        """A leader's check was cut at the leader's own deadline, unanswered (the database slow): the first of its
        followers still waiting leads the others, its check theirs, rather than each checking on its own just when
        the database is slow (and writing its own answer)."""
        waiting = [future for future in followers if not future.done()]
        if waiting:
            if len(waiting) > 1:
                self.led[waiting[0]] = waiting[1:]
            waiting[0].set_result(None)

    def _follow(self, followers: list[asyncio.Future]) -> None:
        """A leader's check is done (answered, found nothing, failed, or the leader left): its followers check."""
        for future in followers:
            if not future.done():
                future.set_result(None)

    # -- holding ---------------------------------------------------------------------------------------------
    async def hold[T](self, keys: tuple[str, ...], check: Callable[[int | None], Awaitable[T | None]], wait: float,
                      unchanged: Callable[[], T], receive: Receive | None = None, share: Hashable | None = None,
                      deliver: Callable[[T], bool] | None = None, owner: Hashable | None = None) -> T:
        """`check(woken)` until it answers (not None) or `wait` seconds pass, then `unchanged()`; re-checked when a
        notification of `keys` arrives (or every POLL_SECONDS while not listening). On shutdown: `unchanged()`.
        `woken` is the tick the notification that woke it was applied at (`wake`), else None (the first check, a
        poll, every waiter woken at once).
        With the request's `receive`, a client that disconnects ends the hold at once (`unchanged()`, which nobody
        reads): its slot is free for another, and it is not checked again.
        `share`: what the check is (what it reads, for whom, against what), for waiters whose checks answer alike when
        they read past the same notification: a follower with its leader's `share`, woken by the same notification
        only, answers what its leader's check answered (which neither changes) without checking.
        `deliver(answer)`, with a `share`: writes an answer to this waiter's client now, from whichever task has it,
        True if it did (else the caller writes what `hold` returns). A leader calls its own, then its followers'
        (one that raises is logged, and its follower writes its own), before it returns; a caller whose `deliver`
        wrote must write nothing more, whatever `hold` returns or raises afterwards, and its `deliver` may be called
        again (a leader's own, once it was answered as a follower): it must then write nothing either.
        `owner`: the managed key whose request it is, held only while it holds fewer than `max_per_key` (else
        TooManyRequests, before any check)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, self.max_wait)
        held = self._own(owner, deadline, loop.time()) if owner is not None else None
        try:
            return await self._hold(keys, check, deadline, unchanged, receive, share, deliver)
        finally:
            if held is not None:
                owned = self.owned[owner]
                del owned[held]
                if not owned:
                    del self.owned[owner]

    def _own(self, owner: Hashable, deadline: float, now: float) -> object:
        """A held request of `owner`'s (a managed key's id), or TooManyRequests past `max_per_key` of them: retry
        once the first of its holds to end has ended (a pass over them: refusals are not the common path)."""
        owned = self.owned.setdefault(owner, {})
        if len(owned) >= self.max_per_key:
            first = min(owned.values(), default=now + 1)
            raise TooManyRequests(
                f"This key holds {len(owned):,} requests waiting for changes on this worker, the most one key may "
                f"(MAX_WAITERS_PER_KEY): hold fewer (one per thing watched is enough), or retry once one of them has "
                f"ended.", retry_after=max(1, math.ceil(first - now)))
        held = object()
        owned[held] = deadline
        return held

    async def _hold[T](self, keys: tuple[str, ...], check: Callable[[int | None], Awaitable[T | None]],
                       deadline: float, unchanged: Callable[[], T], receive: Receive | None, share: Hashable | None,
                       deliver: Callable[[T], bool] | None) -> T:
        loop = asyncio.get_running_loop()
        gone = loop.create_task(_disconnected(receive)) if receive is not None else None
        woken: int | None = None
        followers = None  # this waiter's, while it leads: they check once its check is done
        try:
            while True:
                future = self.subscribe(keys, share, deliver)
                cut = False
                try:
                    answer = None
                    try:
                        # Not past the deadline: a check that reads a database which does not answer (a primary
                        # hung) held the request until the read's own bound, 10-12 s past its `wait` (a trial). The
                        # hold then ends unchanged: the answer it holds was read current after the request came
                        # (before the hold began), so a 304 of it is still an answer of the request's time. What the
                        # check reads for others too goes on for them (the read cache's fetches and sync rounds are
                        # tasks and futures of their own, which its cancellation does not end).
                        async with asyncio.timeout_at(deadline) as bounded:
                            answer = await check(woken)
                    except TimeoutError:
                        if not bounded.expired():
                            raise
                        cut = True
                        return unchanged()
                    finally:
                        if followers:
                            try:
                                if answer is not None and share is not None and woken is not None:
                                    with _uncollected():
                                        if deliver is not None:
                                            deliver(answer)  # its own first: it waited longest
                                        self._share(followers, share, woken, answer)
                            finally:
                                if cut:
                                    self._hand_over(followers)
                                else:
                                    self._follow(followers)
                        followers = None
                    if answer is not None:
                        return answer
                    remaining = deadline - loop.time()
                    if remaining <= 0 or self.closing:
                        return unchanged()
                    # One future is awaited, which a notification, the time running out or the client going
                    # resolves (cheaper than asyncio.wait's, for the 1,000 held requests one change answers).
                    timer = loop.call_later(remaining if self.listening else min(remaining, POLL_SECONDS),
                                            _resolve, future, None)
                    if gone is not None:
                        gone.add_done_callback(ended := lambda _, future=future: _resolve(future, None))
                    try:
                        await future
                    finally:
                        timer.cancel()
                        if gone is not None:
                            gone.remove_done_callback(ended)
                    if self.closing:
                        return unchanged()
                    if gone is not None and gone.done():
                        gone.result()  # a body past its limits (middleware/body.py) is answered as such
                        return unchanged()
                    answer = self.shared.get(future)
                    if answer is not None:
                        return answer
                    if loop.time() >= deadline:
                        # Its time ran out (or a notification came as it did): no check now, which would be cut at
                        # once, its read and round going on for nobody.
                        return unchanged()
                finally:
                    woken = self.woken.get(future)
                    followers = self.led.pop(future, None)
                    self.unsubscribe(keys, future)
        finally:
            if followers:
                self._follow(followers)
            if gone is not None:
                if gone.done() and not gone.cancelled():
                    gone.exception()  # seen: the hold had answered otherwise
                gone.cancel()


@contextlib.contextmanager
def _uncollected() -> Iterator[None]:
    """No pass of the cyclic collector while a leader writes its followers' answers (a pass it is due then runs
    once they are written). Held requests are long-lived objects, 1,000 of them some 140,000 the collector tracks:
    a middle pass that fell in those writes walked them all, 20-45 ms before the answers after it left (measured:
    1,000 held on one configuration, after a load of PUTs, 2 of 12 rounds' p99 at 43 and 49 ms, against at most 26
    in 24 rounds without). The writes are a bounded, synchronous pass that leaves no cycle behind."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _later(tick: int | None, other: int | None) -> int | None:
    """The later of two ticks a check must read past; None (the tick when it checks) is later than any."""
    return None if tick is None or other is None else max(tick, other)


def _resolve(future: asyncio.Future, value: int | None) -> None:
    if not future.done():
        future.set_result(value)


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone (ASGI `http.disconnect`); what is left of the request's body is dropped."""
    while (await receive())["type"] != "http.disconnect":
        pass
