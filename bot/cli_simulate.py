"""`caseload-bot policy simulate`: the database half and the three renderings (text, md,
json). Kept apart from `bot.cli_policy` so that the other policy commands start without
the database stack; the proposed policy is read there, before anything here runs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from functools import partial

from bot.cli_db import _wrap
from bot.services import Services
from handlers.events import event_day
from handlers.simulate import NqswOutcome, Simulation, simulate, simulation_json
from policy import CompiledPolicy
from policy.engine import Capacity
from policy.simulate import Judgement, Movement, Standing, Undecided

WORDS = {
    Movement.INTO: "into breach",
    Movement.OUT: "out of breach",
    Movement.CHANGED: "in breach differently",
    Movement.UNDECIDED: "could not be judged",
}
"""What a line says of an NQSW who moves; unchanged ones get no line."""


def run(proposed: CompiledPolicy, args: argparse.Namespace) -> int:
    return _wrap(partial(_simulate, proposed))(args)


async def _simulate(proposed: CompiledPolicy, services: Services, args: argparse.Namespace) -> int:
    on = args.on or event_day(services.now())
    result = await simulate(services.tx, args.org, proposed, on)
    if args.format == "json":
        print(json.dumps(simulation_json(result), ensure_ascii=False))
    elif args.format == "md":
        print("\n".join(markdown(result)))
    else:
        print("\n".join(text(result)))
    return 0


def headline(s: Simulation) -> str:
    p, c = s.proposed.policy, s.current.policy
    counts = [
        f"{_nqsws(s.count(Movement.INTO))} would move into breach",
        f"{s.count(Movement.OUT)} out of breach",
    ]
    if s.count(Movement.CHANGED):
        counts.append(f"{s.count(Movement.CHANGED)} would stay in breach differently")
    counts.append(f"{s.count(Movement.UNCHANGED)} unchanged")
    if s.count(Movement.UNDECIDED):
        counts.append(f"{s.count(Movement.UNDECIDED)} could not be judged")
    return (
        f"Under {p.id} v{p.version}: {', '.join(counts)}"
        f" ({s.org_id} on {s.on.isoformat()}, against {c.id} v{c.version} in force)"
    )


def _nqsws(n: int) -> str:
    return f"{n} NQSW" if n == 1 else f"{n} NQSWs"


def _movers(s: Simulation) -> list[NqswOutcome]:
    """Those who move, into breach first, then out, then differently, then not judged."""
    order = list(WORDS)
    moving = [n for n in s.nqsws if n.comparison.movement in WORDS]
    return sorted(moving, key=lambda n: order.index(n.comparison.movement))


def text(s: Simulation) -> Iterator[str]:
    yield headline(s)
    for n in _movers(s):
        c = n.comparison
        yield (
            f"{n.ref} ({n.name}), {_standing(c.current, c.proposed)}: "
            f"{WORDS[c.movement]}: {'; '.join(_why(n))}"
        )


def markdown(s: Simulation) -> Iterator[str]:
    yield f"**{headline(s)}**"
    yield ""
    yield "| NQSW | Month, caseload | Change | Rule | Clause | Why |"
    yield "| --- | --- | --- | --- | --- | --- |"
    for n in _movers(s):
        c = n.comparison
        first = [f"{n.ref} ({n.name})", _standing(c.current, c.proposed), WORDS[c.movement]]
        for rule, clause, why in _rows(n):
            yield "| " + " | ".join(_cell(x) for x in (*first, rule, clause, why)) + " |"
            first = ["", "", ""]


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _standing(now: Judgement, then: Judgement) -> str:
    """Month of practice, then children (and points) against the cap now → proposed."""
    if not isinstance(now, Standing):
        return "not judged"
    month = f"month {now.month_of_practice:g}"
    if isinstance(then, Standing) and then.month_of_practice != now.month_of_practice:
        month += f" ({then.month_of_practice:g} under the proposal)"
    after = then.caseload if isinstance(then, Standing) else None
    parts = [month, _against(now.caseload, after, "children")]
    if now.caseload.points_cap is not None or (after and after.points_cap is not None):
        parts.append(_against(now.caseload, after, "points"))
    return ", ".join(parts)


def _against(now: Capacity, then: Capacity | None, unit: str) -> str:
    held: float = getattr(now, unit)
    cap_now = _cap(getattr(now, f"{unit}_cap"))
    units = "child" if unit == "children" and held == 1 else unit
    if then is None:
        return f"{held:g} {units} (cap {cap_now})"
    return f"{held:g} {units} (cap {cap_now} → {_cap(getattr(then, f'{unit}_cap'))})"


def _cap(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _rows(n: NqswOutcome) -> Iterator[tuple[str, str, str]]:
    """(rule, clause, why) per breach that opens or closes, or the reason it was not judged."""
    c = n.comparison
    for j in (c.current, c.proposed):
        if isinstance(j, Undecided):
            yield "", "", j.reason
    was = {b.rule: b for b in c.closed}
    for b in c.opened:
        old = was.pop(b.rule, None)
        yield b.rule, b.clause, b.detail + (f" (was: {old.detail})" if old else "")
    for b in was.values():
        yield b.rule, b.clause, f"no longer: {b.detail}"
    if isinstance(c.proposed, Standing) and c.proposed.set_aside:
        yield "", "", f"not in the proposed policy, so set aside: {', '.join(c.proposed.set_aside)}"


def _why(n: NqswOutcome) -> Iterator[str]:
    for rule, clause, why in _rows(n):
        yield f"{rule} [{clause}]: {why}" if rule else why
