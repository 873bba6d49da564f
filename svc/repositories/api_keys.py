"""SQL for API keys managed through the API, and the audit of their management. Every function takes a cursor first
and owns no connection.

A key's secret is never stored, only its SHA-256. A revoked key is kept (with `revoked_at`) so that the audit and
the change feed can name it. Every management write takes one transaction-scoped lock first (key management is
rare), so that two revocations cannot each leave the other as the last key able to manage keys and together leave
none; each write and its audit entry commit together (`transaction=True`).
"""

import base64
import secrets
from datetime import UTC, datetime
from typing import Any

from psycopg2.extras import Json

from db.database import idempotent
from repositories.rows import Row, holds, one, split, write
from wire import jsontext, ulids
from wire.etags import UNCONDITIONAL, Preconditions
from wire.principals import ACTIONS, Principal, digest
from wire.problems import Conflict, Forbidden, NotFound, Unprocessable

PREFIX = "csk_"
LOCK = "SELECT pg_advisory_xact_lock(hashtext('config-service api keys'))"
FIELDS = ("name", "actions", "applications", "environments", "expires_at", "comments")
COLUMNS = """k.id, k.name, k.actions, k.applications, k.environments, k.expires_at, k.comments, k.created_at,
json_build_object('id', k.created_by_key, 'name', k.created_by) AS created_by, k.updated_at,
u.last_used_at, k.revoked_at, k.version, k.epoch"""
FROM = "api_keys k LEFT JOIN api_key_usage u ON u.key_id = k.id"

ACTIVE = ("SELECT id, name, secret_hash, actions, applications, environments, expires_at FROM api_keys "
          "WHERE revoked_at IS NULL")
SELECT_ONE = f"SELECT {COLUMNS} FROM {FROM} WHERE k.id = %(id)s"
SELECT_PAGE = f"""SELECT {COLUMNS} FROM {FROM} WHERE (%(cursor)s::varchar IS NULL OR k.id > %(cursor)s)
ORDER BY k.id LIMIT %(limit)s"""
INSERT = """
INSERT INTO api_keys (id, name, secret_hash, actions, applications, environments, comments, expires_at, created_at,
                      created_by, created_by_key, updated_at, version)
VALUES (%(id)s, %(name)s, %(secret_hash)s, %(actions)s, %(applications)s, %(environments)s, %(comments)s,
        %(expires_at)s, %(now)s, %(by_name)s, %(by_id)s, %(now)s, 1)
RETURNING id
"""
UPDATE = """
UPDATE api_keys SET name = %(name)s, actions = %(actions)s, applications = %(applications)s,
    environments = %(environments)s, comments = %(comments)s, expires_at = %(expires_at)s, updated_at = %(now)s,
    version = version + 1
WHERE id = %(id)s
RETURNING id
"""
REVOKE = """
UPDATE api_keys SET revoked_at = %(now)s, updated_at = %(now)s, version = version + 1 WHERE id = %(id)s
"""
LOCK_ONE = ("SELECT id, name, actions, applications, environments, expires_at, revoked_at, version, epoch "
            "FROM api_keys WHERE id = %(id)s FOR UPDATE")
# The keys that may manage keys on every application and environment, and have not expired or been revoked.
MANAGERS = """
SELECT id FROM api_keys WHERE revoked_at IS NULL AND 'manage' = ANY(actions) AND applications IS NULL
  AND environments IS NULL AND (expires_at IS NULL OR expires_at > %(now)s)
"""
AUDIT = """
INSERT INTO key_audit (at, action, key_id, key_name, by_id, by_name, before, after)
VALUES (%(now)s, %(action)s, %(key_id)s, %(key_name)s, %(by_id)s, %(by_name)s, %(before)s, %(after)s)
"""
SELECT_AUDIT = """
SELECT a.seq, a.at, a.action, json_build_object('id', a.key_id, 'name', a.key_name) AS key,
       json_build_object('id', a.by_id, 'name', a.by_name) AS "by", a.before::json AS before, a.after::json AS after,
       k.actions, k.applications, k.environments, k.expires_at
FROM key_audit a JOIN api_keys k ON k.id = a.key_id
WHERE a.seq > %(after)s ORDER BY a.seq LIMIT %(limit)s
"""
TOUCH = """
INSERT INTO api_key_usage (key_id, last_used_at) VALUES (%(id)s, %(now)s)
ON CONFLICT (key_id) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
"""
APPLICATIONS_FOUND = "SELECT array_agg(id) AS found FROM applications WHERE id = ANY(%(ids)s)"
ENVIRONMENTS_FOUND = "SELECT array_agg(id) AS found FROM environments WHERE id = ANY(%(ids)s)"

