"""Accessible inline SVG charts, drawn from plain data (no JavaScript, no library).

Each function returns one `<figure>`: the SVG (`role="img"`, named by its `<title>` and
described by its `<desc>`), each bar or point a link to the records behind it when the
data gives a URL, and then a `<table>` of the very same numbers (with the same links) so
a screen reader, a keyboard user or a test reads the figures without the picture.

Every text that comes from data is escaped; a URL must be a site path or http(s), so a
label or link cannot inject markup or script. Geometry uses floats (it only places
shapes); the figures shown are the caller's own strings.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape

Number = Decimal | int
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 52  # plot margins: axis labels, legend
# Distinguishable for the common colour-vision deficiencies (Okabe–Ito), on white.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
TARGET = "#1d2733"  # a reference mark: dark, dashed, visible on a bar and off it
DASHES = ("", "6 3", "2 3", "8 3 2 3")  # lines differ in shape as well as colour


@dataclass(frozen=True)
class Bar:
    label: str
    value: Number | None  # None: no figure (nothing drawn, "—" in the table)
    url: str | None = None
    note: str = ""  # shown in the table (e.g. "12 of 20", "live, not settled")
    target: Number | None = None  # a reference mark on the bar (e.g. a floor)


@dataclass(frozen=True)
class Group:
    label: str
    values: Sequence[Number | None]  # one per series
    urls: Sequence[str | None] = ()
    note: str = ""


@dataclass(frozen=True)
class Point:
    value: Number | None  # None leaves a gap in the line
    url: str | None = None
    hollow: bool = False  # drawn open (e.g. a provisional figure)


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[Point]
    notes: Sequence[str] = field(default=())


NUM = ' class="num"'  # a figure's cell: right-aligned, tabular digits
IDENT = re.compile(r"[a-z][a-z0-9-]*")


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _href(url: str | None) -> str | None:
    """A link target that cannot run script: a site path or an http(s) address."""
    if url is None:
        return None
    if not url.startswith(("/", "https://", "http://")) or url.startswith("//"):
        raise ValueError(f"not a page address: {url!r}")
    return _text(url)


def _linked(markup: str, url: str | None, label: str) -> str:
    href = _href(url)
    if href is None:
        return markup
    return f'<a href="{href}" aria-label="{_text(label)}">{markup}</a>'


def _scale_top(values: Sequence[Number | None]) -> float:
    """A round top for the value axis: 1, 2, 2.5 or 5 times a power of ten."""
    biggest = max((float(v) for v in values if v is not None), default=0.0)
    if biggest <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(biggest))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= biggest)


def _frame(
    ident: str, title: str, description: str, top: float, tick: Callable[[float], str]
) -> list[str]:
    """The SVG's opening, its name and description, and the value axis with gridlines."""
    if not IDENT.fullmatch(ident):
        raise ValueError(f"not a chart id: {ident!r}")
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="100%" style="max-width:{WIDTH}px;height:auto" font-family="system-ui,'
        f'sans-serif" font-size="11" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{_text(title)}</title>',
        f'<desc id="{ident}-desc">{_text(description)}</desc>',
    ]
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"'
            f' stroke="#d8dee4" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6773">'
            f"{_text(tick(value))}</text>"
        )
    return parts


def _axis(fmt: Callable[[Number], str]) -> Callable[[float], str]:
    """Axis labels in the caller's format, tens of thousands and more shortened to fit."""

    def short(value: float) -> str:
        return f"{Decimal(f'{value:.2f}').normalize():f}"

    def label(value: float) -> str:
        if value >= 1_000_000:
            return f"{short(value / 1_000_000)}M"
        if value >= 10_000:
            return f"{short(value / 1_000)}k"
        exact = Decimal(f"{value:.2f}")
        return fmt(int(exact) if exact == exact.to_integral_value() else exact)

    return label


