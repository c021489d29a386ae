"""Charts for the data pages: server-side SVG (no script, no network at view time) and
the same numbers as a table, from one `Chart`; plus capped CSV export.

Every text that reaches the SVG is escaped (`Markup.format`); the SVG is sized by its
viewBox so it scales with the page.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from flask import Response
from markupsafe import Markup, escape

COLOURS = ("#2fa4e7", "#73a839", "#dd5600", "#c71c22", "#9b479f", "#033c73", "#e6ac00",
           "#5bc0de", "#868e96", "#20c997")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 170, 34, 22, 16
EXPORT_CAP = 10_000  # rows in a CSV export at most


@dataclass
class Series:
    name: str
    values: list[float]


@dataclass
class Chart:
    """Labels along the x axis and one or more series of the same length.

    kind: "bars" (grouped side by side), "stacked" (one bar per label) or "lines"."""

    title: str
    labels: list[str]
    series: list[Series] = field(default_factory=list)
    kind: str = "bars"
    label_every: int = 0  # show every n-th x label (0: as many as fit)

    def add(self, name: str, values) -> Chart:
        self.series.append(Series(str(name), [v or 0 for v in values]))
        return self

    @property
    def rows(self) -> list[list]:
        """The table: one row per label, one column per series."""
        return [[label, *(s.values[i] for s in self.series)]
                for i, label in enumerate(self.labels)]

    @property
    def header(self) -> list[str]:
        return ["", *(s.name for s in self.series)]

    def peak(self) -> float:
        if self.kind == "stacked":
            totals = [sum(s.values[i] for s in self.series) for i in range(len(self.labels))]
            return max(totals, default=0) or 1
        return max((v for s in self.series for v in s.values), default=0) or 1

    def svg(self) -> Markup:
        n, plot_h = max(len(self.labels), 1), HEIGHT - BOTTOM - TOP
        slot = (WIDTH - LEFT - 6) / n
        peak = self.peak()
        y = lambda v: TOP + plot_h - v / peak * plot_h  # noqa: E731
        parts = [Markup('<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#bbb"/>').format(
            LEFT, TOP + plot_h, WIDTH - 4),
            Markup('<text x="{}" y="{}" font-size="10" fill="#666" text-anchor="end">{}</text>'
                   ).format(LEFT - 4, TOP + 4, _number(peak)),
            Markup('<text x="{}" y="{}" font-size="10" fill="#666" text-anchor="end">0</text>'
                   ).format(LEFT - 4, TOP + plot_h)]
        every = self.label_every or max(1, round(n / 12))
        for i, label in enumerate(self.labels):
            x0 = LEFT + i * slot
            if i % every == 0:
                parts.append(Markup('<text x="{:.1f}" y="{}" font-size="10" fill="#666">{}'
                                    '</text>').format(x0 + 1, HEIGHT - 6, label))
            parts.extend(self._marks(i, x0, slot, y, plot_h))
        if self.kind == "lines":
            for k, s in enumerate(self.series):
                points = " ".join(f"{LEFT + (i + 0.5) * slot:.1f},{y(v):.1f}"
                                  for i, v in enumerate(s.values))
                parts.append(Markup('<polyline points="{}" fill="none" stroke="{}" '
                                    'stroke-width="2"/>').format(points, _colour(k)))
        legend = [Markup('<span class="mr-3"><span style="display:inline-block;width:10px;'
                         'height:10px;background:{}"></span> {}</span>').format(_colour(k), s.name)
                  for k, s in enumerate(self.series)]
        return Markup('<svg class="data-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" '
                      'width="100%" style="max-width:1000px">{}</svg>'
                      '<div class="small text-muted chart-legend">{}</div>').format(
            self.title, WIDTH, HEIGHT, Markup("").join(parts), Markup("").join(legend))

    def _marks(self, i: int, x0: float, slot: float, y, plot_h: float) -> list[Markup]:
        """The bars (with a tooltip) of label i."""
        if self.kind == "lines":
            return [Markup('<circle cx="{:.1f}" cy="{:.1f}" r="2" fill="{}"><title>{} · {}: {}'
                           '</title></circle>').format(x0 + slot / 2, y(s.values[i]),
                                                        _colour(k), self.labels[i], s.name,
                                                        _number(s.values[i]))
                    for k, s in enumerate(self.series)]
        marks, base = [], TOP + plot_h
        width = slot * 0.8 / (1 if self.kind == "stacked" else len(self.series) or 1)
        for k, s in enumerate(self.series):
            height = (s.values[i] or 0) / self.peak() * plot_h
            x = x0 + slot * 0.1 + (0 if self.kind == "stacked" else k * width)
            top = base - height
            if self.kind == "stacked":
                base = top
            marks.append(Markup('<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" '
                                'fill="{}"><title>{} · {}: {}</title></rect>').format(
                x, top, width, height, _colour(k), self.labels[i], s.name,
                _number(s.values[i])))
        return marks


def _colour(k: int) -> str:
    return COLOURS[k % len(COLOURS)]


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def csv_response(filename: str, header: list[str], rows, cap: int = EXPORT_CAP) -> Response:
    """A CSV download of at most `cap` rows (UTF-8 with BOM, so Excel reads Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for n, row in enumerate(rows):
        if n >= cap:
            break
        writer.writerow(row)
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{escape(filename)}"'})
