"""A policy what-if for the principal social worker: every NQSW's real caseload on a date,
judged under the organisation's policy in force and under a proposed one, so that a
revision (or a neighbour's preset) can be weighed before anyone adopts it.

It only reads, in one read transaction: nothing is stored and nothing is audited, because
nothing was decided about anyone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import with_config
from typing_extensions import TypedDict

from handlers.errors import UnknownOrganisation
from handlers.policy_cache import compiled_policy
from handlers.ports import Transactions
from policy import CaseloadRequest, CompiledPolicy, StaffRole
from policy.simulate import Comparison, Judgement, Movement, Undecided, compare
from policy.views import (
    SHAPE,
    BreachJson,
    CapacityJson,
    PolicyJson,
    breaches_json,
    capacity_json,
)


@dataclass(frozen=True, slots=True)
class NqswOutcome:
    ref: str
    name: str
    comparison: Comparison


@dataclass(frozen=True, slots=True)
class Simulation:
    org_id: str
    on: dt.date
    current: CompiledPolicy
    proposed: CompiledPolicy
    nqsws: tuple[NqswOutcome, ...]
    """Every NQSW on the ASYE, by name."""

    def count(self, movement: Movement) -> int:
        return sum(n.comparison.movement is movement for n in self.nqsws)


async def simulate(
    tx: Transactions, org_id: str, proposed: CompiledPolicy, on: dt.date
) -> Simulation:
    """Raises `UnknownOrganisation`."""
    async with tx.read() as uow:
        org = await uow.orgs.get(org_id)
        if org is None:
            raise UnknownOrganisation(org=org_id)
        current = compiled_policy(org)
        out: list[NqswOutcome] = []
        for person in await uow.people.with_role(org_id, StaffRole.NQSW):
            worker = await uow.people.asye_worker(person.id)
            if worker is None:
                continue
            caseload = await uow.allocations.caseload(person.id, on)
            request = CaseloadRequest(on=on, worker=worker, caseload=caseload)
            out.append(
                NqswOutcome(person.ref, person.display_name, compare(current, proposed, request))
            )
    return Simulation(org_id, on, current, proposed, tuple(out))


# --- the machine-readable shape --------------------------------------------------------


@with_config(SHAPE)
class JudgementJson(TypedDict, total=False):
    month_of_practice: float
    caseload: CapacityJson
    breaches: list[BreachJson]
    set_aside: list[str]
    undecided: str


@with_config(SHAPE)
class NqswJson(TypedDict):
    ref: str
    name: str
    movement: str
    current: JudgementJson
    proposed: JudgementJson
    opened: list[BreachJson]
    closed: list[BreachJson]


@with_config(SHAPE)
class SimulationJson(TypedDict):
    org: str
    on: str
    current: PolicyJson
    proposed: PolicyJson
    counts: dict[str, int]
    nqsws: list[NqswJson]


def _policy(c: CompiledPolicy) -> PolicyJson:
    return {"id": c.policy.id, "version": c.policy.version}


def _judgement(j: Judgement) -> JudgementJson:
    if isinstance(j, Undecided):
        return {"undecided": j.reason}
    return {
        "month_of_practice": j.month_of_practice,
        "caseload": capacity_json(j.caseload),
        "breaches": breaches_json(j.breaches)["breaches"],
        "set_aside": list(j.set_aside),
    }


def simulation_json(s: Simulation) -> SimulationJson:
    return {
        "org": s.org_id,
        "on": s.on.isoformat(),
        "current": _policy(s.current),
        "proposed": _policy(s.proposed),
        "counts": {m.value: s.count(m) for m in Movement},
        "nqsws": [
            {
                "ref": n.ref,
                "name": n.name,
                "movement": n.comparison.movement.value,
                "current": _judgement(n.comparison.current),
                "proposed": _judgement(n.comparison.proposed),
                "opened": breaches_json(n.comparison.opened)["breaches"],
                "closed": breaches_json(n.comparison.closed)["breaches"],
            }
            for n in s.nqsws
        ],
    }