MISSING = "No API key has this id."
NAME_TAKEN = "An API key that is not revoked has this name."
# A managed key may not take the name of a key of the settings (in any case): the history names the key that made
# each change, and a key named `admin` by any manager would read as the settings' admin there.
SETTINGS_NAME = "A key of the service's settings has this name; give the key another."
REVOKED = "This API key is revoked; create a new one."
EXPIRY_TOO_LATE = "The expiry must be before 10000-01-01T00:00:00Z."
LAST_MANAGER = ("This would leave no API key that may manage keys on every application and environment; create "
                "or keep another one first.")


def secret() -> str:
    """A new key's secret: 256 random bits, `csk_` and 43 characters of base64url."""
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _rights(row: Row) -> dict[str, Any]:
    return {"name": row["name"], "actions": [action for action in ACTIONS if action in row["actions"]],
            "applications": row["applications"], "environments": row["environments"],
            "expires_at": None if row["expires_at"] is None
            else row["expires_at"].astimezone(UTC).isoformat().replace("+00:00", "Z")}


def _visible(by: Principal | None, row: Row) -> bool:
    """A managing key sees the keys whose rights are within its own (itself included)."""
    return by is None or by.covers(frozenset(row["actions"]), row["applications"], row["environments"],
                                   row["expires_at"])


def unique(pointer: str, items) -> None:
    """422 at the second of two equal items: the contract's `uniqueItems`, which the generated models do not check
    (a duplicate would be stored, or silently dropped)."""
    seen = set()
    for index, item in enumerate(items):
        if item in seen:
            raise Unprocessable.at(f"{pointer}/{index}", "Each item may be named once.")
        seen.add(item)


def _check(cur, by: Principal | None, given: dict[str, Any], now: datetime,
           kept: Row | None = None) -> dict[str, Any]:
    """The rights asked for, checked in the order that reveals nothing: beyond the granting key's (403) before
    whether what they name exists (422). `kept`: the key's rights now, whose applications and environments may be
    given back though deleted since (a key is saved as it reads)."""
    for pointer, items in (("/actions", given["actions"]), ("/applications", given["applications"]),
                           ("/environments", given["environments"])):
        unique(pointer, items or ())
    actions = [action for action in ACTIONS if action in given["actions"]]
    if "write" in actions and "read" not in actions:
        raise Unprocessable.at("/actions", "A key that may write must also read: add \"read\".")
    applications = None if given["applications"] is None else sorted(given["applications"])
    environments = None if given["environments"] is None else sorted(given["environments"])
    expires_at = given.get("expires_at")
    if expires_at is not None:
        # In UTC, as it is answered: PostgreSQL takes no offset beyond 15:59 (RFC 3339 allows 23:59), and a time
        # of 9999-12-31 west of UTC is in the year 10000 there, which neither RFC 3339 nor Python can write.
        try:
            expires_at = expires_at.astimezone(UTC)
        except OverflowError:
            raise Unprocessable.at("/expires_at", EXPIRY_TOO_LATE) from None
    if by is not None and not by.covers(frozenset(actions), applications, environments, expires_at):
        raise Forbidden("A key cannot grant what it does not have: an action, an application or an environment "
                        "beyond this API key's own, or a time beyond its expiry (a key that expires grants only "
                        "keys that expire no later).")
    # The pointer names the id where the body has it (what is stored is sorted).
    for pointer, ids, query, what in (("/applications", given["applications"], APPLICATIONS_FOUND, "application"),
                                      ("/environments", given["environments"], ENVIRONMENTS_FOUND, "environment")):
        if ids:
            cur.execute(query, {"ids": ids})
            found = set(cur.fetchone()["found"] or ()) | set((kept or {}).get(pointer[1:]) or ())
            for index, id in enumerate(ids):
                if id not in found:
                    raise Unprocessable.at(f"{pointer}/{index}", f"No {what} has this id.")
    if expires_at is not None and expires_at <= now:
        raise Unprocessable.at("/expires_at", "The expiry must be in the future.")
    return {"name": given["name"], "actions": actions, "applications": applications, "environments": environments,
            "expires_at": expires_at, "comments": given.get("comments")}


def _audit(cur, action: str, key: Row, by: Principal | None, now: datetime, before: dict | None,
           after: dict | None) -> None:
    cur.execute(AUDIT, {"now": now, "action": action, "key_id": key["id"], "key_name": key["name"],
                        "by_id": by.id if by else None, "by_name": by.name if by else None,
                        "before": None if before is None else Json(before, dumps=jsontext.dumps),
                        "after": None if after is None else Json(after, dumps=jsontext.dumps)})


def _keeps_a_manager(cur, now: datetime, settings_manager: bool) -> None:
    """409 unless a key that may manage keys everywhere is left (a key of the settings counts)."""
    cur.execute(MANAGERS, {"now": now})
    if not settings_manager and cur.fetchone() is None:
        raise Conflict(LAST_MANAGER)


@idempotent
def active(cur) -> list[Row]:
    """Every key not revoked (expired ones included: the time of each request decides), with its secret's hash."""
    cur.execute(ACTIVE)
    return cur.fetchall()


