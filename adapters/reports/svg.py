"""Inline SVG charts drawn from plain numbers: horizontal bars, a line, a heat map.

No chart library and no script: the page must open offline and show the same thing in
any browser. Every piece of text goes through ``escape``; coordinates are floats computed
here, never text from the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 720
FONT = 'font-family="sans-serif" font-size="12"'
BAR = "#3b6ea8"
LINE = "#c0392b"


def _svg(height: float, body: list[str], label: str, width: float = WIDTH) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
        + "".join(body)
        + "</svg>"
    )


def bars(label: str, names: Sequence[str], values: Sequence[float], texts: Sequence[str]) -> str:
    """One horizontal bar per row, as long as its value relative to the largest."""
    left, row, right = 190, 24, 110
    top = max(values, default=0) or 1
    body = []
    for n, (name, value, text) in enumerate(zip(names, values, texts, strict=True)):
        y = 8 + n * row
        length = max(value, 0) / top * (WIDTH - left - right)
        body.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" {FONT}>{escape(name)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" fill="{BAR}">'
            f"<title>{escape(name)}: {escape(text)}</title></rect>"
            f'<text x="{left + length + 6:.1f}" y="{y + 15}" {FONT}>{escape(text)}</text>'
        )
    return _svg(16 + len(names) * row, body, label)


def line(label: str, xs: Sequence[str], ys: Sequence[float | None], texts: Sequence[str]) -> str:
    """A line through the known points (a month without a value breaks it), with the zero
    line drawn when the values cross it (a satisfaction gap is negative or positive)."""
    left, right, top, bottom, height = 50, 20, 16, 60, 300
    known = [y for y in ys if y is not None]
    low, high = min([*known, 0.0]), max([*known, 0.0])
    span = (high - low) or 1.0
    step = (WIDTH - left - right) / max(len(xs) - 1, 1)

    def px(n: int) -> float:
        return left + n * step

    def py(y: float) -> float:
        return top + (high - y) / span * (height - top - bottom)

    body = [
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{py(0):.1f}" y2="{py(0):.1f}" '
        'stroke="#999" stroke-dasharray="4 3"/>',
        f'<text x="{left - 6}" y="{py(high) + 4:.1f}" text-anchor="end" {FONT}>{high:g}</text>',
        f'<text x="{left - 6}" y="{py(low) + 4:.1f}" text-anchor="end" {FONT}>{low:g}</text>',
    ]
    segment: list[str] = []
    segments = [segment]
    for n, y in enumerate(ys):
        if y is None:
            segment = []
            segments.append(segment)
            continue
        segment.append(f"{px(n):.1f},{py(y):.1f}")
        body.append(
            f'<circle cx="{px(n):.1f}" cy="{py(y):.1f}" r="3" fill="{LINE}">'
            f"<title>{escape(xs[n])}: {escape(texts[n])}</title></circle>"
        )
    for points in segments:
        if len(points) > 1:
            body.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE}" '
                'stroke-width="2"/>'
            )
    every = max(1, len(xs) // 12)
    for n, x in enumerate(xs):
        if n % every == 0:
            body.append(
                f'<text x="{px(n):.1f}" y="{height - bottom + 16}" text-anchor="end" '
                f'transform="rotate(-45 {px(n):.1f} {height - bottom + 16})" {FONT}>'
                f"{escape(x)}</text>"
            )
    return _svg(height, body, label)


def _blue(rate: float) -> str:
    """White for 0 to a deep blue for 1."""
    rate = min(max(rate, 0.0), 1.0)
    r, g, b = (round(255 - (255 - c) * rate) for c in (31, 78, 140))
    return f"rgb({r},{g},{b})"


def heat_map(
    label: str,
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    texts: Sequence[Sequence[str]],
) -> str:
    """One cell per (row, column), shaded by a rate in [0, 1]; empty where no value."""
    left, top, cell_w, cell_h = 80, 24, max(30, min(56, (WIDTH - 80) // max(len(columns), 1))), 22
    body = []
    for k, column in enumerate(columns):
        body.append(
            f'<text x="{left + k * cell_w + cell_w / 2:.1f}" y="{top - 8}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="10">{escape(column)}</text>'
        )
    for n, (name, cells, shown) in enumerate(zip(rows, values, texts, strict=True)):
        y = top + n * cell_h
        body.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" {FONT}>{escape(name)}</text>'
        )
        for k, (value, text) in enumerate(zip(cells, shown, strict=True)):
            if value is None:
                continue
            x = left + k * cell_w
            ink = "#fff" if value > 0.55 else "#222"
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                f'fill="{_blue(value)}" stroke="#e4e8ee">'
                f"<title>{escape(name)} {escape(columns[k])}: {escape(text)}</title></rect>"
                f'<text x="{x + cell_w / 2:.1f}" y="{y + 15}" text-anchor="middle" '
                f'font-family="sans-serif" font-size="9" fill="{ink}">{escape(text)}</text>'
            )
    return _svg(top + len(rows) * cell_h + 8, body, label, left + len(columns) * cell_w + 10)
