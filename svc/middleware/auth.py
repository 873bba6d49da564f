"""API keys: named, read-only or read-write, checked on every `/api/v1` request before anything else runs.

Keys come from `API_KEYS` ("name:rw:secret,name:ro:secret") or `API_KEYS_FILE` (one "name:scope:secret" a line).
With none configured the API is open (the local default), and start-up logs one warning saying so.
"""

import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from wire import headers, problems

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SCOPES = ("ro", "rw")
MIN_SECRET = 16
READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ApiKey:
    name: str
    scope: str
    secret: bytes = b""

    def __repr__(self) -> str:  # never print a secret, even in a traceback
        return f"ApiKey(name={self.name!r}, scope={self.scope!r})"


def parse(text: str) -> tuple[ApiKey, ...]:
    """Keys from "name:scope:secret" items separated by commas or new lines; a bad item raises ValueError."""
    keys = []
    for number, item in enumerate(re.split(r"[,\n]", text), start=1):
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        name, _, rest = item.partition(":")
        scope, _, secret = rest.partition(":")
        if not NAME.fullmatch(name):
            raise ValueError(f"key {number}: the name must be 1-64 letters, digits, '_', '.' or '-'")
        if scope not in SCOPES:
            raise ValueError(f"key {name!r}: the scope must be ro or rw")
        if len(secret) < MIN_SECRET:
            raise ValueError(f"key {name!r}: the secret must have at least {MIN_SECRET} characters")
        if any(k.name == name for k in keys):
            raise ValueError(f"key {name!r} is named twice")
        keys.append(ApiKey(name, scope, secret.encode()))
    return tuple(keys)


def load(inline: str, file: Path | None) -> tuple[ApiKey, ...]:
    text = inline
    if file is not None:
        text += "\n" + file.read_text(encoding="utf-8")
    return parse(text)


def identify(keys: tuple[ApiKey, ...], authorization: bytes | None) -> ApiKey | None:
    """The key a `Bearer` authorization names, compared in constant time against every key."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    token = token.strip()
    found = None
    for key in keys:
        # No early exit: the time taken does not tell which key, or how much of one, matched.
        if hmac.compare_digest(key.secret, token):
            found = key
    return found


class Authenticate:
    """ASGI middleware: 401 without a valid key, 403 for a read-only key on a write; puts the key in the scope."""

    def __init__(self, app: ASGIApp, keys: tuple[ApiKey, ...], prefix: str) -> None:
        self.app = app
        self.keys = keys
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        key = identify(self.keys, headers.first(scope, b"authorization"))
        if key is None:
            refusal: problems.ProblemError = problems.Unauthorized()
        elif key.scope != "rw" and scope["method"] not in READS:
            refusal = problems.Forbidden()
        else:
            scope.setdefault("state", {})["api_key"] = key.name
            await self.app(scope, receive, send)
            return
        await refusal.response(scope["path"])(scope, receive, send)
