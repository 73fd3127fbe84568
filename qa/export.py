"""The monthly report as CSV and as PDF (fpdf2, with simple bar and line charts drawn as shapes),
and the all-staff meeting's results as CSV. All hold aggregates only: agents' figures, never a
customer, a call or a ticket."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

__all__ = ["AGENT_FIGURES", "FONT_CANDIDATES", "MEETING_COLUMNS", "agent_label", "meeting_csv", "monthly_csv",
           "monthly_pdf"]

# Unicode fonts tried in order; a CJK one (fonts-noto-cjk, fonts-wqy-microhei, fonts-droid-fallback)
# is needed for Chinese names, DejaVu covers Latin. Without any, text is reduced to Latin-1.
FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2: Simplified Chinese
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would run as a formula (names are typed by people)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


# The per-agent figures both formats show, in order: (header, key of the agent's row).
AGENT_FIGURES: tuple[tuple[str, str], ...] = (
    ("Evaluations", "evaluations"), ("Average", "average"), ("Lowest", "min"), ("Highest", "max"),
    ("Auto-fails", "auto_fails"),
)


def agent_label(agent: dict[str, Any]) -> str:
    """An agent's name, or their number when they have left the scope (no name is kept)."""
    return agent["agent_name"] or str(agent["agent_id"])


def _columns(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The trend's months and the question codes (sorted), which both formats spread as columns."""
    return [t["month"] for t in report["trend"]], [q["code"] for q in sorted(report["questions"],
                                                                             key=lambda q: q["code"])]


def monthly_csv(report: dict[str, Any]) -> str:
    """One row per agent, then the scope's total; a BOM so spreadsheet programs read UTF-8."""
    months, codes = _columns(report)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["month", "scope", "agent_id", "agent_name", "team_id", *[key for _h, key in AGENT_FIGURES],
                     "with_bonus", *[f"trend_{m}" for m in months], *[f"question_{c}" for c in codes]])
    for agent in report["agents"]:
        trend = {t["month"]: t["average"] for t in agent["trend"]}
        writer.writerow([_cell(v) for v in [
            report["month"], report["scope"], agent["agent_id"], agent["agent_name"], agent["team_id"],
            *[agent[key] for _h, key in AGENT_FIGURES], agent["with_bonus"], *[trend.get(m) for m in months],
            *[agent["by_question"].get(c) for c in codes]]])
    overall = {t["month"]: t["average"] for t in report["trend"]}
    by_question = {q["code"]: q["average"] for q in report["questions"]}
    total = {"evaluations": report["evaluations"], "average": report["average"], "auto_fails": report["auto_fails"]}
    writer.writerow([_cell(v) for v in [
        report["month"], report["scope"], "", "TOTAL", "", *[total.get(key, "") for _h, key in AGENT_FIGURES], "",
        *[overall.get(m) for m in months], *[by_question.get(c) for c in codes]]])
    return out.getvalue()


