"""Handlers of the `keys` tag: API keys managed through the API, the caller's own key, and the audit."""

import re

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from live import access, scopes
from repositories import api_keys
from routers.deps import API, After, Conditions, Cursor, DatabaseDep, IdPath, JsonBody, Limit, SettingsDep
from routers.idempotency import once
from settings import Settings
from wire import etags, models
from wire.bodies import check_body
from wire.jsonroute import ExactJsonRoute
from wire.principals import ACTIONS
from wire.problems import Conflict, Unprocessable
from wire.replies import reply_trusted

router = APIRouter(route_class=ExactJsonRoute, tags=["keys"])


def _reply(row: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    headers = {"ETag": etags.of_row(row)} | (headers or {})
    model = models.ApiKeyCreated if "secret" in row else models.ApiKey
    return reply_trusted(model, row, status, headers)


# RFC 3339's date-time (JSON Schema's `date-time`), which the contract's Timestamp is: pydantic's datetime also
# takes numbers as Unix times, digit strings, a space for the `T`, no seconds, and offsets without a colon.
RFC_3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
                      r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")


def _reserved(settings: Settings) -> frozenset[str]:
    """The names of the settings' keys, in any case, which no managed key takes (`api_keys.SETTINGS_NAME`)."""
    return frozenset(key.name.casefold() for key in settings.keys)


async def _checked(body: BaseModel, request: Request, settings: Settings) -> dict:
    """A key's body as plain data, once the schema's rules that the generated models do not check hold (a 422 at
    the value, as the body's other schema errors are, before the gate and the preconditions): `uniqueItems` on
    `actions`, `applications` and `environments`, and `expires_at` spelled as RFC 3339 says."""
    data = check_body(body, settings)
    for field in ("actions", "applications", "environments"):
        api_keys.unique(f"/{field}", data.get(field) or ())
    expires_at = (await request.json()).get("expires_at")
    if expires_at is not None and not (isinstance(expires_at, str) and RFC_3339.fullmatch(expires_at)):
        raise Unprocessable.at("/expires_at", "An RFC 3339 date-time, such as 2027-12-01T00:00:00Z, or null.")
    return data


def _settings_manager(request: Request) -> bool:
    """Whether a key of the settings may manage keys (then no change through the API can lock everyone out)."""
    return any(key.scope == "admin" for key in request.app.state.settings.keys)


def _created_again(location: str) -> Conflict:
    """What a retry of a creation with its Idempotency-Key answers: the key it made (`location`), without its
    secret. The secret is shown in the creation's answer only and is kept nowhere, the record of that answer
    included: a database read (a backup, a replica) would otherwise hold live secrets for a day."""
    return Conflict(f"This Idempotency-Key already created key {location.rsplit('/', 1)[-1]} (Location). Its "
                    "secret was shown only in that answer and is kept nowhere: if the answer was lost, revoke that "
                    "key and create another.", headers={"Location": location})


@router.post("/keys", dependencies=[JsonBody])
async def create_key(body: models.ApiKeyCreate, request: Request, db: DatabaseDep, settings: SettingsDep) -> Response:
    data = await _checked(body, request, settings)
    principal = scopes.managing(request.scope)
    return await once(request, db, principal.name, api_keys.create, by=principal, reserved=_reserved(settings),
                      **data, transaction=True,
                      reply=lambda row: _reply(row, 201, {"Location": f"{API}/keys/{row['id']}"}),
                      kept=lambda made: _created_again(made.headers["location"]).response(request.scope["path"]))


@router.get("/keys")
async def list_keys(request: Request, db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None) -> Response:
    principal = scopes.managing(request.scope)
    rows, next_cursor = await db.run(api_keys.page, limit=limit, cursor=cursor, by=principal)
    return reply_trusted(models.ApiKeyPage, {"items": rows, "next_cursor": next_cursor})


@router.get("/keys/{id}")
async def get_key(id: IdPath, request: Request, db: DatabaseDep) -> Response:
    principal = scopes.managing(request.scope)
    row = await db.run(api_keys.get, id, by=principal)
    return _reply(row)


@router.put("/keys/{id}", dependencies=[JsonBody])
async def update_key(id: IdPath, body: models.ApiKeyUpdate, request: Request, db: DatabaseDep,
                     settings: SettingsDep, when: Conditions) -> Response:
    data = await _checked(body, request, settings)
    principal = scopes.managing(request.scope)
    return await once(request, db, principal.name, api_keys.update, id, by=principal, reserved=_reserved(settings),
                      **data, when=when,
                      settings_manager=_settings_manager(request), transaction=True, reply=_reply)


@router.delete("/keys/{id}", status_code=204)
async def revoke_key(id: IdPath, request: Request, db: DatabaseDep, when: Conditions) -> Response:
    principal = scopes.managing(request.scope)
    return await once(request, db, principal.name, api_keys.revoke, id, by=principal, when=when,
                      settings_manager=_settings_manager(request), transaction=True,
                      reply=lambda _: Response(status_code=204))


@router.get("/key")
async def get_current_key(request: Request) -> Response:
    principal = access.of(request.scope)
    if principal is None:
        return reply_trusted(models.CurrentKey, {"open": True, "id": None, "name": None, "source": "open",
                                                 "actions": list(ACTIONS), "applications": None,
                                                 "environments": None, "expires_at": None})
    return reply_trusted(models.CurrentKey, {"open": False, "id": principal.id,
                                             "source": "managed" if principal.managed else "settings",
                                             **principal.rights()})


@router.get("/audit/keys")
async def list_key_audit(request: Request, db: DatabaseDep, after: After = 0, limit: Limit = 50) -> Response:
    principal = scopes.managing(request.scope)
    rows, next_after = await db.run(api_keys.audit, after=after, limit=limit, by=principal)
    return reply_trusted(models.KeyAuditPage, {"items": rows, "next_after": next_after})
