"""What the reports share: a report as sections of typed figures, the trace of every
figure to its records, and one renderer each for PDF and XLSX.

A report module gathers its figures into `Section`s of `Block`s (rows of typed
values) and adds, for each figure, a trace entry naming the records it was computed
from (`Trace.add` returns the key, e.g. "F12", shown in the row's Trace column).
The PDF renders the blocks as tables, draws the section's charts, and ends with an
appendix listing every trace entry; the XLSX gives each section a sheet with real
numbers and a "Trace" sheet with one row per record.

Same data, same bytes: the PDF is written with reportlab's invariant mode (fixed
creation date and document id) and the XLSX with fixed dates in its properties and
its zip entries. PDF pages are not compressed, so the figures are plain text in the
file (a reader needs no PDF library to find them; reports are small).
"""

import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.db.models import QuerySet
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable

from fundpilot.money.models import Entry
from fundpilot.rules.money import format_usd

# Kinds of value a column holds: how the PDF shows it and the XLSX stores it.
TEXT, MONEY, COUNT, PERCENT, RATE, DAY = "text", "money", "count", "percent", "rate", "day"
DECIMAL = "decimal"  # a statistic (ratio, expected count …) kept as its decimal text
NUMERIC = (MONEY, COUNT, PERCENT, RATE, DECIMAL)
XLSX_FORMATS = {
    MONEY: '"$"#,##0.00;-"$"#,##0.00',
    COUNT: "#,##0",
    PERCENT: '0.00"%"',  # the value is already in percent (12.5 means 12.5 %)
    RATE: "0.0%",  # the value is a fraction (0.125 shows 12.5 %)
    DAY: "yyyy-mm-dd",
}
FIXED = datetime(2000, 1, 1, tzinfo=UTC)  # the XLSX's dates, like reportlab's invariant PDF
PDF_RECORDS_SHOWN = 60  # per trace entry; the selection names the rest
DASH = "\u2014"


def not_prepared(what: str, month: date) -> str:
    return f"{what} not yet prepared for {month:%Y-%m}."


# --- the trace --------------------------------------------------------------------


@dataclass
class TraceEntry:
    key: str
    figure: str
    selection: str  # how to find the records again (account, dates, record id …)
    records: list[str]


@dataclass
class Trace:
    """Every figure of a report and the records it came from."""

    entries: list[TraceEntry] = field(default_factory=list)

    def add(self, figure: str, records: Iterable[str], selection: str = "") -> str:
        key = f"F{len(self.entries) + 1}"
        self.entries.append(TraceEntry(key, figure, selection, list(records)))
        return key


def transactions(entries: QuerySet[Entry]) -> list[str]:
    """The ledger transactions behind some entries: "T<number> <basis key>", in order."""
    rows = (
        entries.values_list("transaction__number", "transaction__basis_key")
        .distinct()
        .order_by("transaction__number")
    )
    return [f"T{number} {basis}" for number, basis in rows]


# --- what a report is made of -----------------------------------------------------


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = TEXT
    weight: float = 0  # its share of the PDF page's width (0: 1 for a number, 1.6 text)


@dataclass
class Block:
    """A table of figures; each row names its trace entries."""

    columns: Sequence[Column]
    rows: list[list[Any]] = field(default_factory=list)
    refs: list[list[str]] = field(default_factory=list)
    caption: str = ""

    def add(self, values: list[Any], *refs: str) -> None:
        self.rows.append(values)
        self.refs.append(list(refs))


@dataclass
class Section:
    title: str
    sheet: str = ""  # the XLSX sheet's name
    intro: str = ""
    blocks: list[Block] = field(default_factory=list)
    charts: list[Drawing] = field(default_factory=list)
    missing: str = ""  # why there are no figures ("… not yet prepared for 2026-05")


@dataclass
class Report:
    title: str
    pilot: str  # the pilot's name
    month: date
    subtitle: str
    sections: list[Section]
    trace: Trace

    @property
    def heading(self) -> str:
        return f"{self.title} {DASH} {self.pilot} {DASH} {self.month:%Y-%m}"


