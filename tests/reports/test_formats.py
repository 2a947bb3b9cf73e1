"""The same figures in every format: Markdown, CSV, HTML and the charts' PNG."""

from __future__ import annotations

import csv
import dataclasses
import io
import struct
from pathlib import Path

import pytest
from matplotlib.testing.compare import compare_images

from bot.cli_report import render
from bot.report_charts import CHAT_DPI, DPI, SIZE_INCHES, charts_png
from bot.report_formats import markdown, nqsw_csv, summary_cells, teams_csv
from handlers.chat.report import MOST_BARS, chart_of
from handlers.reports.figures import Report
from tests.fakes import FakeTransactions
from tests.reports.conftest import with_history
from tests.reports.test_figures import _report

REFERENCE = Path(__file__).parent / "reference" / "stoke-week.png"


@pytest.fixture
async def report() -> Report:
    tx = FakeTransactions()
    await with_history(tx)
    return await _report(tx)


def test_markdown_leads_with_the_share_within_policy(report: Report) -> None:
    text = markdown(report)
    assert text.startswith("# Caseload report: Stoke\n")
    assert "**3 of 4 (75%) NQSWs within policy**; 2 open breaches; 2 opened and 1" in text
    assert "| Total | 4 | 3 of 4 (75%) | 22 | 0% | 2 | 0 | 2 | 1 | 2.5 | 1 | 3 |" in text
    assert "| NQ-11 | Lee Eleven | T-1 | 10.8 of 12 | 15 / 16 | - | 2 child_in_need |" in text
    assert "| 2026-11-16 | 1 | 1 | 2.5 |" in text


def test_csv_has_one_row_per_nqsw_with_numbers_in_columns(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(nqsw_csv(report))))
    assert [r["nqsw"] for r in rows] == ["NQ-11", "NQ-4", "NQ-7", "NQ-B"]
    nq4 = rows[1]
    assert (nq4["children"], nq4["children_cap"], nq4["open_breaches"]) == ("2", "16", "2")
    assert nq4["lead_mix"] == "child_in_need=1 child_protection=1"
    assert rows[3]["reviews_overdue"] == "3"


def test_a_name_a_spreadsheet_would_run_is_kept_as_text(report: Report) -> None:
    row = dataclasses.replace(report.nqsws[0], name='=HYPERLINK("http://x")')
    data = nqsw_csv(dataclasses.replace(report, nqsws=(row,)))
    [written] = csv.DictReader(io.StringIO(data))
    assert written["name"] == '\'=HYPERLINK("http://x")'


def test_html_is_one_escaped_page_with_the_charts_inline(report: Report) -> None:
    row = dataclasses.replace(report.nqsws[0], name="<script>alert(1)</script>")
    page = render(dataclasses.replace(report, nqsws=(row,)), "html").decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "src='data:image/png;base64,iVBORw0KGgo" in page


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_the_charts_are_a_png_of_the_stated_size(report: Report) -> None:
    png = charts_png(chart_of(report))
    assert _png_size(png) == (int(SIZE_INCHES[0] * DPI), int(SIZE_INCHES[1] * DPI))
    assert charts_png(chart_of(report)) == png  # the same report draws the same image
    small = charts_png(chart_of(report), CHAT_DPI)
    assert _png_size(small) == (int(SIZE_INCHES[0] * CHAT_DPI), int(SIZE_INCHES[1] * CHAT_DPI))
    assert len(small) < 20_000  # carried inline, as base64, in a Teams message


def test_the_charts_match_the_reference(report: Report, tmp_path: Path) -> None:
    """Drawn as the reference was, within a tolerance for font rendering differences.
    To redraw after a deliberate change: delete the reference and run this test."""
    drawn = tmp_path / "drawn.png"
    drawn.write_bytes(charts_png(chart_of(report)))
    if not REFERENCE.exists():
        REFERENCE.write_bytes(drawn.read_bytes())
        pytest.fail(f"no reference image: wrote {REFERENCE}; look at it, then run again")
    assert compare_images(str(REFERENCE), str(drawn), tol=5) is None


def test_many_nqsws_show_those_highest_against_their_cap(report: Report) -> None:
    many = tuple(
        dataclasses.replace(report.nqsws[0], ref=f"NQ-{n:03d}", children=n % 17)
        for n in range(MOST_BARS * 3)
    )
    chart = chart_of(dataclasses.replace(report, nqsws=many))
    assert (len(chart.bars), chart.of) == (MOST_BARS, MOST_BARS * 3)
    # The six at 16 children of 16 come first, by reference.
    assert [b.label for b in chart.bars[:3]] == ["NQ-016", "NQ-033", "NQ-050"]
    assert [b.value for b in chart.bars[:3]] == [16.0, 16.0, 16.0]
    assert _png_size(charts_png(chart)) == (1200, 1500)


def test_a_team_limit_shows_beside_its_nqsws(report: Report) -> None:
    t1 = dataclasses.replace(report.teams[0], nqsw_limit=1, limit_clause="4.2")
    assert summary_cells(t1)[1] == "3 (at most 1, over the limit)"
    assert summary_cells(dataclasses.replace(t1, nqsw_limit=3))[1] == "3 (at most 3)"
    rows = list(csv.DictReader(io.StringIO(teams_csv(dataclasses.replace(report, teams=(t1,))))))
    assert [(r["team"], r["nqsw_limit"]) for r in rows] == [("T-1", "1"), ("total", "")]
