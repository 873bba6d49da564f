"""API keys: those of the settings (`ApiKey`, read from `API_KEYS` / `API_KEYS_FILE`), and a key's identity and
rights (`Principal`), said once for the middleware that finds it, the read path that checks what it may see, and
the repository that manages keys. `live/access.py` has the rules.

A settings key is "name:scope:secret": scope `ro` reads, `rw` also writes, `admin` also manages keys, on every
application and environment.
"""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ACTIONS = ("read", "write", "manage")
SETTINGS_ACTIONS = {"ro": frozenset({"read"}), "rw": frozenset({"read", "write"}),
                    "admin": frozenset({"read", "write", "manage"})}


@dataclass(frozen=True, slots=True)
class Principal:
    """A key's identity and rights. `applications` and `environments` are None for all of them."""

    name: str
    actions: frozenset[str]
    applications: frozenset[str] | None = None
    environments: frozenset[str] | None = None
    id: str | None = None  # a managed key's; None for a key of the settings
    expires_at: datetime | None = None
    digest: bytes = field(default=b"", repr=False)

    @property
    def managed(self) -> bool:
        return self.id is not None

    @property
    def everywhere(self) -> bool:
        """On every application and in every environment."""
        return self.applications is None and self.environments is None

    def sees_application(self, application_id: str | None) -> bool:
        return "read" in self.actions and (self.applications is None or application_id in self.applications)

    def sees_environment(self, environment_id: str | None) -> bool:
        """An environment (None: none, what every environment shares) is visible when the key may read in it."""
        return "read" in self.actions and (environment_id is None or self.environments is None
                                           or environment_id in self.environments)

    def rights(self) -> dict[str, Any]:
        return {"name": self.name, "actions": [action for action in ACTIONS if action in self.actions],
                "applications": None if self.applications is None else sorted(self.applications),
                "environments": None if self.environments is None else sorted(self.environments),
                "expires_at": self.expires_at}

    def covers(self, actions: frozenset[str] | set[str], applications: frozenset[str] | set[str] | None,
               environments: frozenset[str] | set[str] | None, expires_at: datetime | None = None) -> bool:
        """Whether these rights are within this key's own. Time is one of them: a key that expires covers only
        rights that expire no later (`expires_at` None: never), so what it grants or sees cannot outlive it."""
        def within(mine: frozenset[str] | None, theirs: Any) -> bool:
            return mine is None or (theirs is not None and set(theirs) <= mine)
        return set(actions) <= self.actions and within(self.applications, applications) and \
            within(self.environments, environments) and \
            (self.expires_at is None or (expires_at is not None and expires_at <= self.expires_at))


def digest(token: bytes) -> bytes:
    """What is kept of a secret: its SHA-256 (a random 256-bit secret needs no slow hash)."""
    return hashlib.sha256(token).digest()


NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SCOPES = ("ro", "rw", "admin")
MIN_SECRET = 16


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
        if item.count(":") < 2:  # (not quoted: an item pasted alone may be a secret)
            raise ValueError(f"key {number} is not name:scope:secret (it has {item.count(':') or 'no'} colon"
                             f"{'' if item.count(':') == 1 else 's'} of the two)")
        name, _, rest = item.partition(":")
        scope, _, secret = rest.partition(":")
        if not NAME.fullmatch(name):
            raise ValueError(f"key {number}: the name must be 1-64 letters, digits, '_', '.' or '-'")
        if scope not in SCOPES:
            raise ValueError(f"key {name!r}: the scope must be ro, rw or admin")
        if len(secret) < MIN_SECRET:
            raise ValueError(f"key {name!r}: the secret must have at least {MIN_SECRET} characters")
        if any(k.name == name for k in keys):
            raise ValueError(f"key {name!r} is named twice")
        if (same := next((k for k in keys if k.secret == secret.encode()), None)) is not None:
            raise ValueError(f"keys {same.name!r} and {name!r} have the same secret: a request with it could not "
                             "tell which key it holds")
        keys.append(ApiKey(name, scope, secret.encode()))
    return tuple(keys)


def load(inline: str, file: Path | None) -> tuple[ApiKey, ...]:
    text = inline
    if file is not None:
        text += "\n" + file.read_text(encoding="utf-8")
    return parse(text)
