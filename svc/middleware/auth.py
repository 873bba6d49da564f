"""API keys: checked on every `/api/v1` request before anything else runs.

The settings' keys come from `API_KEYS` ("name:rw:secret,name:ro:secret,name:admin:secret") or `API_KEYS_FILE`
(one "name:scope:secret" a line): `ro` reads, `rw` also writes, `admin` also manages keys, everywhere. With none
configured the API is open (the local default), and start-up logs one warning saying so. Keys managed through the
API (`routers/api_keys.py`) work only while the settings have keys: an `admin` key is how the first one is made, and
a service whose settings have none refuses to start while the database holds managed keys that work
(`app.unguarded_keys`).
"""

import re

from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from live import access, keys, readcache
from wire import headers, problems
from wire.principals import ApiKey, Principal, digest

READS = frozenset({"GET", "HEAD", "OPTIONS"})
# An open API (no settings key) answers nothing until the database has said it holds no managed key that works
# (`app.unguarded_keys`): the database did not answer at start-up, and a request could reach it before that check.
_UNKNOWN = problems.ServiceUnavailable("The database is unavailable.")


def early_refusal(principal: Principal, method: str, path: str) -> problems.ProblemError | None:
    """403 before the request is read any further, where it is certain whatever the request names: key management
    without `manage`; a write without `write` by a key that sees everything (a key limited to some applications or
    environments is answered by the route: 404 for what it may not see). `path` is under the API's prefix."""
    if path in ("/keys", "/audit/keys") or path.startswith("/keys/"):
        return None if "manage" in principal.actions else problems.Forbidden("This API key may not manage keys.")
    if method not in READS and not path.endswith("/import/plan") and "write" not in principal.actions \
            and "read" in principal.actions and principal.everywhere:  # (a plan writes nothing)
        return problems.Forbidden("This API key may not write.")
    return None


_ULID = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
STALE_READS = (rf"/(?:applications(?:/{_ULID}(?:/configurations|/effective)?)?|configurations/{_ULID}"
               rf"(?:/effective|/overrides/{_ULID})?|environments(?:/{_ULID})?|effective)/?")


