"""API keys: checked on every `/api/v1` request before anything else runs.

The settings' keys come from `API_KEYS` ("name:rw:secret,name:ro:secret,name:admin:secret") or `API_KEYS_FILE`
(one "name:scope:secret" a line): `ro` reads, `rw` also writes, `admin` also manages keys, everywhere. With none
configured the API is open (the local default), and start-up logs one warning saying so. Keys managed through the
API (`routers/api_keys.py`) work only while the settings have keys: an `admin` key is how the first one is made.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from live import access, readcache
from wire import headers, problems
from wire.principals import ApiKey, Principal, digest

READS = frozenset({"GET", "HEAD", "OPTIONS"})


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


class Authenticate:
    """ASGI middleware: 401 without a valid key; the request's key (`access.Principal`) goes in the scope, where the
    routes and the read path find what it may see and do (`live/access.py`). It also starts the request's clock
    (`readcache.began`): finding a managed key is the request's first read, and its reads share one sync round."""

    def __init__(self, app: ASGIApp, keys: tuple[ApiKey, ...], prefix: str) -> None:
        self.app = app
        self.keys = access.settings_principals(keys)
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        read_cache = getattr(state, "read_cache", None)
        if read_cache is not None:
            readcache.began.set(read_cache.tick())
        if not self.keys:
            await self.app(scope, receive, send)
            return
        token = access.token_of(headers.first(scope, b"authorization"))
        # `access.identify`, composed here: a request with a managed key waits here for its sync round, and every
        # frame it resumes through on the way back is a cost an open request does not have.
        principal = None
        if token is not None:
            wanted = digest(token)
            principal = access.settings_key(self.keys, wanted)
            if principal is None:
                try:
                    principal = (await access.ring(state)).value.find(wanted)  # type: ignore[union-attr]
                except problems.ProblemError as error:  # the managed keys could not be read: 503, as any read
                    await error.response(scope["path"])(scope, receive, send)
                    return
        if principal is None:
            await problems.Unauthorized().response(scope["path"])(scope, receive, send)
            return
        refusal = early_refusal(principal, scope["method"], scope["path"][len(self.prefix):])
        if refusal is not None:
            await refusal.response(scope["path"])(scope, receive, send)
            return
        request_state = scope.setdefault("state", {})
        request_state["principal"] = principal
        request_state["api_key"] = principal.name
        await self.app(scope, receive, send)