@idempotent
def get(cur, id: str, *, by: Principal | None = None) -> Row:
    row = one(cur, SELECT_ONE, {"id": id}, MISSING)
    if not _visible(by, row):
        raise NotFound(MISSING)
    return row


@idempotent
def page(cur, *, limit: int, cursor: str | None = None, by: Principal | None = None) -> tuple[list[Row], str | None]:
    """One page of keys in id order, of those `by` may see, read on past those it may not until the page is full:
    the cursor is the last key on the page, never the id of one it may not see."""
    seen: list[Row] = []
    after = cursor
    while True:
        cur.execute(SELECT_PAGE, {"cursor": after, "limit": limit + 1})
        rows = cur.fetchall()
        seen += [row for row in rows if _visible(by, row)]
        if len(seen) > limit or len(rows) <= limit:
            return split(seen, limit)
        after = rows[-1]["id"]


def create(cur, *, by: Principal | None, reserved: frozenset[str] = frozenset(), **given: Any) -> Row:
    """A new key; the row has its `secret`, which is not kept. `reserved`: the settings' keys' names, casefolded,
    which it may not take (`SETTINGS_NAME`)."""
    cur.execute(LOCK)
    now = datetime.now(UTC)
    rights = _check(cur, by, given, now)
    if given["name"].casefold() in reserved:
        raise Conflict(SETTINGS_NAME)
    token = secret()
    params = {**rights, "id": ulids.new(now), "secret_hash": digest(token.encode()), "now": now,
              "by_id": by.id if by else None, "by_name": by.name if by else None}
    write(cur, INSERT, params, NAME_TAKEN)
    row = get(cur, params["id"])
    _audit(cur, "created", row, by, now, None, _rights(row))
    return row | {"secret": token}


def _locked(cur, id: str, by: Principal | None) -> Row:
    cur.execute(LOCK)
    row = one(cur, LOCK_ONE, {"id": id}, MISSING)
    if not _visible(by, row):
        raise NotFound(MISSING)
    return row


def update(cur, id: str, *, by: Principal | None, settings_manager: bool = False,
           when: Preconditions = UNCONDITIONAL, reserved: frozenset[str] = frozenset(), **given: Any) -> Row:
    """Replace a key's name and rights (not its secret). A new name may not be one of `reserved` (the settings'
    keys'); a name kept is (a settings key of its name may have come since: the key is saved as it reads)."""
    current = _locked(cur, id, by)
    if current["revoked_at"] is not None:
        raise Conflict(REVOKED)
    holds(id, current, when)
    now = datetime.now(UTC)
    rights = _check(cur, by, given, now, kept=current)
    if given["name"] != current["name"] and given["name"].casefold() in reserved:
        raise Conflict(SETTINGS_NAME)
    write(cur, UPDATE, {**rights, "id": id, "now": now}, NAME_TAKEN)
    _keeps_a_manager(cur, now, settings_manager)
    row = get(cur, id)
    _audit(cur, "updated", row, by, now, _rights(current), _rights(row))
    return row


def revoke(cur, id: str, *, by: Principal | None, settings_manager: bool = False,
           when: Preconditions = UNCONDITIONAL) -> None:
    """Revoke a key for good; a key already revoked stays as it is."""
    current = _locked(cur, id, by)
    if current["revoked_at"] is not None:
        return
    holds(id, current, when)
    now = datetime.now(UTC)
    cur.execute(REVOKE, {"id": id, "now": now})
    _keeps_a_manager(cur, now, settings_manager)
    _audit(cur, "revoked", current, by, now, _rights(current), _rights(current))


@idempotent
def audit(cur, *, after: int, limit: int, by: Principal | None = None) -> tuple[list[Row], int]:
    """Audit entries after `after`, oldest first, of the keys `by` may see; and the position to read on from."""
    cur.execute(SELECT_AUDIT, {"after": after, "limit": limit})
    rows = cur.fetchall()
    next_after = rows[-1]["seq"] if rows else after
    entries = [{name: _timed(row[name]) if name in ("before", "after") else row[name]
                for name in ("seq", "at", "action", "key", "by", "before", "after")} for row in rows]
    # An entry shows the rights a key had before and after: seen only when both, as well as the key's rights now,
    # are within the reader's (a key narrowed since would show what it once reached).
    return [entry for row, entry in zip(rows, entries, strict=True)
            if _visible(by, row) and all(_visible(by, rights) for rights in (entry["before"], entry["after"])
                                         if rights is not None)], next_after


def _timed(rights: dict | None) -> dict | None:
    """Rights as the audit keeps them (JSON), with `expires_at` a time again."""
    if rights is None or rights.get("expires_at") is None:
        return rights
    return rights | {"expires_at": datetime.fromisoformat(rights["expires_at"].replace("Z", "+00:00"))}


def touch(cur, id: str) -> None:
    """Record that key `id` was used now."""
    cur.execute(TOUCH, {"id": id, "now": datetime.now(UTC)})