class Authenticate:
    """ASGI middleware: 401 without a valid key; the request's key (`access.Principal`) goes in the scope, where the
    routes and the read path find what it may see and do (`live/access.py`). It also starts the request's clock
    (`readcache.began`): finding a managed key is the request's first read, and its reads share one sync round.

    A GET with a managed key already found in the ring the worker keeps is served under the rights it has there
    before the request's sync round has confirmed them: its answer waits, at its start, until they
    are confirmed as current as that round, which costs nothing more when the request's own read has waited for the
    round and no key changed since. If they changed, that answer is dropped unsent and the request runs again under
    the rights it has now. A GET changes nothing, so running it twice is as running it once; every other request
    waits for its key's rights before anything runs.

    Each `Authorization` found to hold a key, written `Bearer <secret>`, is remembered (a settings key's here, for
    good; a managed key's in the ring that found it, for as long as that ring is kept: one header a key), so that
    the next request with it skips the parsing, the hashing and the comparisons. Only what holds a key's secret is
    remembered: a wrong secret and an unknown token are never found there and take the same path, and a dict of a
    few keys' headers, hashed with the process's own random key, tells nothing by its timing of a token that is
    in none. A key's use is recorded once its rights are confirmed."""

    def __init__(self, app: ASGIApp, keys: tuple[ApiKey, ...], prefix: str) -> None:
        self.app = app
        self.keys = access.settings_principals(keys)
        self.known: dict[bytes, Principal] = {}  # the `Authorization`s found to hold a settings key
        self.prefix = prefix
        self.managing = (f"{prefix}/keys", f"{prefix}/audit/keys")
        # The reads that may be answered stale (`Cache-Control`, `readcache.tolerance`): those the contract declares
        # it on, which the worker's copy answers, and which say `Age`. Every other request, and every request a
        # connection sends after one of these, reads current: the tolerance is set for each request, None but here.
        self.stale_reads = re.compile(re.escape(prefix) + STALE_READS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            readcache.tolerance.set(None)
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        read_cache = _began(state)
        readcache.tolerance.set(headers.staleness(scope) if scope["method"] in ("GET", "HEAD")
                                and self.stale_reads.fullmatch(scope["path"]) else None)
        if not self.keys:
            if getattr(state, "unguarded_unknown", False):
                await _UNKNOWN.response(scope["path"])(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        authorization = headers.first(scope, b"authorization")
        principal = self.known.get(authorization) if authorization else None  # a settings key's, seen before
        if principal is None and authorization and scope["method"] == "GET" and read_cache is not None \
                and (kept := read_cache.kept(keys.KEYRING)) is not None \
                and (tentative := kept.value.recall(authorization)) is not None \
                and not scope["path"].startswith(self.managing):  # (what may refuse a GET: `early_refusal`)
            # Served under the rights the ring kept now gives, its answer held at its start until they are
            # confirmed as current as the request's sync round: at once when its read waited for that round and
            # the ring is still `kept`.
            request_state = scope.setdefault("state", {})
            request_state["principal"], request_state["api_key"] = tentative, tentative.name
            started, confirmed = readcache.began.get(), None

            async def confirm() -> bool:
                """Whether the rights it runs under are confirmed (decided once): at once when the ring is still
                `kept` and the request's round is back."""
                nonlocal confirmed
                if confirmed is None:
                    confirmed = read_cache.current(keys.KEYRING, started) is kept or \
                        await _confirmed(state, request_state["principal"])
                    if confirmed:
                        request_state.pop("unconfirmed", None)
                return confirmed

            async def send_confirmed(message: Message) -> None:
                if await confirm():
                    await send(message)

            # What answers below it without sending (`protocol.write_whole`) confirms it first.
            request_state["unconfirmed"] = confirm
            try:
                await self.app(scope, receive, send_confirmed)
            except Exception:
                if await confirm():  # it failed before answering: under the rights it had, or stale ones?
                    raise
            finally:
                request_state.pop("unconfirmed", None)  # (it refers to the state: a reference cycle otherwise)
            if confirmed:
                kept.value.used(tentative)  # type: ignore[union-attr]
            if confirmed is not False:
                return
            # Its key's rights changed: nothing was sent. It runs again below, as a request whose key is not
            # remembered (a GET's body is never read, so what it received needs no replaying).
        refusal = await self._identified(scope, authorization, principal)
        if refusal is not None:
            await refusal.response(scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def admit(self, scope: Scope) -> problems.ProblemError | None:
        """What `__call__` does for a request under the prefix that is not a GET, without the layers below: it starts
        the request's clock, and puts its key in the scope, or returns the problem that refuses it (401, 403, 503).
        For a lane that answers a request whole (`routers/writes.WriteLane`)."""
        state = scope["app"].state
        _began(state)
        readcache.tolerance.set(None)  # (a write's key is looked up current, whatever its connection sent before)
        if not self.keys:
            return _UNKNOWN if getattr(state, "unguarded_unknown", False) else None
        authorization = headers.first(scope, b"authorization")
        return await self._identified(scope, authorization, self.known.get(authorization) if authorization else None)

    async def _identified(self, scope: Scope, authorization: bytes | None,
                          principal: Principal | None) -> problems.ProblemError | None:
        """The request's key (`principal`, if remembered already) put in the scope, or the problem that refuses it."""
        if principal is None and (token := access.token_of(authorization)) is not None:
            # `access.identify`, composed here: a request with a managed key waits here for its sync round, and
            # every frame it resumes through on the way back is a cost an open request does not have.
            wanted = digest(token)
            principal = access.settings_key(self.keys, wanted)
            if principal is not None:
                if access.canonical(authorization, token):  # type: ignore[arg-type]
                    self.known[authorization] = principal  # type: ignore[index]
            else:
                try:
                    ring = (await access.ring(scope["app"].state)).value
                except problems.ProblemError as error:  # the managed keys could not be read: 503, as any read
                    return error
                principal = ring.find(wanted)  # type: ignore[union-attr]
                if principal is not None and access.canonical(authorization, token):  # type: ignore[arg-type]
                    ring.remember(authorization, principal)  # type: ignore[union-attr, arg-type]
        if principal is None:
            return problems.Unauthorized()
        refusal = early_refusal(principal, scope["method"], scope["path"][len(self.prefix):])
        if refusal is not None:
            return refusal
        request_state = scope.setdefault("state", {})
        request_state["principal"] = principal
        request_state["api_key"] = principal.name
        return None


def _began(state: State) -> readcache.ReadCache | None:
    """Start the request's clock (`readcache.began`): its reads share one sync round. The worker's read cache."""
    read_cache = getattr(state, "read_cache", None)
    if read_cache is not None:
        readcache.began.set(read_cache.tick())
    return read_cache


async def _confirmed(state: State, principal: Principal) -> bool:
    """Whether `principal` (found in a ring kept before the request's sync round was back, or since by a held
    request checking again) has the rights its key has in the ring as of that round, read as of it. False when
    they differ, or the ring cannot be read (the request, run again, answers that as a read does)."""
    try:
        ring = (await access.ring(state)).value
    except problems.ProblemError:
        return False
    return ring.find(principal.digest) == principal  # type: ignore[union-attr]
