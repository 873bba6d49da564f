"""Handlers of the `history` tag: diffs between revisions, and reads of the past by feed position or time.

Each handler's first step resolves the application (and the environment, where it reads one) that it touches, in
one place, before it reads anything else.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from live import access, reads, scopes
from repositories import history, transfer
from routers.deps import (Actor, DatabaseDep, EnvironmentIdPath, EnvironmentQuery, EpochQuery, IdPath, JsonBody,
                          PlainInteger, SettingsDep, unconditional)
from routers.idempotency import once
from settings import Settings
from wire import etags, jsontext, models, names
from wire.bodies import check_body, check_depth, refuse_nulls
from wire.jsonroute import ExactJsonRoute
from wire.problems import Forbidden, PreconditionRequired, Unprocessable
from wire.replies import reply_trusted
from wire.times import moment, rfc3339

router = APIRouter(route_class=ExactJsonRoute, tags=["history"])

DiffFrom = Annotated[int, PlainInteger, Query(alias="from", ge=1, le=2147483647,
                                              description="The revision to diff from.")]
DiffTo = Annotated[int | None, PlainInteger, Query(ge=1, le=2147483647,
                                                   description="The revision to diff to; omitted, the current one.")]
Seq = Annotated[int | None, PlainInteger, Query(ge=0, le=9223372036854775807,
                                                description="A position of the application's change feed.")]
At = Annotated[str | None, Query(max_length=64, description="An RFC 3339 time with its offset.")]

def _exact(document: dict) -> Response:
    # Written by jsontext: patches and merged views keep their numbers exactly (pydantic would write a Decimal as a
    # string).
    return Response(jsontext.dumps(document).encode(), media_type="application/json")


@router.get("/configurations/{id}/diff")
async def get_configuration_diff(id: IdPath, first: DiffFrom, request: Request, db: DatabaseDep,
                                 to: DiffTo = None) -> Response:
    application_id = await db.run(history.owner, id)
    access.check_application(access.of(request.scope), application_id, history.NO_CONFIGURATION)
    return _exact(await db.run(history.configuration_diff, application_id, id, first, to))


@router.get("/configurations/{id}/overrides/{environment_id}/diff")
async def get_override_diff(id: IdPath, environment_id: EnvironmentIdPath, first: DiffFrom, request: Request,
                            db: DatabaseDep, to: DiffTo = None) -> Response:
    # The key's gate first, as the override's other routes check it (a configuration of an application it may not
    # see, an environment it may not see: the 404s of ones that do not exist), then what is missing is named.
    await scopes.in_environments(request.app.state, request.scope, id, environment_id)
    application_id = await db.run(history.override_owner, id, environment_id)
    return _exact(await db.run(history.override_diff, application_id, id, environment_id, first, to))


@router.get("/configurations/{id}/snapshot")
async def get_configuration_snapshot(id: IdPath, request: Request, seq: Seq = None, at: At = None,
                                     epoch: EpochQuery = None) -> Response:
    # The fast path answers it too (live/fastpath.py), with the same read, when no `epoch` is sent.
    body = await reads.configuration_snapshot(request.app.state, request.scope, id, seq, at, epoch)
    return Response(body, media_type="application/json")


@router.get("/applications/{id}/snapshot")
async def get_application_snapshot(id: IdPath, request: Request, db: DatabaseDep, seq: Seq = None,
                                   at: At = None, epoch: EpochQuery = None) -> Response:
    application_id = id
    await scopes.application(request.scope, application_id)
    snapshot = await db.run(history.application_at, application_id, seq=seq, at=moment(at), epoch=epoch)
    return reply_trusted(models.ApplicationSnapshot, snapshot)


@router.get("/configurations/{id}/effective/snapshot")
async def get_effective_snapshot(id: IdPath, environment_id: EnvironmentQuery, request: Request, db: DatabaseDep,
                                 seq: Seq = None, at: At = None, epoch: EpochQuery = None) -> Response:
    application_id = await db.run(history.owner, id)
    access.check_application(access.of(request.scope), application_id, history.NO_CONFIGURATION)
    access.check_environment(access.of(request.scope), environment_id)
    snapshot = await db.run(history.effective_at, application_id, id, environment_id, seq=seq, at=moment(at),
                            epoch=epoch)
    return _exact({**snapshot, "recorded_at": rfc3339(snapshot["recorded_at"])})


@router.get("/applications/{id}/export")
async def export_application(id: IdPath, request: Request, db: DatabaseDep, seq: Seq = None,
                             at: At = None, epoch: EpochQuery = None) -> Response:
    application_id = id
    await scopes.application(request.scope, application_id)
    every_environment(request)
    return _exact(await db.run(transfer.export, application_id, seq=seq, at=moment(at), epoch=epoch))


def _keys(document: dict | None, pointer: str, settings: Settings) -> None:
    """`document`, a configuration's `config` or an override's `patch`, held to the limits a body of its own is."""
    check_depth(document, settings.max_json_depth, pointer)
    if document is not None and len(document) > settings.max_config_keys:
        raise Unprocessable.at(pointer, f"A configuration may have at most {settings.max_config_keys} top-level keys.")


# How much deeper than in a body of its own each body holds a document: an import's override patch is at
# /document/configurations/N/overrides/ENV (depth 6, against 2 in `{"patch": ...}`), a change set's at /changes/N/config.
IMPORT_HOLDS = 4
CHANGE_SET_HOLDS = 2


async def _document(request: Request, body: models.ImportRequest | models.ImportApply, settings: Settings) -> dict:
    """The body's document once storable, within the limits, its names in NFC."""
    refuse_nulls(body)
    sent = await request.json()
    for member in ("seq", "epoch"):  # pydantic takes false for 0, "1" and 1.0 for 1: the contract says integer
        value = sent["document"].get(member)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise Unprocessable.at(f"/document/{member}", "Input should be an integer.")
    document = check_body(body, settings, IMPORT_HOLDS)["document"]
    for index, c in enumerate(document["configurations"]):
        at = f"/document/configurations/{index}"
        c["name"] = names.canonical(c["name"], f"{at}/name")
        _keys(c["config"], f"{at}/config", settings)
        patches = {}
        for environment, patch in (c.get("overrides") or {}).items():
            pointer = f"{at}/overrides/{environment.replace('~', '~0').replace('/', '~1')}"
            _keys(patch, pointer, settings)
            name = names.canonical(environment, pointer)
            if name in patches:  # (`café` and `cafe` + U+0301 name one environment: one would be lost)
                raise Unprocessable.at(pointer, "Two overrides of this configuration name this environment.")
            patches[name] = patch
        c["overrides"] = patches
    return document


