"""A caseload report as Markdown, CSV or one self-contained HTML page.

Every format shows the same figures from `handlers.reports.figures.Report`; only layout
differs. Staff names and refs, case references and counts: never anything of a child.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import replace

from handlers.reports.equality import SMALL_GROUP, EqualityView, Group
from handlers.reports.figures import NqswRow, Report, Summary

SUMMARY_HEAD = (
    "team",
    "NQSWs",
    "within policy",
    "children",
    "co-work ratio",
    "open breaches",
    "oldest open (days)",
    "opened in period",
    "resolved in period",
    "median days to resolve",
    "reviews overdue",
    "supervision overdue",
)
NQSW_HEAD = (
    "NQSW",
    "name",
    "team",
    "month",
    "children / cap",
    "points / cap",
    "lead",
    "co-work",
    "open breaches",
    "reviews overdue",
    "supervision",
)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:g}" if x == int(x) else f"{x:.1f}"


def _share(part: int, whole: int) -> str:
    return "-" if not whole else f"{part} of {whole} ({round(100 * part / whole)}%)"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{round(100 * x)}%"


def _against(value: float | None, cap: float | None) -> str:
    if value is None:
        return "-"
    return _num(value) if cap is None else f"{_num(value)} / {_num(cap)}"


def _mix(mix: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{n} {wt}" for wt, n in mix) or "-"


def _nqsws(s: Summary) -> str:
    if s.nqsw_limit is None:
        return str(s.nqsws)
    over = ", over the limit" if s.over_limit else ""
    return f"{s.nqsws} (at most {s.nqsw_limit}{over})"


def summary_cells(s: Summary) -> tuple[str, ...]:
    return (
        s.name,
        _nqsws(s),
        _share(s.within_policy, s.nqsws),
        str(s.children),
        _ratio(s.co_work_ratio),
        str(s.open_breaches),
        _num(s.oldest_breach_days),
        str(s.opened),
        str(s.resolved),
        _num(s.median_days_to_resolve),
        str(s.reviews_overdue),
        str(s.supervision_overdue),
    )


def nqsw_cells(r: NqswRow) -> tuple[str, ...]:
    breaches = "; ".join(
        f"{b.rule} ({b.clause}) {', '.join(b.cases)}: {b.age_days} days"
        + (", acknowledged" if b.acknowledged else "")
        for b in r.open_breaches
    )
    supervision: str = r.supervision
    if r.supervision_due is not None:
        supervision += f" (due {r.supervision_due.isoformat()})"
    return (
        r.ref,
        r.name,
        r.team,
        f"{_num(r.month_of_practice)} of {r.programme_months}",
        r.problem or _against(r.children, r.children_cap),
        _against(r.points, r.points_cap),
        _mix(r.lead_mix),
        _mix(r.co_work_mix),
        breaches or "none",
        ", ".join(f"month {m}" for m in r.reviews_overdue) or "none",
        supervision,
    )


EQUALITY_HEAD = (
    "group",
    "NQSWs",
    "within policy",
    "median caseload (% of cap)",
    "lead complex work",
    "co-work ratio",
    "breaches opened in period",
)
EQUALITY_TITLE = "Equality view (for the principal social worker only)"


def equality_cells(g: Group) -> tuple[str, ...]:
    """A suppressed group shows only why: never a figure that describes a few people."""
    m = g.measures
    if m is None:
        shown = f"fewer than {SMALL_GROUP}" if g.suppressed == "fewer than 5" else "withheld"
        return (g.value, shown, *("-" * (len(EQUALITY_HEAD) - 2)))
    return (
        g.value,
        str(m.nqsws),
        _ratio(m.within_policy),
        "-" if m.median_of_cap is None else f"{_num(m.median_of_cap)}%",
        _ratio(m.complex_lead),
        _ratio(m.co_work_ratio),
        str(m.breaches_opened),
    )


def equality_notes(view: EqualityView) -> tuple[str, ...]:
    return (
        "Complex work: "
        + (", ".join(view.complex_work) or "none")
        + " (the work the policy does not let an NQSW lead until a milestone).",
        f"A group of fewer than {SMALL_GROUP} NQSWs shows no figures; where only one group is"
        " that small, the next smallest is withheld too, so that its figures cannot be worked"
        " out from the totals. Cohort attributes are special-category data: do not forward.",
    )


def _headline(report: Report) -> str:
    return (
        f"{report.policy} · caseloads on {report.on.isoformat()} · breaches from"
        f" {report.period.start.isoformat()} to {report.period.end.isoformat()}"
    )


# --- Markdown ------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def markdown(report: Report) -> str:
    total = report.total
    lines = [
        f"# Caseload report: {report.scope}",
        "",
        _headline(report),
        "",
        f"**{_share(total.within_policy, total.nqsws)} NQSWs within policy**;"
        f" {total.open_breaches} open breaches; {total.opened} opened and {total.resolved}"
        f" resolved in the period (median {_num(total.median_days_to_resolve)} days to"
        " resolve).",
        "",
        "## Teams",
        "",
        *_md_table(
            SUMMARY_HEAD,
            [summary_cells(s) for s in report.teams] + [summary_cells(_as_total(total))],
        ),
        "",
        "## NQSWs",
        "",
        *_md_table(NQSW_HEAD, [nqsw_cells(r) for r in report.nqsws]),
        "",
        f"## Breaches by week (the last {len(report.weeks)} weeks)",
        "",
        *_md_table(
            ("week from", "opened", "resolved", "median days to resolve"),
            [
                (
                    w.start.isoformat(),
                    str(w.opened),
                    str(w.resolved),
                    _num(w.median_days_to_resolve),
                )
                for w in report.weeks
            ],
        ),
        "",
        "## Work held by NQSWs",
        "",
        *_md_table(
            ("work type", "as lead", "as co-worker"),
            [(m.name, str(m.lead), str(m.co_work)) for m in report.mix],
        ),
    ]
    if report.equality is not None:
        lines += ["", f"## {EQUALITY_TITLE}", ""]
        for split in report.equality.attributes:
            lines += [f"### By {split.attribute}", ""]
            lines += [*_md_table(EQUALITY_HEAD, [equality_cells(g) for g in split.groups]), ""]
        lines += list(equality_notes(report.equality))
    return "\n".join(lines) + "\n"


def _as_total(s: Summary) -> Summary:
    return replace(s, name="Total")


# --- CSV -----------------------------------------------------------------------------------


def nqsw_csv(report: Report) -> str:
    """One row per NQSW, numbers in their own columns for a spreadsheet."""
    head = (
        "org",
        "team",
        "nqsw",
        "name",
        "on",
        "month_of_practice",
        "programme_months",
        "children",
        "children_cap",
        "points",
        "points_cap",
        "lead_cases",
        "co_work_cases",
        "lead_mix",
        "co_work_mix",
        "open_breaches",
        "oldest_breach_days",
        "reviews_overdue",
        "supervision",
        "supervision_due",
        "problem",
    )
    return _csv(
        head,
        (
            (
                report.org_id,
                r.team,
                r.ref,
                _csv_safe(r.name),
                report.on.isoformat(),
                r.month_of_practice,
                r.programme_months,
                r.children,
                _opt(r.children_cap),
                _opt(r.points),
                _opt(r.points_cap),
                r.cases - r.co_worked,
                r.co_worked,
                " ".join(f"{wt}={n}" for wt, n in r.lead_mix),
                " ".join(f"{wt}={n}" for wt, n in r.co_work_mix),
                len(r.open_breaches),
                max((b.age_days for b in r.open_breaches), default=""),
                " ".join(str(m) for m in r.reviews_overdue),
                r.supervision,
                "" if r.supervision_due is None else r.supervision_due.isoformat(),
                r.problem or "",
            )
            for r in report.nqsws
        ),
    )


def teams_csv(report: Report) -> str:
    """One row per team, then the organisation (or the team asked for) as `total`."""
    head = (
        "team",
        "name",
        "nqsws",
        "within_policy",
        "children",
        "cases",
        "co_worked",
        "open_breaches",
        "oldest_breach_days",
        "reviews_overdue",
        "supervision_overdue",
        "opened",
        "resolved",
        "median_days_to_resolve",
        "nqsw_limit",
    )
    return _csv(
        head,
        (
            (
                ref,
                _csv_safe(s.name),
                s.nqsws,
                s.within_policy,
                s.children,
                s.cases,
                s.co_worked,
                s.open_breaches,
                _opt(s.oldest_breach_days),
                s.reviews_overdue,
                s.supervision_overdue,
                s.opened,
                s.resolved,
                _opt(s.median_days_to_resolve),
                _opt(s.nqsw_limit),
            )
            for ref, s in [*((t.ref, t) for t in report.teams), ("total", report.total)]
        ),
    )


def weeks_csv(report: Report) -> str:
    return _csv(
        ("week_from", "opened", "resolved", "median_days_to_resolve"),
        (
            (w.start.isoformat(), w.opened, w.resolved, _opt(w.median_days_to_resolve))
            for w in report.weeks
        ),
    )


def equality_csv(report: Report) -> str:
    """The equality view, one row per attribute and group; a suppressed group's count is
    `fewer than 5` (or `withheld`) and its figures are empty."""
    assert report.equality is not None
    head = (
        "org",
        "on",
        "attribute",
        "group",
        "nqsws",
        "within_policy_share",
        "median_percent_of_cap",
        "complex_lead_share",
        "co_work_ratio",
        "breaches_opened",
    )
    rows: list[tuple[object, ...]] = []
    for split in report.equality.attributes:
        for g in split.groups:
            m = g.measures
            group = (report.org_id, report.on.isoformat(), split.attribute, _csv_safe(g.value))
            if m is None:
                rows.append((*group, g.suppressed, "", "", "", "", ""))
                continue
            rows.append(
                (
                    *group,
                    m.nqsws,
                    round(m.within_policy, 3),
                    _opt(m.median_of_cap),
                    round(m.complex_lead, 3),
                    "" if m.co_work_ratio is None else round(m.co_work_ratio, 3),
                    m.breaches_opened,
                )
            )
    return _csv(head, rows)


def _csv(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
    return out.getvalue()


def _opt(x: float | None) -> str:
    return "" if x is None else _num(x)


def _csv_safe(text: str) -> str:
    """A name that a spreadsheet would run as a formula is quoted as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- HTML ----------------------------------------------------------------------------------


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th scope='col'>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:80rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}img{max-width:100%}
"""


def html_page(report: Report, charts_png_base64: str) -> str:
    """One file to mail or print: the tables and the charts inline, nothing fetched."""
    total = report.total
    title = f"Caseload report: {report.scope}"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(_headline(report))}</p>",
        f"<p><strong>{html.escape(_share(total.within_policy, total.nqsws))} NQSWs within"
        f" policy</strong>; {total.open_breaches} open breaches.</p>",
        "<h2>Teams</h2>",
        _html_table(
            SUMMARY_HEAD,
            [summary_cells(s) for s in report.teams] + [summary_cells(_as_total(total))],
        ),
        "<h2>Charts</h2>",
        f"<img alt='{html.escape(title)}: caseload against cap, breaches by week, work-type"
        f" mix' src='data:image/png;base64,{charts_png_base64}'>",
        "<h2>NQSWs</h2>",
        _html_table(NQSW_HEAD, [nqsw_cells(r) for r in report.nqsws]),
    ]
    if report.equality is not None:
        parts.append(f"<h2>{html.escape(EQUALITY_TITLE)}</h2>")
        for split in report.equality.attributes:
            parts.append(f"<h3>By {html.escape(split.attribute)}</h3>")
            parts.append(_html_table(EQUALITY_HEAD, [equality_cells(g) for g in split.groups]))
        parts += [f"<p>{html.escape(note)}</p>" for note in equality_notes(report.equality)]
    parts.append("</body></html>")
    return "".join(parts) + "\n"