def number(value: Any) -> Decimal | None:
    """A figure stored as decimal text (or None) as a Decimal."""
    return None if value is None or value == "" else Decimal(str(value))


def shown(value: Any, kind: str) -> str:
    """A value as people read it in the PDF."""
    if value is None or value == "":
        return DASH
    if kind == MONEY:
        return format_usd(Decimal(value))
    if kind == PERCENT:
        return f"{Decimal(value)}%"
    if kind == RATE:
        return f"{Decimal(value) * 100:.1f}%"
    if kind == COUNT:
        return f"{int(value):,}"
    if kind == DECIMAL:
        return str(Decimal(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    return str(value)


# --- PDF --------------------------------------------------------------------------

_BASE = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("fp-title", parent=_BASE["Title"], fontSize=16, leading=20),
    "h2": ParagraphStyle("fp-h2", parent=_BASE["Heading2"], spaceBefore=10),
    "body": ParagraphStyle("fp-body", parent=_BASE["BodyText"], fontSize=9, leading=12),
    "muted": ParagraphStyle(
        "fp-muted",
        parent=_BASE["BodyText"],
        fontSize=8,
        leading=10,
        textColor=colors.grey,
        spaceAfter=4,
    ),
    "caption": ParagraphStyle("fp-caption", parent=_BASE["BodyText"], fontSize=9, leading=12),
    "cell": ParagraphStyle("fp-cell", parent=_BASE["BodyText"], fontSize=7.5, leading=9),
}
PAGE_WIDTH = LETTER[0] - 30 * mm
PALETTE = [colors.HexColor(c) for c in ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c")]


def para(text: str, style: str = "body") -> Paragraph:
    return Paragraph(escape(text), STYLES[style])


def _cell(value: Any, kind: str) -> Any:
    text = shown(value, kind)
    return text if kind in NUMERIC else para(text, "cell")


def _widths(block: Block) -> list[float]:
    """The page's width shared out by the columns' weights, after the trace keys' narrow
    column; a table of few columns keeps its numbers at most 30 mm wide."""
    trace = 13 * mm
    weights = [c.weight or (1.0 if c.kind in NUMERIC else 1.6) for c in block.columns]
    unit = (PAGE_WIDTH - trace) / sum(weights)
    numbers = [w for w, c in zip(weights, block.columns, strict=True) if c.kind in NUMERIC]
    if len(numbers) < len(weights) and unit * max(numbers, default=0) > 30 * mm:
        unit = 30 * mm / max(numbers)
        left = PAGE_WIDTH - trace - unit * sum(numbers)
        texts = sum(weights) - sum(numbers)
        return [
            unit * w if c.kind in NUMERIC else left * w / texts
            for w, c in zip(weights, block.columns, strict=True)
        ] + [trace]
    return [unit * w for w in weights] + [trace]


def pdf_table(block: Block) -> PdfTable:
    header = [para(c.label, "cell") for c in block.columns] + [para("Trace", "cell")]
    body = [
        [_cell(v, c.kind) for v, c in zip(row, block.columns, strict=True)]
        + [para(", ".join(refs), "cell")]
        for row, refs in zip(block.rows, block.refs, strict=True)
    ]
    table = PdfTable([header, *body], colWidths=_widths(block), repeatRows=1, hAlign="LEFT")
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cbd5e0")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    style += [
        ("ALIGN", (i, 1), (i, -1), "RIGHT")
        for i, c in enumerate(block.columns)
        if c.kind in NUMERIC
    ]
    table.setStyle(TableStyle(style))
    return table


def _axis_label(value: float) -> str:
    """Value-axis ticks people read at a glance: 1,250 or 2.5M."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def bar_chart(
    title: str, labels: Sequence[str], series: Sequence[Sequence[Any]], names: Sequence[str]
) -> Drawing:
    """Vertical bars: one group per label, one bar per series (values as numbers)."""
    drawing = Drawing(PAGE_WIDTH, 200)
    drawing.add(String(0, 188, title, fontName="Helvetica-Bold", fontSize=9))
    if not labels:
        return _nothing(drawing)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 45, 55, PAGE_WIDTH - 170, 120
    chart.data = [[float(v or 0) for v in values] for values in series]
    chart.categoryAxis.categoryNames = list(labels)
    chart.categoryAxis.labels.angle = 20
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.categoryAxis.labels.fontSize = 6.5
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = _axis_label
    for i in range(len(series)):
        chart.bars[i].fillColor = PALETTE[i % len(PALETTE)]
    drawing.add(chart)
    drawing.add(_legend(names, PAGE_WIDTH - 115, 170))
    return drawing


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[Sequence[Any]], names: Sequence[str]
) -> Drawing:
    """A line per series over the labels (months), with markers; a value may be None
    (not measured that month). Only markers when a series has fewer than two values."""
    drawing = Drawing(PAGE_WIDTH, 190)
    drawing.add(String(0, 178, title, fontName="Helvetica-Bold", fontSize=9))
    if not labels:
        return _nothing(drawing)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 45, 35, PAGE_WIDTH - 170, 125
    chart.data = [[float(v) if v is not None else None for v in values] for values in series]
    chart.categoryAxis.categoryNames = list(labels)
    chart.categoryAxis.labels.fontSize = 7
    chart.joinedLines = all(sum(v is not None for v in line) >= 2 for line in chart.data)
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = _axis_label
    for i in range(len(series)):
        chart.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
        chart.lines[i].symbol = makeMarker("FilledCircle", size=3)
    drawing.add(chart)
    drawing.add(_legend(names, PAGE_WIDTH - 115, 160))
    return drawing


def _nothing(drawing: Drawing) -> Drawing:
    drawing.add(String(0, 160, "Nothing to chart.", fontName="Helvetica", fontSize=8))
    return drawing


def _legend(names: Sequence[str], x: float, y: float) -> Legend:
    legend = Legend()
    legend.x, legend.y = x, y
    legend.fontSize = 7
    legend.alignment = "right"
    legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], n) for i, n in enumerate(names)]
    return legend


def _section(section: Section) -> list[Flowable]:
    # A heading or caption starts a new page rather than end one alone.
    story: list[Flowable] = [CondPageBreak(50 * mm), Paragraph(escape(section.title), STYLES["h2"])]
    if section.intro:
        story.append(para(section.intro, "muted"))
    if section.missing:
        story.append(para(section.missing))
        return story
    for block in section.blocks:
        if block.caption:
            story += [CondPageBreak(30 * mm), Spacer(1, 4), para(block.caption, "caption")]
        if block.rows:
            story.append(pdf_table(block))
        else:
            story.append(para("None.", "muted"))
    for chart in section.charts:
        story.append(KeepTogether([Spacer(1, 6), chart]))
    return story


def _appendix(trace: Trace) -> list[Flowable]:
    story: list[Flowable] = [
        PageBreak(),
        Paragraph("Appendix: where each figure comes from", STYLES["h2"]),
        para(
            "Each figure's Trace key names the records it was computed from: ledger"
            " transactions (T<number> and basis key), stored records (settlement,"
            " reconciliation, variance cycle, equity check, finding …) with their ids."
            f" Up to {PDF_RECORDS_SHOWN} records are listed per figure; the selection"
            " finds them all.",
            "muted",
        ),
    ]
    if not trace.entries:
        return [*story, para("No figures.", "muted")]
    rows = [[para("Key", "cell"), para("Figure", "cell"), para("Records", "cell")]]
    for e in trace.entries:
        listed = e.records[:PDF_RECORDS_SHOWN]
        more = len(e.records) - len(listed)
        text = "; ".join(listed) or "(none)"
        if more:
            text += f"; {DASH} and {more} more"
        if e.selection:
            text = f"{e.selection}: {text}"
        rows.append([para(e.key, "cell"), para(e.figure, "cell"), para(text, "cell")])
    table = PdfTable(rows, colWidths=[12 * mm, 55 * mm, PAGE_WIDTH - 67 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cbd5e0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return [*story, table]


def pdf(report: Report) -> bytes:
    """The report as an uncompressed, invariant PDF (same data, same bytes)."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,  # US pilots print on US Letter
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=report.heading,
        author="fundpilot",
        creator="fundpilot",
        subject=report.subtitle,
        invariant=True,
        pageCompression=0,
    )

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.grey)
        canvas.drawString(15 * mm, 8 * mm, report.heading)
        canvas.drawRightString(LETTER[0] - 15 * mm, 8 * mm, f"page {document.page}")
        canvas.restoreState()

    story: list[Flowable] = [
        Paragraph(escape(report.title), STYLES["title"]),
        para(f"{report.pilot} {DASH} {report.month:%B %Y} ({report.month:%Y-%m})"),
        para(report.subtitle, "muted"),
    ]
    for section in report.sections:
        story.extend(_section(section))
    story.extend(_appendix(report.trace))
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