@router.post("/applications/{id}/import/plan", dependencies=[JsonBody])
async def plan_import(id: IdPath, body: models.ImportRequest, request: Request, db: DatabaseDep,
                      settings: SettingsDep) -> Response:
    application_id = id
    document = await _document(request, body, settings)
    await scopes.application(request.scope, application_id)  # a plan writes nothing: a key that reads may plan
    every_environment(request)
    return _exact(await db.run(transfer.plan, application_id, document, exact=body.mode == "exact"))


@router.post("/applications/{id}/import/apply", dependencies=[JsonBody])
async def apply_import(id: IdPath, body: models.ImportApply, request: Request, db: DatabaseDep,
                       settings: SettingsDep, actor: Actor) -> Response:
    application_id = id
    document = await _document(request, body, settings)
    await scopes.application(request.scope, application_id, write=True)
    return await once(request, db, actor, transfer.apply, application_id, document, body.token.root,
                      exact=body.mode == "exact", actor=actor, transaction=True, reply=_exact,
                      longer=WRITE_SECONDS * sum(1 + len(c["overrides"]) for c in document["configurations"]))


def every_environment(request: Request) -> None:
    """An export or an import plan holds every environment's overrides: 403 for a key limited to some."""
    principal = access.of(request.scope)
    if principal is not None and principal.environments is not None:
        raise Forbidden("An export or an import holds every environment's overrides; this API key is "
                               "limited to some.")


# What an import or a change set may take per configuration it writes, beyond the bound of any unit of work
# (STATEMENT_TIMEOUT_MS + 2 s): each of its statements is bounded as any, and together they may take longer than
# one may (about 0.7 ms each on a quiet 2-core machine; ten times that allowed).
WRITE_SECONDS = 0.007

REQUIRED = {"create": ("name", "config"), "update": ("configuration_id", "name", "config"),
            "delete": ("configuration_id",), "set_override": ("environment_id", "patch"),
            "delete_override": ("environment_id",)}
# The changes of an override, which name its configuration by id or by name, and its environment.
OF_OVERRIDES = ("set_override", "delete_override")


@router.post("/applications/{id}/changesets", dependencies=[JsonBody])
async def apply_change_set(id: IdPath, body: models.ChangeSet, request: Request, db: DatabaseDep,
                           settings: SettingsDep, actor: Actor) -> Response:
    application_id = id
    refuse_nulls(body)
    changes = check_body(body, settings, CHANGE_SET_HOLDS)["changes"]
    # Overrides only: the environments each is in, which a key limited to some must have. Any change of a
    # configuration's own `config` changes every environment (as a PUT of it does).
    overrides_only = all(change["action"] in OF_OVERRIDES for change in changes)
    await scopes.application(request.scope, application_id, write=not overrides_only)
    principal = access.of(request.scope)
    if overrides_only:
        access.require(principal, "write")
    for index, change in enumerate(changes):
        for field in REQUIRED[change["action"]]:
            if change[field] is None:
                raise Unprocessable.at(f"/changes/{index}/{field}", f"A {change['action']} needs `{field}`.")
        if change["action"] in OF_OVERRIDES:
            if change["configuration_id"] is None and change["name"] is None:
                raise Unprocessable.at(f"/changes/{index}/configuration_id",
                                       f"A {change['action']} needs `configuration_id` or `name`.")
        if change["name"] is not None:
            change["name"] = names.canonical(change["name"], f"/changes/{index}/name")
        _keys(change["config"], f"/changes/{index}/config", settings)
        _keys(change["patch"], f"/changes/{index}/patch", settings)
        if change["action"] != "create" \
                and unconditional(change["if_match"], etags.refused(change["if_none_match"], ""), settings):
            detail = (f"Change {index} ({change['action']}): this service requires conditional writes: send "
                      f"`if_match` with the current ETag (or, to create an override only, `if_none_match: \"*\"`).")
            raise PreconditionRequired(detail, errors=[{"pointer": f"/changes/{index}/if_match", "message": detail}])
    # An environment the key may not see is, in its turn, one that does not exist (the repository checks it there).
    environments = None if principal is None else principal.environments
    return await once(request, db, actor, transfer.change_set, application_id, changes, actor=actor,
                      environments=environments, transaction=True, longer=WRITE_SECONDS * len(changes),
                      reply=lambda result: reply_trusted(models.ChangeSetResult, result))
