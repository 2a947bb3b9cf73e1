"""Apply an import's events (for councils without webhooks) exactly as if the case system
had sent them, in order, through `apply_group`: committed in groups, so that a council's
whole caseload loads in a minute rather than an hour of one transaction per event.

The file format is the adapter's business (`bot.csv_import`): it asks `import_context` for
what validation needs, turns its rows into events and hands them here. Each event's
delivery id is derived from the batch's content and the event, so applying the same batch
again changes nothing, while a new extract is applied in full. That is also what makes an
interrupted import resumable: run again, the events already committed are duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from handlers.case_events import Applied, Pending, apply_group
from handlers.errors import CaseloadError, StorageError, UnknownOrganisation
from handlers.events import CaseEvent, Channels
from handlers.policy_cache import compiled_policy
from handlers.ports import BreachChange, Source, Transactions
from policy import CompiledPolicy, PolicyError


@dataclass(frozen=True, slots=True)
class ImportContext:
    """What validating a batch needs from the organisation."""

    policy: CompiledPolicy
    workers: frozenset[str] = frozenset()
    """Of the worker refs asked about, those the organisation already holds."""
    teams: Mapping[str, Channels] = field(default_factory=dict)
    """Known teams' alert channels, kept as they are (an import may carry none)."""


async def import_context(
    tx: Transactions, org_id: str, workers: Iterable[str], teams: Iterable[str]
) -> ImportContext:
    """Raises `UnknownOrganisation`."""
    async with tx.read() as uow:
        org = await uow.orgs.get(org_id)
        if org is None:
            raise UnknownOrganisation(org=org_id)
        known = {ref for ref in sorted(set(workers)) if await uow.people.get(org_id, ref)}
        channels: dict[str, Channels] = {}
        for ref in sorted(set(teams)):
            team = await uow.teams.get(org_id, ref)
            if team is not None:
                channels[ref] = Channels(slack=team.slack_channel_id, teams=team.teams_channel_id)
    return ImportContext(compiled_policy(org), frozenset(known), channels)


def delivery_id(org_id: str, batch: str, event: CaseEvent) -> str:
    """`import:` and a SHA-256 of the organisation, the batch's content digest and the event."""
    body = json.dumps(
        {
            "org": org_id,
            "files": batch,
            "type": event.type,
            "data": event.data.model_dump(by_alias=True),
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,  # dates; python mode, since JSON mode warns on `Day` fields
    )
    return "import:" + hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int = 0
    """Events that changed something."""
    unchanged: int = 0
    """Events applied that changed nothing (already so, or older than the stored state)."""
    already_imported: int = 0
    """Events of an earlier run of the same batch: acknowledged, nothing changed."""
    breaches_opened: int = 0
    breaches_resolved: int = 0
    failed_at: int | None = None
    """The index of the event that could not be applied; those before it stay applied."""
    failure: PolicyError | CaseloadError | None = None


CHUNK_EVENTS = 500
"""Events handed to `apply_group` at a time: the progress callback hears of each chunk, so
small enough that a bar moves every few seconds even at a hundred events a second."""

type Progress = Callable[[int, int], None]
"""Told (events done, events in all) before the first chunk, after each, and before a busy
database is raised (how far a run that stops there got)."""


async def apply_batch(
    tx: Transactions,
    org_id: str,
    batch: str,
    events: Sequence[CaseEvent],
    at: dt.datetime,
    progress: Progress | None = None,
) -> BatchResult:
    """Apply `events` in order, stopping at the first that cannot be applied. A database
    that stays busy (`StorageError`) is raised: the events before it stay applied, and
    running the same batch again counts them as already imported."""
    applied = unchanged = duplicates = 0
    changes: list[BreachChange] = []
    failed_at: int | None = None
    failure: PolicyError | CaseloadError | None = None
    total = len(events)
    if progress is not None:
        progress(0, total)
    for start in range(0, total, CHUNK_EVENTS):
        chunk = [
            Pending(delivery_id(org_id, batch, event), event, at)
            for event in events[start : start + CHUNK_EVENTS]
        ]
        results = await apply_group(tx, chunk, Source.IMPORT, stop_at_refusal=True)
        for offset, result in enumerate(results):
            if isinstance(result, StorageError):
                if progress is not None:
                    progress(start + offset, total)
                raise result
            if not isinstance(result, Applied):
                failed_at, failure = start + offset, result
                break
            if result.duplicate:
                duplicates += 1
            elif result.changed:
                applied += 1
            else:
                unchanged += 1
            changes += result.breach_changes
        if failure is not None:
            break
        if progress is not None:
            progress(start + len(chunk), total)
    opened = sum(1 for c in changes if c.change == "opened")
    return BatchResult(
        applied=applied,
        unchanged=unchanged,
        already_imported=duplicates,
        breaches_opened=opened,
        breaches_resolved=len(changes) - opened,
        failed_at=failed_at,
        failure=failure,
    )
