"""Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): a write sent again with the same key and the same
request answers what the first one answered, marked `Idempotent-Replayed: true`, without writing again; the same
key with another request is 422.

A key's record is written in the transaction of the write it answers for: there is no moment when the write has
committed and its record has not. So a retry after an answer that never arrived (a broken connection, a 503 saying
the outcome is unknown) finds the record if, and only if, the write committed. A request with a key that another
one is still using waits for that one to end, then answers as it did. Only successes are kept: an error wrote
nothing, so a retry is judged again. Records are kept `KEEP` (24 hours) per API key, method and path; then the key
may be used again. One answer is not recorded as it was: a key's creation, whose secret is kept nowhere, records a
409 naming the key it made (`once`'s `kept`; routers/api_keys.py).
"""

import hashlib
import re
from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from psycopg2.extras import Json

from db.database import Database, as_key
from wire.problems import Unprocessable

HEADER = b"idempotency-key"
POINTER = "#/header/Idempotency-Key"
KEEP = "24 hours"
# 1-255 visible ASCII characters or spaces, not starting with a space, without `"` or `\`; a client may send it
# as the draft writes it, an sf-string in quotes.
KEY = re.compile(r'[\x21\x23-\x5b\x5d-\x7e][\x20\x21\x23-\x5b\x5d-\x7e]{0,254}')
KEPT_HEADERS = ("content-type", "etag", "location")
REPLAYED = {"Idempotent-Replayed": "true"}  # on a replayed answer (as Stripe's API marks one)

# Claims the key, or finds the record of whoever has it (waiting, on the unique index, for a request still using
# it). A record past KEEP is taken over as if new.
CLAIM = f"""
INSERT INTO idempotency_keys (scope, key, fingerprint) VALUES (%(scope)s, %(key)s, %(fingerprint)s)
ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = 0, headers = '{{}}', body = '',
    created_at = now()
  WHERE idempotency_keys.created_at < now() - interval '{KEEP}'
RETURNING true AS claimed
"""
STORED = ("SELECT fingerprint, status, headers::json AS headers, body FROM idempotency_keys "
          "WHERE scope = %(scope)s AND key = %(key)s")
RECORD = """
UPDATE idempotency_keys SET status = %(status)s, headers = %(headers)s, body = %(body)s
WHERE scope = %(scope)s AND key = %(key)s
"""
# Each write with a key also forgets a few records past KEEP: the table stays the size of a day of keyed writes.
# Run while the write holds its locks (an application's row): a key's row another request is taking over (CLAIM's
# update of an expired one), which may then wait for the same application, is passed over, not waited for.
PURGE = f"""
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM idempotency_keys WHERE created_at < now() - interval '{KEEP}' LIMIT 100 FOR UPDATE SKIP LOCKED))
"""


def key_of(request: Request) -> str | None:
    """The request's Idempotency-Key; None without one; 422 for one that is not a key."""
    values = [value for name, value in request.scope["headers"] if name == HEADER]
    if not values:
        return None
    if len(values) > 1:
        raise Unprocessable.at(POINTER, "Send one Idempotency-Key.")
    key = values[0].decode("latin-1").strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if KEY.fullmatch(key) is None:
        raise Unprocessable.at(POINTER, "An Idempotency-Key is 1 to 255 visible ASCII characters (spaces inside "
                                        'allowed), without " or \\.')
    return key


def fingerprint(request: Request, body: bytes) -> bytes:
    """What makes two requests with one key the same request: method, path, preconditions and body."""
    digest = hashlib.sha256()
    for part in (request.method, request.scope["path"], request.headers.get("if-match", ""),
                 request.headers.get("if-none-match", "")):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\x00")
    digest.update(body)
    return digest.digest()


async def once(request: Request, db: Database, key_name: str | None, write: Callable[..., Any], /, *args: Any,
               reply: Callable[[Any], Response], transaction: bool = False, longer: float = 0.0,
               kept: Callable[[Response], Response] | None = None, **kwargs: Any) -> Response:
    """`reply(write(cursor, *args, **kwargs))`, one unit of work (in a transaction when `transaction`, for a
    write of several statements; `longer`: see `Database.run`); with an Idempotency-Key, at most once per key (and
    per API key: `key_name`, None when the API is open). A write with a twin on the event loop (`write.now`, its
    statement on the loop: db/loop.py) runs that, when without an Idempotency-Key, a transaction or a longer bound
    (one statement, in autocommit, within the ordinary bound, is all the loop runs). `kept(response)`: what is
    recorded to answer a retry, where that is not the answer itself (an answer with a secret the database must
    never hold: `createKey`'s)."""
    principal = request.scope.get("state", {}).get("principal")
    key_id = principal.id if principal is not None else None
    key = key_of(request)
    if key is None and not transaction and not longer and (now := getattr(write, "now", None)) is not None:
        return reply(await now(db, *args, key_id=key_id, **kwargs))  # on the event loop (db/loop.py)
    if key_id is not None:
        write = as_key(key_id, write)
        key_name = key_id  # a managed key's name may be another key's once it is revoked; its id never
    if key is None:
        return reply(await db.run(write, *args, transaction=transaction, longer=longer, **kwargs))
    params = {"scope": f"{key_name or ''} {request.method} {request.scope['path']}", "key": key,
              "fingerprint": fingerprint(request, await request.body())}
    return await db.run(_once, params, write, args, kwargs, reply, kept, transaction=True, longer=longer)


def _once(cur: Any, params: dict[str, Any], write: Callable[..., Any], args: tuple, kwargs: dict,
          reply: Callable[[Any], Response], kept: Callable[[Response], Response] | None = None) -> Response:
    cur.execute(CLAIM, params)
    if cur.fetchone() is None:
        cur.execute(STORED, params)
        stored = cur.fetchone()
        if bytes(stored["fingerprint"]) != params["fingerprint"]:
            raise Unprocessable.at(POINTER, f"This Idempotency-Key was used on this path for another request "
                                            f"(another body or precondition) within {KEEP}: use a new key for a new "
                                            "request.")
        return Response(bytes(stored["body"]), status_code=stored["status"], headers=stored["headers"] | REPLAYED)
    response = reply(write(cur, *args, **kwargs))
    record = kept(response) if kept is not None else response
    headers = {name: record.headers[name] for name in KEPT_HEADERS if name in record.headers}
    cur.execute(RECORD, params | {"status": record.status_code, "headers": Json(headers), "body": record.body})
    cur.execute(PURGE)
    return response
