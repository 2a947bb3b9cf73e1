"""The decision API, for the case system's own allocation screen and for checks.

Bearer tokens belong to one organisation. Anything of another organisation is answered
404, exactly as if it did not exist, so a token cannot learn which other councils or
workers there are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    with_config,
)
from typing_extensions import TypedDict

from bot.http_body import read_body
from bot.http_errors import Unauthenticated
from bot.services import SERVICES, Services
from handlers.admin import authenticate
from handlers.decisions import Answer, decide_proposal, worker_breaches, worker_entitlements
from handlers.errors import UnknownOrganisation
from handlers.events import Ref, event_day
from policy import Case, Decision, InputError, Override
from policy.errors import input_error
from policy.requests import Day
from policy.views import (
    SHAPE,
    BreachesJson,
    DecisionJson,
    EntitlementsJson,
    PolicyJson,
    RoleText,
    breaches_json,
    decision_json,
    entitlements_json,
)

routes = web.RouteTableDef()


class ApiQuery(BaseModel):
    """The query string of every API route (other keys are ignored)."""

    model_config = ConfigDict(frozen=True)

    org: Ref | None = Field(
        default=None,
        description="The token's own organisation, if given; any other is 404, as if it did not exist",
    )


class EntitlementsQuery(ApiQuery):
    on: Day | None = Field(
        default=None, description="The day to answer for; today in Europe/London if not given"
    )


class WorkerPath(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: Ref = Field(description="The worker's reference in the case system")


class DecisionBody(BaseModel):
    """`POST /api/v1/decisions`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    org: Ref
    worker_ref: Ref
    proposal: Case
    on: Day | None = None
    override: Override | None = None


# What the routes answer with 200, as TypedDicts: mypy holds each route to its shape and
# the OpenAPI document derives its response schemas from them.


@with_config(SHAPE)
class NotOnAsye(TypedDict):
    """A worker without an ASYE record: the policy does not apply to them."""

    worker_ref: str
    asye: Literal[False]
    message: str
    policy: PolicyJson


@with_config(SHAPE)
class DecisionNotOnAsye(NotOnAsye):
    outcome: Literal["allow"]
    requested_role: RoleText


@with_config(SHAPE)
class EntitlementsAnswer(EntitlementsJson):
    worker_ref: str
    on: Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]


@with_config(SHAPE)
class BreachesAnswer(BreachesJson):
    worker_ref: str


DECISION_ANSWER: TypeAdapter[DecisionJson | DecisionNotOnAsye] = TypeAdapter(
    DecisionJson | DecisionNotOnAsye
)
ENTITLEMENTS_ANSWER: TypeAdapter[EntitlementsAnswer | NotOnAsye] = TypeAdapter(
    EntitlementsAnswer | NotOnAsye
)
BREACHES_ANSWER: TypeAdapter[BreachesAnswer] = TypeAdapter(BreachesAnswer)


@routes.post("/api/v1/decisions")
async def decisions(request: web.Request) -> web.Response:
    caller, _ = await _authorised(request, ApiQuery)
    try:
        raw = json.loads(await read_body(request))
    except (ValueError, RecursionError):
        # JSONDecodeError and UnicodeDecodeError are ValueErrors, and so is a number past
        # Python's digit limit; nesting deeper than the stack raises RecursionError.
        raise InputError("body", "not JSON") from None
    body = _validated(DecisionBody, raw)
    if body.org != caller.org_id:
        raise UnknownOrganisation(org=body.org)
    answer = await decide_proposal(
        caller.services.tx,
        caller.org_id,
        body.worker_ref,
        body.proposal,
        body.on,
        body.override,
        caller.actor,
        caller.services.now(),
    )
    if answer.result is not None:  # audited as a decision (not when off the ASYE)
        caller.services.metrics.decided("api", answer.result.outcome)
    return web.json_response(_decision(answer, body.proposal))


@routes.get("/api/v1/workers/{ref}/entitlements")
async def entitlements(request: web.Request) -> web.Response:
    caller, query = await _authorised(request, EntitlementsQuery)
    ref = _validated(WorkerPath, request.match_info).ref
    on = query.on or event_day(caller.services.now())
    answer = await worker_entitlements(caller.services.tx, caller.org_id, ref, on)
    if answer.result is None:
        return web.json_response(_not_on_asye(answer))
    entitled: EntitlementsAnswer = {
        "worker_ref": answer.person.ref,
        "on": on.isoformat(),
        **entitlements_json(answer.result),
    }
    return web.json_response(entitled)


@routes.get("/api/v1/workers/{ref}/breaches")
async def breaches(request: web.Request) -> web.Response:
    caller, _ = await _authorised(request, ApiQuery)
    ref = _validated(WorkerPath, request.match_info).ref
    answer = await worker_breaches(caller.services.tx, caller.org_id, ref)
    found: BreachesAnswer = {"worker_ref": answer.person.ref, **breaches_json(answer.result or ())}
    return web.json_response(found)


@dataclass(frozen=True, slots=True)
class _Caller:
    services: Services
    org_id: str
    actor: str
    """The token, as the audit log names it: `api:token:<id>`."""


async def _authorised[Query: ApiQuery](
    request: web.Request, query: type[Query]
) -> tuple[_Caller, Query]:
    """The caller's token (401 first, whatever else is wrong), then the query string."""
    services = request.app[SERVICES]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    found = None
    # Tokens are printable ASCII. A raw byte such as \xff arrives as a lone surrogate,
    # which is not a token and cannot even be hashed: refused like any other bad token.
    if scheme.lower() == "bearer" and token and token.isascii() and token.isprintable():
        found = await authenticate(services.tx, token, services.now())
    if found is None:
        raise Unauthenticated
    asked = _validated(query, _single_values(request, query))
    if asked.org is not None and asked.org != found.org_id:
        raise UnknownOrganisation(org=asked.org)
    return _Caller(services, found.org_id, f"api:token:{found.id}"), asked


def _single_values(request: web.Request, query: type[BaseModel]) -> dict[str, str]:
    """The query's own keys, each given once: `?on=A&on=B` asks two questions."""
    values = {}
    for name in query.model_fields:
        given = request.query.getall(name, [])
        if len(given) > 1:
            raise InputError(name, "is given more than once")
        if given:
            values[name] = given[0]
    return values


def _validated[Model: BaseModel](model: type[Model], data: Any) -> Model:
    """The first problem, as a 400 naming its field; a key that is not a field comes first,
    since it may be a name or a note that must not be kept."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, root="body") from None


def _decision(answer: Answer[Decision], proposal: Case) -> DecisionJson | DecisionNotOnAsye:
    if answer.result is not None:
        return decision_json(answer.result)
    return {
        "outcome": "allow",
        "requested_role": proposal.role.value,
        **_not_on_asye(answer),
    }


def _not_on_asye(answer: Answer[Any]) -> NotOnAsye:
    return {
        "worker_ref": answer.person.ref,
        "asye": False,
        "message": "this worker has no ASYE record: the protected-caseload policy does not apply",
        "policy": {"id": answer.org.policy_id, "version": answer.org.policy_version},
    }