class _Pdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.family, self.unicode = "helvetica", False
        if Path(LATIN_FONT).exists():
            self.add_font("latin", "", LATIN_FONT)
            self.family, self.unicode = "latin", True
        for path, index in FONT_CANDIDATES:
            if Path(path).exists():
                self.add_font("cjk", "", path, collection_font_number=index)
                if self.unicode:
                    self.set_fallback_fonts(["cjk"])
                else:
                    self.family, self.unicode = "cjk", True
                break
        self.set_auto_page_break(auto=True, margin=15)

    def use(self, size: float) -> None:
        self.set_font(self.family, "", size)

    def clean(self, value: Any) -> str:
        text = "" if value is None else str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def write_line(self, value: Any, *, size: float = 10, height: float = 6) -> None:
        self.use(size)
        self.cell(0, height, self.clean(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)



def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "-" if value is None else str(value)


def _axes(pdf: _Pdf, title: str, height: float) -> tuple[float, float, float]:
    """The chart's title and its 0-50-100 axis, on a new page when it would not fit; returns the
    left edge, the bottom line and the width of the plotting area."""
    if pdf.get_y() + height + 20 > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.write_line(title, size=11, height=7)
    x0, width = pdf.l_margin + 8, pdf.w - pdf.l_margin - pdf.r_margin - 10
    bottom = pdf.get_y() + 2 + height
    pdf.set_draw_color(120, 120, 120)
    pdf.line(x0, bottom - height, x0, bottom)
    pdf.line(x0, bottom, x0 + width, bottom)
    pdf.use(6)
    for tick in (0, 50, 100):
        pdf.text(pdf.l_margin, bottom - height * tick / 100 + 1, str(tick))
    return x0, bottom, width


def _level(bottom: float, height: float, value: float) -> float:
    """The y of a 0-100 value (clamped) on an axis `height` tall."""
    return bottom - height * max(0.0, min(100.0, value)) / 100


def _bar_chart(pdf: _Pdf, title: str, labels: Sequence[str], values: Sequence[float | None], *,
               threshold: float | None = None, height: float = 55) -> None:
    """Vertical bars on a 0-100 axis, with the threshold as a dashed line."""
    x0, bottom, width = _axes(pdf, title, height)
    slot = width / max(1, len(values))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is not None:
            below = threshold is not None and value < threshold
            pdf.set_fill_color(*((214, 96, 77) if below else (67, 147, 195)))
            top = _level(bottom, height, value)
            pdf.rect(x0 + i * slot + slot * 0.15, top, slot * 0.7, bottom - top, style="F")
        pdf.text(x0 + i * slot + slot * 0.1, bottom + 3, pdf.clean(label)[:10])
    if threshold is not None:
        pdf.set_draw_color(214, 96, 77)
        pdf.set_dash_pattern(dash=1, gap=1)
        pdf.line(x0, _level(bottom, height, threshold), x0 + width, _level(bottom, height, threshold))
        pdf.set_dash_pattern()
    pdf.set_y(bottom + 7)


def _line_chart(pdf: _Pdf, title: str, labels: Sequence[str], values: Sequence[float | None], *,
                height: float = 45) -> None:
    """A line through the months that have a value, on a 0-100 axis."""
    x0, bottom, width = _axes(pdf, title, height)
    step = width / max(1, len(values))
    points = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = x0 + step * (i + 0.5)
        pdf.text(x - 5, bottom + 3, pdf.clean(label))
        if value is not None:
            points.append((x, _level(bottom, height, value)))
    pdf.set_draw_color(67, 147, 195)
    pdf.set_line_width(0.6)
    for (xa, ya), (xb, yb) in zip(points, points[1:], strict=False):
        pdf.line(xa, ya, xb, yb)
    pdf.set_fill_color(67, 147, 195)
    for x, y in points:
        pdf.circle(x=x, y=y, radius=0.9, style="F")
    pdf.set_line_width(0.2)
    pdf.set_y(bottom + 7)


def monthly_pdf(report: dict[str, Any], *, title: str = "Service-quality report", chart_agents: int = 30) -> bytes:
    """The report with its charts: the trend, the questions, the lowest agents, then every agent."""
    pdf = _Pdf()
    pdf.add_page()
    pdf.write_line(f"{title} - {report['month']} ({report['scope']})", size=15, height=9)
    pdf.write_line(f"Evaluations: {report['evaluations']}   Agents evaluated: {report['agents_evaluated']}   "
                   f"Average: {_fmt(report['average'])}   Auto-fails: {report['auto_fails']}   "
                   f"Threshold: {report['threshold']}")
    pdf.write_line("Distribution: " + ", ".join(f"{k}: {v}" for k, v in report["distribution"].items()))
    if report.get("quality_report"):
        q = report["quality_report"]
        pdf.write_line(f"Team leader's analysis report: {q['status']}, due {q['due_on']}")
    pdf.ln(2)
    _line_chart(pdf, "Average score by month", [t["month"][2:] for t in report["trend"]],
                [t["average"] for t in report["trend"]])
    questions = report["questions"]
    _bar_chart(pdf, "Average by question (% of full marks)", [q["code"] for q in questions],
               [q["average"] for q in questions], threshold=report["threshold"])
    scored = sorted((a for a in report["agents"] if a["average"] is not None), key=lambda a: a["average"])
    lowest = scored[:chart_agents]
    if lowest:
        _bar_chart(pdf, f"Agents' averages (lowest {len(lowest)})", [agent_label(a) for a in lowest],
                   [a["average"] for a in lowest], threshold=report["threshold"])
    pdf.add_page()
    pdf.write_line("Per agent", size=12, height=8)
    widths = (70, *([22] * len(AGENT_FIGURES)))
    pdf.use(8)
    for label, w in zip(("Agent", *[h for h, _key in AGENT_FIGURES]), widths, strict=True):
        pdf.cell(w, 6, label, border="B")
    pdf.ln(6)
    for agent in report["agents"]:
        cells = (agent_label(agent), *[_fmt(agent[key]) for _h, key in AGENT_FIGURES])
        for value, w in zip(cells, widths, strict=True):
            pdf.cell(w, 5, pdf.clean(value)[:40])
        pdf.ln(5)
    return bytes(pdf.output())


MEETING_COLUMNS = ("standing", "agent_id", "agent_name", "team_name", "evaluations", "minimum", "met_minimum",
                   "average", "lowest", "auto_fails", "previous", "change", "below_threshold", "open_disputes")


def meeting_csv(results: dict[str, Any]) -> str:
    """The all-staff meeting's results, one row per agent in standing order (yes/no for flags)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["month", "scope", "meeting_before", *MEETING_COLUMNS])
    for row in results["agents"]:
        values = [("yes" if row[key] else "no") if isinstance(row[key], bool) else row[key] for key in MEETING_COLUMNS]
        writer.writerow([_cell(v) for v in [results["month"], results["scope"], results["meeting_before"], *values]])
    return out.getvalue()
