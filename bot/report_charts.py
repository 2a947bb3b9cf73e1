"""A report's charts (`handlers.chat.replies.Chart`) as one PNG: caseload against cap per
NQSW, breaches by week with the time they took to resolve, and the mix of work held.

Headless (Agg), Okabe-Ito colours that colour-blind readers tell apart, and hatching on
every bar over its cap so that the picture still reads in greyscale. Fixed size, fonts
and metadata: the same report draws the same image.
"""

from __future__ import annotations

import asyncio
import io

import matplotlib
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from PIL import Image

from handlers.chat.replies import Chart

BLUE, VERMILLION, ORANGE, SKY, BLACK = "#0072B2", "#D55E00", "#E69F00", "#56B4E9", "#000000"
SIZE_INCHES, DPI = (12.0, 15.0), 100
"""1200 x 1500 pixels."""
CHAT_DPI = 64
"""768 x 960 pixels: an image a chat message carries inline (Teams) stays small."""


def charts_png(chart: Chart, dpi: int = DPI) -> bytes:
    with matplotlib.rc_context({"font.family": "DejaVu Sans"}):
        return _draw(chart, dpi)


async def drawn(chart: Chart) -> bytes:
    """For a chat answer: the chat size, drawn off the event loop (a second of CPU)."""
    return await asyncio.to_thread(charts_png, chart, CHAT_DPI)


def _draw(chart: Chart, dpi: int) -> bytes:
    """A `Figure` of its own, not pyplot's: no global state, no GUI backend, and nothing
    kept alive after the call."""
    fig = Figure(figsize=SIZE_INCHES, dpi=dpi, layout="constrained")
    caseload, weeks, mix = fig.subplots(3, 1, height_ratios=(1.3, 1, 0.8))
    fig.suptitle(chart.title, fontsize=16, fontweight="bold")
    _caseload(caseload, chart)
    _weeks(weeks, chart)
    _mix(mix, chart)
    raw = io.BytesIO()
    fig.savefig(raw, format="png", metadata={"Software": None})
    # Flat colours and text: a palette of 64 keeps them sharp at a third of the bytes,
    # which matters to an image carried inline in a chat message.
    out = io.BytesIO()
    Image.open(raw).convert("RGB").quantize(colors=64).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _caseload(ax: Axes, chart: Chart) -> None:
    bars = chart.bars
    title = f"{chart.unit.capitalize()} held against the cap in force, per NQSW"
    if len(bars) < chart.of:
        title += f" ({len(bars)} of {chart.of}, highest against their cap)"
    xs = range(len(bars))
    over = [b.cap is not None and b.value > b.cap for b in bars]
    drawn_bars = ax.bar(
        xs,
        [b.value for b in bars],
        color=[VERMILLION if o else BLUE for o in over],
        edgecolor=BLACK,
        linewidth=0.5,
    )
    for bar, o in zip(drawn_bars, over, strict=True):
        if o:
            bar.set_hatch("//")
    handles: list[Artist] = [
        Patch(facecolor=BLUE, edgecolor=BLACK, label="within cap"),
        Patch(facecolor=VERMILLION, edgecolor=BLACK, hatch="//", label="over cap"),
    ]
    capped = [(x, b.cap) for x, b in zip(xs, bars, strict=True) if b.cap is not None]
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
    ax.set_xticks(list(xs), [b.label for b in bars], rotation=60, ha="right", fontsize=8)
    ax.set_title(title, loc="left")
    ax.set_xlabel("NQSW")
    ax.set_ylabel(chart.unit)
    ax.legend(handles=handles, loc="upper right", fontsize=9)
    if not bars:
        ax.text(0.5, 0.5, "no NQSWs on the ASYE", ha="center", transform=ax.transAxes)


def _weeks(ax: Axes, chart: Chart) -> None:
    xs = list(range(len(chart.weeks)))
    width = 0.4
    ax.bar(
        [x - width / 2 for x in xs],
        [w.opened for w in chart.weeks],
        width,
        color=ORANGE,
        edgecolor=BLACK,
        linewidth=0.5,
        label="opened",
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [w.resolved for w in chart.weeks],
        width,
        color=SKY,
        edgecolor=BLACK,
        linewidth=0.5,
        hatch="..",
        label="resolved",
    )
    ax.set_xticks(xs, [f"{w.start:%d %b}" for w in chart.weeks], fontsize=8)
    ax.set_xlabel("week beginning")
    ax.set_ylabel("breaches")
    ax.set_title(f"Breaches opened and resolved per week, the last {len(xs)} weeks", loc="left")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    days = ax.twinx()
    points = [(x, w.median_days) for x, w in zip(xs, chart.weeks, strict=True)]
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


def _mix(ax: Axes, chart: Chart) -> None:
    names = [m.name for m in chart.mix]
    ys = list(range(len(names)))
    lead = [m.lead for m in chart.mix]
    ax.barh(ys, lead, color=BLUE, edgecolor=BLACK, linewidth=0.5, label="as lead")
    ax.barh(
        ys,
        [m.co_work for m in chart.mix],
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
