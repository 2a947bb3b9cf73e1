"""Conversation tables: who types what, and the first words and key facts of the answer.
Run on the in-memory fakes (`test_conversations.py`) and end to end through Slack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tests.chat.world import NOBODY, mention


@dataclass(frozen=True)
class Conversation:
    name: str
    who: str
    """A worker ref of the world, or a Slack user id nobody has."""
    kind: Literal["allocate", "caseload", "message"]
    text: str
    starts: str
    facts: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    audited: bool = False
    """The answer was a decision, appended to the audit log; nothing else is ever written."""


CP_CLAUSE = "Phased Increase of Complex Working > Child Protection"
ALLOCATORS = "advanced practitioner, team manager, ASYE lead or admin"

CONVERSATIONS: tuple[Conversation, ...] = (
    # --- /allocate: the three answers -------------------------------------------------
    Conversation(
        "child protection as lead in month 7 is co-work only, with the clause and the way out",
        "TM-1",
        "allocate",
        f"C-CP-1 to {mention('NQ-7')} as lead",
        "Co-work only: Sam Seven for C-CP-1 (child protection) as lead",
        (
            "month 7 of the ASYE",
            CP_CLAUSE,
            "Conditions if co-worked",
            "Statutory child protection visits",
            "Could lead after: a Complex Working Agreement",
            "Record as co-worker",
            "Request exception (needs a team manager)",
            "Who can take it?",
            "5 → 7 children of 16",
        ),
        audited=True,
    ),
    Conversation(
        "no child protection at all before the six-month review: not allowed, no exception offered",
        "TM-1",
        "allocate",
        f"C-CP-1 to {mention('NQ-4')} as co-worker",
        "Not allowed: Nia Four for C-CP-1 (child protection) as co-worker",
        (
            "month 4 of the ASYE",
            "Blocks: No child protection work before the six-month review",
            "Could co-work after: the month 6 review (due Wed 10 Feb 2027)",
        ),
        absent=("Request exception", "Record"),
        audited=True,
    ),
    Conversation(
        "child in need is allowed, with its conditions and the caseload against the cap",
        "AP-1",
        "allocate",
        f"C-CIN-3 to {mention('NQ-7')}",
        "Allowed: Sam Seven for C-CIN-3 (child in need) as lead",
        (
            "Conditions",
            "CiN meetings and visits are accompanied",
            "5 → 7 children of 16",
            "Allows:",
            "Record allocation",
        ),
        absent=("Request exception",),
        audited=True,
    ),
    Conversation(
        "a 17th child is co-work only: co-worked children do not count under this policy",
        "TM-1",
        "allocate",
        f"C-CIN-3 to {mention('NQ-11')} as lead",
        "Co-work only: Lee Eleven for C-CIN-3 (child in need) as lead",
        (
            "as lead: 17 of 16 children; co-worked children do not count under this policy",
            "Record as co-worker",
        ),
        audited=True,
    ),
    Conversation(
        "someone not on the ASYE is allowed: the protected caseload does not apply",
        "TM-1",
        "allocate",
        f"C-CP-1 to {mention('SW-1')} as lead",
        "Allowed: Sol Worker for C-CP-1 (child protection) as lead",
        ("not on the ASYE", "3 → 5 children", "Record allocation"),
    ),
    Conversation(
        "a case the bot does not know is answered from the type and children given",
        "TM-1",
        "allocate",
        f"C-NEW-1 to {mention('NQ-7')} as lead type child_in_need children 2",
        "Allowed: Sam Seven for C-NEW-1 (child in need) as lead",
        ("5 → 7 children of 16",),
        audited=True,
    ),
    Conversation(
        "a known case keeps its own type: what the asker typed is not used, and they are told",
        "TM-1",
        "allocate",
        f"C-CP-1 to {mention('NQ-7')} type child_in_need",
        "Co-work only: Sam Seven for C-CP-1 (child protection) as lead",
        ("the type and children you gave were not used",),
        audited=True,
    ),
    Conversation(
        "a worker may be named by their reference as well as mentioned",
        "TM-1",
        "allocate",
        "C-CIN-3 to NQ-7 as co-worker",
        "Allowed: Sam Seven for C-CIN-3 (child in need) as co-worker",
        audited=True,
    ),
    Conversation(
        "the ASYE lead may check anyone in the organisation",
        "AL-1",
        "allocate",
        f"C-CP-1 to {mention('NQ-B')} as lead",
        "Not allowed: Bea Newman for C-CP-1 (child protection) as lead",
        audited=True,
    ),
    # --- /allocate CASE: who can take it -------------------------------------------------
    Conversation(
        "who can take it: leads first, then co-workers, then who cannot yet, with figures",
        "TM-1",
        "allocate",
        "C-CP-1",
        "C-CP-1 (child protection, 2 children): who in Assessment Team 1 can take it",
        (
            "Sol Worker (experienced, 3 → 5 children)",
            "Lee Eleven (month 11, as lead 17 of 16 children)",
            "Ade Practitioner (experienced, 0 → 2 children)",
            "Sam Seven (month 7, co-working does not count)",
            "Nia Four (month 4: after the month 6 review and a Complex Working Agreement (due Wed 10 Feb 2027))",
        ),
        absent=("Tara Manager", "Bea Newman"),
    ),
    # --- typos, missing parts, strangers: clear answers, nothing written --------------------
    Conversation(
        "a typo in the role is named",
        "TM-1",
        "allocate",
        f"C-CP-1 to {mention('NQ-7')} as led",
        "I could not read that: after `as` say `lead` or `co-worker`, not `led`",
        ("How to use /allocate",),
    ),
    Conversation(
        "a missing person is asked for",
        "TM-1",
        "allocate",
        "C-CP-1 to",
        "I could not read that: say who after `to`, e.g. `/allocate C-CP-1 to @person`",
    ),
    Conversation(
        "a word the command does not have is named",
        "TM-1",
        "allocate",
        f"C-CP-1 for {mention('NQ-7')}",
        "I could not read that: I did not understand `for`",
    ),
    Conversation(
        "children must be a number",
        "TM-1",
        "allocate",
        f"C-NEW-2 to {mention('NQ-7')} type child_in_need children two",
        "I could not read that: `children` takes a whole number from 1 to 50, not `two`",
    ),
    Conversation(
        "an unknown case needs its type",
        "TM-1",
        "allocate",
        f"C-NEW-3 to {mention('NQ-7')}",
        "I could not read that: case C-NEW-3 is not known to the caseload bot yet: add `type WORK_TYPE`",
        ("child_protection",),
    ),
    Conversation(
        "a work type the policy does not have is refused with a suggestion",
        "TM-1",
        "allocate",
        f"C-NEW-4 to {mention('NQ-7')} type child_protectoin",
        "Type: 'child_protectoin' is not a work type of this policy; did you mean 'child_protection'?",
    ),
    Conversation(
        "a closed case is refused",
        "TM-1",
        "allocate",
        f"C-CLOSED to {mention('NQ-7')}",
        "Case 'C-CLOSED' was closed on Mon 23 Nov 2026.",
    ),
    Conversation(
        "5,000 characters are refused before they are read",
        "TM-1",
        "allocate",
        "C-CP-1 " + "x" * 5000,
        "I could not read that: that message is 5007 characters long",
    ),
    Conversation(
        "an unregistered mention is unknown",
        "TM-1",
        "allocate",
        f"C-CP-1 to <@{NOBODY}>",
        f"<@{NOBODY}> is not registered with the caseload bot.",
    ),
    Conversation(
        "someone of another organisation is unknown, whatever their workspace",
        "TM-1",
        "allocate",
        f"C-CP-1 to {mention('DX-1')}",
        "<@UDX1> is not registered with the caseload bot.",
    ),
    Conversation(
        "a worker ref of another organisation is unknown too",
        "TM-1",
        "allocate",
        "C-CP-1 to DX-1",
        "DX-1 is not registered with the caseload bot.",
    ),
    Conversation(
        "an unregistered asker is told whom to ask, and nothing about anyone",
        NOBODY,
        "allocate",
        f"C-CP-1 to {mention('NQ-7')}",
        "You are not registered with the caseload bot: ask your ASYE lead.",
        absent=("Sam", "child protection"),
    ),
    Conversation(
        "an NQSW cannot allocate",
        "NQ-7",
        "allocate",
        f"C-CP-1 to {mention('NQ-4')}",
        f"Checking an allocation is for {ALLOCATORS}; you are registered as NQSW.",
        absent=("Nia",),
    ),
    Conversation(
        "a manager of another team cannot check this team's NQSW",
        "TM-2",
        "allocate",
        f"C-CP-1 to {mention('NQ-7')}",
        "Checking an allocation (Sam Seven) is for their own team's managers",
    ),
    Conversation(
        "help", "TM-1", "allocate", "help", "How to use /allocate", ("/allocate C-1042 to @sam",)
    ),
    Conversation("an empty /allocate is help", "NQ-7", "allocate", "", "How to use /allocate"),
    # --- /caseload and "what can I hold?" ------------------------------------------------------
    Conversation(
        "an NQSW's own year: month, start, cap, next review and what they can hold",
        "NQ-7",
        "caseload",
        "",
        "Month 7 of 12 (ASYE started Mon 4 May 2026)",
        (
            "Caseload: 5 children of 16.",
            "Next review: month 9 review, due Thu 4 Feb 2027.",
            "You can hold",
            "child in need",
            "You can co-work",
            "child protection (lead after a Complex Working Agreement)",
            "child in care (lead after the month 9 review (due Thu 4 Feb 2027))",
            "Not yet",
            "care proceedings",
        ),
    ),
    Conversation(
        '"what can I hold?" in a direct message, with the breach against them',
        "NQ-4",
        "message",
        "What can I hold?",
        "Month 4 of 12 (ASYE started Mon 10 Aug 2026)",
        (
            "Open breaches",
            "C-CP-9",
            "Not yet",
            "child protection (after the month 6 review and a Complex Working Agreement (due Wed 10 Feb 2027))",
        ),
    ),
    Conversation(
        "the command typed in a message works too", "NQ-7", "message", "caseload", "Month 7 of 12"
    ),
    Conversation(
        "their manager sees an NQSW's year",
        "TM-1",
        "caseload",
        mention("NQ-7"),
        "Sam Seven: month 7 of 12",
        ("Can hold", "Can co-work"),
    ),
    Conversation("by reference too", "TM-1", "caseload", "@NQ-7", "Sam Seven: month 7 of 12"),
    Conversation(
        "their assessor may", "AS-1", "caseload", mention("NQ-7"), "Sam Seven: month 7 of 12"
    ),
    Conversation(
        "the principal social worker may",
        "PSW-1",
        "caseload",
        mention("NQ-B"),
        "Bea Newman: month 6 of 12 (ASYE started Mon 4 May 2026; 3 weeks of leave stopped the clock)",
    ),
    Conversation(
        "another NQSW may not",
        "NQ-4",
        "caseload",
        mention("NQ-7"),
        "Seeing someone's caseload (Sam Seven) is for",
        absent=("month 7",),
    ),
    Conversation(
        "another team's manager may not",
        "TM-2",
        "caseload",
        mention("NQ-7"),
        "Seeing someone's caseload (Sam Seven) is for",
    ),
    Conversation(
        "someone not on the ASYE",
        "TM-1",
        "caseload",
        mention("SW-1"),
        "Sol Worker is not on the ASYE: the protected caseload does not apply",
        ("3 children as lead, 0 as co-worker",),
    ),
    Conversation(
        "a manager's team: one line per NQSW with month, children against the cap and breaches",
        "TM-1",
        "caseload",
        "team",
        "Assessment Team 1: 3 NQSWs",
        (
            "Lee Eleven: month 11, 15 children of 16, 0 open breaches",
            "Nia Four: month 4, 2 children of 16, 2 open breaches",
            "Sam Seven: month 7, 5 children of 16, 0 open breaches",
        ),
    ),
    Conversation(
        "an NQSW has no team view",
        "NQ-7",
        "caseload",
        "team",
        "Seeing a team's caseload is for team manager, service manager or head of service; "
        "you are registered as NQSW.",
    ),
    # --- /caseload report ------------------------------------------------------------------
    Conversation(
        "a manager's weekly report: the team's totals, and the NQSWs most in need first",
        "TM-1",
        "caseload",
        "report",
        "Caseload report, Stoke, Assessment Team 1, Mon 23 Nov 2026: 2 of 3 NQSWs within policy",
        (
            "Open breaches: 2 (oldest 0 days)",
            "This week: 2 breaches opened, 0 resolved",
            "Nia Four (NQ-4): month 4; 2 children of 16; breach of " + CP_CLAUSE,
            "Lee Eleven (NQ-11): month 11; 15 children of 16; supervision overdue",
            "caseload-bot report --org stoke --team T-1",
        ),
        absent=("Bea Newman",),
    ),
    Conversation(
        "the principal social worker's covers the whole organisation",
        "PSW-1",
        "caseload",
        "report",
        "Caseload report, Stoke, Mon 23 Nov 2026: 3 of 4 NQSWs within policy",
        ("Bea Newman (NQ-B): month 6; 0 children of 16; review overdue: month 3",),
    ),
    Conversation(
        "the ASYE lead may ask for any one team",
        "AL-1",
        "caseload",
        "report team T-2",
        "Caseload report, Stoke, Children in Care Team, Mon 23 Nov 2026: 1 of 1 NQSWs within",
        absent=("Nia Four",),
    ),
    Conversation(
        "a manager may not see another team's",
        "TM-2",
        "caseload",
        "report team T-1",
        "Seeing a caseload report (Assessment Team 1) is for the ASYE lead, the principal social"
        " worker or the head of service.",
        absent=("Nia Four",),
    ),
    Conversation(
        "nor the whole organisation's",
        "TM-2",
        "caseload",
        "report org",
        "Seeing a caseload report (Stoke) is for the ASYE lead",
    ),
    Conversation(
        "an NQSW has no report",
        "NQ-7",
        "caseload",
        "report",
        "Seeing a caseload report is for team manager, ASYE lead, principal social worker,"
        " service manager or head of service; you are registered as NQSW.",
    ),
    Conversation(
        "a report of a team without its ref",
        "PSW-1",
        "caseload",
        "report team",
        "I could not read that: `team` needs a value after it",
    ),
    # --- /caseload report equality: the principal social worker's alone ----------------------
    Conversation(
        "the principal social worker sees the measures by cohort, every small group suppressed",
        "PSW-1",
        "caseload",
        "report equality",
        "Equality view, Stoke, Mon 23 Nov 2026: the report's measures by cohort, for the"
        " principal social worker only",
        (
            "By ethnicity",
            "White British: fewer than 5 NQSWs",
            "Black African: fewer than 5 NQSWs",
            "not recorded: fewer than 5 NQSWs",
            "By route",
            "Step Up: fewer than 5 NQSWs",
            "Complex work: Child protection, Child in care, Care proceedings, Private law",
            "A group of fewer than 5 NQSWs shows no figures",
        ),
        absent=("within policy;", "Nia Four", "Sam Seven", "Lee Eleven", "Bea Newman"),
    ),
    *(
        Conversation(
            f"the equality view is refused to {who}",
            ref,
            "caseload",
            "report equality",
            "Seeing the equality view is for principal social worker; you are registered as"
            f" {role}.",
            absent=("White British", "Black African", "Step Up"),
        )
        for who, ref, role in (
            ("a team manager", "TM-1", "team manager"),
            ("the ASYE lead", "AL-1", "ASYE lead"),
            ("an NQSW", "NQ-4", "NQSW"),
        )
    ),
    Conversation(
        "an organisation that records no cohorts says so",
        "DP-1",
        "caseload",
        "report equality",
        "This organisation (Dorset) does not record cohort attributes, so there is no equality"
        " view",
        ("caseload-bot org equality",),
    ),
    Conversation(
        "the whole organisation's report never carries the equality view",
        "PSW-1",
        "caseload",
        "report org",
        "Caseload report, Stoke, Mon 23 Nov 2026",
        absent=("Equality", "By ethnicity", "White British", "Black African", "Step Up"),
    ),
    Conversation("caseload help", "NQ-7", "caseload", "help", "How to use /caseload"),
    Conversation(
        "a stray word",
        "NQ-7",
        "caseload",
        "team please",
        "I could not read that: I did not understand `please`",
    ),
    Conversation(
        "hello is met with what the bot can do", "NQ-7", "message", "hello", "What I can do"
    ),
    Conversation(
        "an unregistered person asking what they can hold",
        NOBODY,
        "message",
        "what can I hold",
        "You are not registered with the caseload bot: ask your ASYE lead.",
    ),
)