def _y(value: Number, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * min(float(value), top) / top


def _x_labels(labels: Sequence[str], slot: float) -> list[str]:
    y = HEIGHT - BOTTOM + 16
    return [
        f'<text x="{LEFT + slot * (i + 0.5):.1f}" y="{y}" text-anchor="middle"'
        f' fill="#1d2733">{_text(label)}</text>'
        for i, label in enumerate(labels)
    ]


def _legend(keys: Sequence[tuple[str, str, str, int]]) -> list[str]:
    """Keys of (name, colour, dash pattern, stroke width) along the bottom."""
    parts, x, y = [], LEFT, HEIGHT - 12
    for name, colour, dash, width in keys:
        parts.append(
            f'<line x1="{x}" x2="{x + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}"'
            f' stroke-width="{width}"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + f'/><text x="{x + 24}" y="{y}" fill="#1d2733">{_text(name)}</text>'
        )
        x += 40 + 7 * len(name)
    return parts


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _cell(shown: str, url: str | None) -> str:
    href = _href(url)
    return f'<a href="{href}">{_text(shown)}</a>' if href and shown != "—" else _text(shown)


def _table(
    ident: str,
    caption: str,
    heads: Sequence[str],
    rows: Sequence[Sequence[tuple[str, str | None]]],
    numbers: int,
) -> str:
    """The figures as a table: the first column names the row, the next `numbers` are
    figures (each may link), the rest are notes."""
    head = "".join(
        f'<th scope="col"{NUM if 0 < i <= numbers else ""}>{_text(h)}</th>'
        for i, h in enumerate(heads)
    )
    body = "".join(
        "<tr>"
        + f'<th scope="row">{_cell(*row[0])}</th>'
        + "".join(
            f"<td{NUM if i < numbers else ''}>{_cell(*c)}</td>" for i, c in enumerate(row[1:])
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<table id="{ident}-data"><caption>{_text(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _figure(svg: list[str], table: str) -> str:
    return "<figure>" + "".join(svg) + "</svg>" + table + "</figure>"


def _shown(value: Number | None, fmt: Callable[[Number], str]) -> str:
    return "—" if value is None else fmt(value)


def bar_chart(
    *,
    ident: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    value_name: str,
    fmt: Callable[[Number], str] = str,
    top: Number | None = None,
    target_name: str = "",
) -> str:
    """One bar per category (e.g. acceptance rate per acuity band)."""
    scale = float(top) if top is not None else _scale_top([b.value for b in bars])
    svg = _frame(ident, title, description, scale, _axis(fmt))
    slot = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    base = HEIGHT - BOTTOM
    for i, bar in enumerate(bars):
        x = LEFT + slot * i + slot * 0.2
        shown = f"{bar.label}: {_shown(bar.value, fmt)}" + (f" ({bar.note})" if bar.note else "")
        if bar.value is not None:
            y = _y(bar.value, scale)
            rect = (
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}" height="{base - y:.1f}"'
                f' fill="{PALETTE[0]}"><title>{_text(shown)}</title></rect>'
            )
            svg.append(_linked(rect, bar.url, shown))
        if bar.target is not None:
            ty = _y(bar.target, scale)
            svg.append(
                f'<line x1="{x - 4:.1f}" x2="{x + slot * 0.6 + 4:.1f}" y1="{ty:.1f}"'
                f' y2="{ty:.1f}" stroke="{TARGET}" stroke-width="3" stroke-dasharray="6 3">'
                f"<title>{_text(f'{target_name} {fmt(bar.target)}')}</title></line>"
            )
    svg += _x_labels([b.label for b in bars], slot)
    if any(b.target is not None for b in bars):
        svg += _legend([(value_name, _colour(0), "", 8), (target_name, TARGET, "6 3", 3)])
    heads = ["", value_name] + ([target_name] if target_name else []) + ["Figures"]
    rows = [
        [(b.label, None), (_shown(b.value, fmt), b.url)]
        + ([(_shown(b.target, fmt), None)] if target_name else [])
        + [(b.note, None)]
        for b in bars
    ]
    return _figure(svg, _table(ident, title, heads, rows, 2 if target_name else 1))


def grouped_bar_chart(
    *,
    ident: str,
    title: str,
    description: str,
    groups: Sequence[Group],
    series: Sequence[str],
    fmt: Callable[[Number], str] = str,
) -> str:
    """Bars side by side per category, one per series (e.g. plan and spend per month)."""
    scale = _scale_top([v for g in groups for v in g.values])
    svg = _frame(ident, title, description, scale, _axis(fmt))
    slot = (WIDTH - LEFT - RIGHT) / max(len(groups), 1)
    width = slot * 0.8 / max(len(series), 1)
    base = HEIGHT - BOTTOM
    for i, group in enumerate(groups):
        for s, (name, value) in enumerate(zip(series, group.values, strict=True)):
            if value is None:
                continue
            url = group.urls[s] if s < len(group.urls) else None
            x, y = LEFT + slot * i + slot * 0.1 + width * s, _y(value, scale)
            shown = f"{group.label}, {name}: {fmt(value)}"
            rect = (
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{base - y:.1f}"'
                f' fill="{_colour(s)}"><title>{_text(shown)}</title></rect>'
            )
            svg.append(_linked(rect, url, shown))
    svg += _x_labels([g.label for g in groups], slot)
    svg += _legend([(name, _colour(s), "", 8) for s, name in enumerate(series)])
    rows = [
        [(g.label, None)]
        + [(_shown(v, fmt), g.urls[s] if s < len(g.urls) else None) for s, v in enumerate(g.values)]
        + [(g.note, None)]
        for g in groups
    ]
    return _figure(svg, _table(ident, title, ["", *series, "Source"], rows, len(series)))


def line_chart(
    *,
    ident: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[Number], str] = str,
    top: Number | None = None,
) -> str:
    """One line per series over ordered categories (e.g. months); a missing value
    breaks the line; each point links to its records."""
    values = [p.value for s in series for p in s.points]
    scale = float(top) if top is not None else _scale_top(values)
    svg = _frame(ident, title, description, scale, _axis(fmt))
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for s, line in enumerate(series):
        colour, dash = _colour(s), DASHES[s % len(DASHES)]
        runs: list[list[str]] = [[]]
        for i, point in enumerate(line.points):
            if point.value is None:
                runs.append([])
                continue
            runs[-1].append(f"{LEFT + slot * (i + 0.5):.1f},{_y(point.value, scale):.1f}")
        for run in runs:
            if len(run) > 1:
                svg.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}"'
                    f' stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                )
        for i, point in enumerate(line.points):
            if point.value is None:
                continue
            note = line.notes[i] if i < len(line.notes) else ""
            shown = f"{labels[i]}, {line.name}: {fmt(point.value)}" + (f" ({note})" if note else "")
            fill = "#fff" if point.hollow else colour
            dot = (
                f'<circle cx="{LEFT + slot * (i + 0.5):.1f}" cy="{_y(point.value, scale):.1f}"'
                f' r="5" fill="{fill}" stroke="{colour}" stroke-width="2">'
                f"<title>{_text(shown)}</title></circle>"
            )
            svg.append(_linked(dot, point.url, shown))
    svg += _x_labels(labels, slot)
    svg += _legend(
        [(line.name, _colour(s), DASHES[s % len(DASHES)], 3) for s, line in enumerate(series)]
    )
    heads = ["", *[s.name for s in series], "Notes"]
    rows = []
    for i, label in enumerate(labels):
        cells = [(_shown(s.points[i].value, fmt), s.points[i].url) for s in series]
        notes = "; ".join(
            dict.fromkeys(n for s in series if i < len(s.notes) and (n := s.notes[i]))
        )
        rows.append([(label, None), *cells, (notes, None)])
    return _figure(svg, _table(ident, title, heads, rows, len(series)))