# --- XLSX -------------------------------------------------------------------------


class _FixedZip(zipfile.ZipFile):
    """A zip whose entries all carry one fixed date, so the same workbook gives the
    same bytes."""

    def writestr(
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: Any,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=FIXED.timetuple()[:6])
            zinfo_or_arcname.compress_type = zipfile.ZIP_DEFLATED
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(
        self,
        filename: Any,
        arcname: Any = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        with open(filename, "rb") as f:
            self.writestr(str(arcname or filename), f.read(), compress_type, compresslevel)


def _sheet_name(text: str, taken: set[str]) -> str:
    name = "".join(c for c in text if c not in "[]:*?/\\")[:31] or "Sheet"
    while name in taken:
        name = f"{name[:28]} {len(taken)}"
    taken.add(name)
    return name


def _put(ws: Any, row: int, col: int, value: Any, kind: str) -> None:
    if kind in NUMERIC and kind != COUNT and value not in (None, ""):
        value = Decimal(str(value))
    cell = ws.cell(row=row, column=col, value=None if value == "" else value)
    if kind in XLSX_FORMATS and value is not None:
        cell.number_format = XLSX_FORMATS[kind]


def xlsx(report: Report) -> bytes:
    """The report as a workbook: a sheet per section (numbers as numbers, money in the
    currency format), then the "Trace" sheet, one row per record behind a figure."""
    wb = Workbook()
    wb.properties.creator = "fundpilot"
    wb.properties.title = report.heading
    wb.properties.created = wb.properties.modified = FIXED
    wb.remove(wb.active)
    taken: set[str] = {"Trace"}
    bold = Font(bold=True)
    for section in report.sections:
        ws = wb.create_sheet(_sheet_name(section.sheet or section.title, taken))
        ws.cell(row=1, column=1, value=section.title).font = Font(bold=True, size=12)
        row = 2
        if section.intro:
            ws.cell(row=row, column=1, value=section.intro)
            row += 1
        if section.missing:
            ws.cell(row=row + 1, column=1, value=section.missing)
            continue
        widths: dict[int, int] = {}
        for block in section.blocks:
            row += 1
            if block.caption:
                ws.cell(row=row, column=1, value=block.caption).font = bold
                row += 1
            labels = [c.label for c in block.columns] + ["Trace"]
            for col, label in enumerate(labels, start=1):
                ws.cell(row=row, column=col, value=label).font = bold
                widths[col] = max(widths.get(col, 8), len(label) + 2)
            for values, refs in zip(block.rows, block.refs, strict=True):
                row += 1
                for col, (value, column) in enumerate(zip(values, block.columns, strict=True), 1):
                    _put(ws, row, col, value, column.kind)
                    widths[col] = min(
                        max(widths.get(col, 8), len(shown(value, column.kind)) + 2), 60
                    )
                ws.cell(row=row, column=len(labels), value=", ".join(refs))
            row += 1
        for col, width in widths.items():
            ws.column_dimensions[get_column_letter(col)].width = width
    ws = wb.create_sheet("Trace")
    for col, label in enumerate(("Key", "Figure", "Selection", "Record"), start=1):
        ws.cell(row=1, column=col, value=label).font = bold
    row = 1
    for e in report.trace.entries:
        for record in e.records or [""]:
            row += 1
            for col, value in enumerate((e.key, e.figure, e.selection, record), start=1):
                ws.cell(row=row, column=col, value=value)
    for letter, width in zip("ABCD", (8, 50, 60, 60), strict=True):
        ws.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    with _FixedZip(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    return buffer.getvalue()
