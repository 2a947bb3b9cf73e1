"""The report's charts as one PNG: caseload against cap per NQSW, breaches by week with
the time they took to resolve, and the mix of work held.

Headless (Agg), Okabe-Ito colours that colour-blind readers tell apart, and hatching on
every bar over its cap so that the picture still reads in greyscale. Fixed size, fonts
and metadata: the same report draws the same image.
"""

from __future__ import annotations

import io

import matplotlib
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from handlers.reports.figures import NqswRow, Report

BLUE, VERMILLION, ORANGE, SKY, BLACK = "#0072B2", "#D55E00", "#E69F00", "#56B4E9", "#000000"
SIZE_INCHES, DPI = (12.0, 15.0), 100
"""1200 x 1500 pixels."""
MOST_BARS = 40
"""Beyond this many NQSWs the first chart shows those highest against their cap."""


def charts_png(report: Report) -> bytes:
    with matplotlib.rc_context({"font.family": "DejaVu Sans"}):
        return _draw(report)


def _draw(report: Report) -> bytes:
    """A `Figure` of its own, not pyplot's: no global state, no GUI backend, and nothing
    kept alive after the call."""
    fig = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    caseload, weeks, mix = fig.subplots(3, 1, height_ratios=(1.3, 1, 0.8))
    fig.suptitle(
        f"Caseload report: {report.scope}, {report.on:%d %B %Y}", fontsize=16, fontweight="bold"
    )
    _caseload(caseload, report)
    _weeks(weeks, report)
    _mix(mix, report)
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _load(row: NqswRow, unit: str) -> tuple[float, float | None]:
    if unit == "points":
        return row.points or 0.0, row.points_cap
    return float(row.children), row.children_cap


def _caseload(ax: Axes, report: Report) -> None:
    rows = list(report.nqsws)
    unit = (
        "points"
        if rows and all(r.children_cap is None for r in rows) and any(r.points_cap for r in rows)
        else "children"
    )

    def pressure(r: NqswRow) -> float:
        load, cap = _load(r, unit)
        return load / cap if cap else 0.0

    shown = rows
    title = f"{unit.capitalize()} held against the cap in force, per NQSW"
    if len(rows) > MOST_BARS:
        shown = sorted(rows, key=lambda r: (-pressure(r), r.ref))[:MOST_BARS]
        title += f" ({MOST_BARS} of {len(rows)}, highest against their cap)"
    xs = range(len(shown))
    loads = [_load(r, unit) for r in shown]
    over = [cap is not None and load > cap for load, cap in loads]
    bars = ax.bar(
        xs,
        [load for load, _ in loads],
        color=[VERMILLION if o else BLUE for o in over],
        edgecolor=BLACK,
        linewidth=0.5,
    )
    for bar, o in zip(bars, over, strict=True):
        if o:
            bar.set_hatch("//")
    handles: list[Artist] = [
        Patch(facecolor=BLUE, edgecolor=BLACK, label="within cap"),
        Patch(facecolor=VERMILLION, edgecolor=BLACK, hatch="//", label="over cap"),
    ]
    capped = [(x, cap) for x, (_, cap) in zip(xs, loads, strict=True) if cap is not None]
    if capped:
        ax.scatter(
            [x for x, _ in capped],
            [cap for _, cap in capped],
            marker="_",
            s=400,
            linewidths=3,
            color=BLACK,
            zorder=3,
        )
        handles.append(Line2D([], [], color=BLACK, linewidth=3, label="cap in force"))
    ax.set_xticks(list(xs), [r.ref for r in shown], rotation=60, ha="right", fontsize=8)
    ax.set_title(title, loc="left")
    ax.set_xlabel("NQSW")
    ax.set_ylabel(unit)
    ax.legend(handles=handles, loc="upper right", fontsize=9)
    if not shown:
        ax.text(0.5, 0.5, "no NQSWs on the ASYE", ha="center", transform=ax.transAxes)


def _weeks(ax: Axes, report: Report) -> None:
    xs = list(range(len(report.weeks)))
    width = 0.4
    ax.bar(
        [x - width / 2 for x in xs],
        [w.opened for w in report.weeks],
        width,
        color=ORANGE,
        edgecolor=BLACK,
        linewidth=0.5,
        label="opened",
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [w.resolved for w in report.weeks],
        width,
        color=SKY,
        edgecolor=BLACK,
        linewidth=0.5,
        hatch="..",
        label="resolved",
    )
    ax.set_xticks(xs, [f"{w.start:%d %b}" for w in report.weeks], fontsize=8)
    ax.set_xlabel("week beginning")
    ax.set_ylabel("breaches")
    ax.set_title(f"Breaches opened and resolved per week, the last {len(xs)} weeks", loc="left")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    days = ax.twinx()
    points = [(x, w.median_days_to_resolve) for x, w in zip(xs, report.weeks, strict=True)]
    known = [(x, d) for x, d in points if d is not None]
    days.plot(
        [x for x, _ in known],
        [d for _, d in known],
        color=BLACK,
        marker="o",
        linestyle="--",
        label="median days to resolve",
    )
    days.set_ylabel("median days to resolve")
    days.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()
    more = days.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=9)


def _mix(ax: Axes, report: Report) -> None:
    names = [m.name for m in report.mix]
    ys = list(range(len(names)))
    lead = [m.lead for m in report.mix]
    ax.barh(ys, lead, color=BLUE, edgecolor=BLACK, linewidth=0.5, label="as lead")
    ax.barh(
        ys,
        [m.co_work for m in report.mix],
        left=lead,
        color=ORANGE,
        edgecolor=BLACK,
        linewidth=0.5,
        hatch="\\\\",
        label="as co-worker",
    )
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_xlabel("cases held by NQSWs")
    ax.set_title("Work held by NQSWs, by type", loc="left")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right", fontsize=9)
