"""Charts of a :class:`~bot.reports.aggregate.TeamReport`: a PNG for the chat, an SVG for the web.

Both show, per theme, the mean (1-5, one decimal: the chart is drawn from the rounded mean a view
shows, never from more) per published quarter, as small multiples in one column so that they stay
readable on a phone. Only shown cells are drawn: hidden cells carry no numbers anyway, and a theme
without any shown cell gets no panel. No spread: a view shows it only in words, per question.

The PNG uses matplotlib's Agg canvas directly (no pyplot, no display, no global state). The SVG is
written by hand: small, fast, no external resources, with ``<title>``/``<desc>`` for screen
readers and every text escaped.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from typing import BinaryIO
from xml.sax.saxutils import escape

from bot.reports.aggregate import (
    LEVEL_THEME,
    NO_ANSWERS,
    Cell,
    TeamReport,
    format_number_nl,
    period_label_nl,
)

__all__ = ["ChartPoint", "ChartSeries", "chart_series", "theme_chart_png", "theme_chart_svg"]

ALL_THEMES_NL = "Alle thema's samen"
COLOR = "#1b5e8c"
GRID = "#d5dde5"
TEXT = "#1d2630"
MUTED = "#5b6875"


@dataclass(frozen=True, slots=True)
class ChartPoint:
    period: str
    index: int  # position of the period in report.periods
    mean: float  # one decimal, as the view shows it
    n_band: str


@dataclass(frozen=True, slots=True)
class ChartSeries:
    theme_id: str | None  # None: all themes together (the team total)
    title: str
    points: list[ChartPoint]


def chart_series(report: TeamReport, theme_titles: dict[str, str]) -> list[ChartSeries]:
    """What both charts draw: the team total and every theme, shown cells only, with the
    themes in the order of ``theme_titles``."""
    index = {p: i for i, p in enumerate(report.periods)}

    def point(cell: Cell) -> ChartPoint:
        assert cell.mean is not None
        return ChartPoint(cell.period, index[cell.period], round(cell.mean, 1), cell.n_band or "")

    series: list[ChartSeries] = []
    total = [point(c) for c in report.totals if c.shown and c.mean is not None]
    if total:
        series.append(ChartSeries(None, ALL_THEMES_NL, total))
    by_theme: dict[str, list[ChartPoint]] = {}
    for c in report.themes:
        if c.level == LEVEL_THEME and c.theme_id is not None:
            points = by_theme.setdefault(c.theme_id, [])
            if c.shown and c.mean is not None:
                points.append(point(c))
    # the caller's title order is the Praatplaat order (theme 1..10); unknown ids go last
    order = {theme_id: i for i, theme_id in enumerate(theme_titles)}
    for theme_id, points in sorted(by_theme.items(), key=lambda kv: order.get(kv[0], len(order))):
        if points:
            series.append(ChartSeries(theme_id, theme_titles.get(theme_id, theme_id), points))
    return series


def _hidden_titles(report: TeamReport, theme_titles: dict[str, str]) -> list[str]:
    """Themes that someone answered but that have no shown cell at all."""
    shown = {c.theme_id for c in report.themes if c.shown}
    answered = {c.theme_id for c in report.themes if c.reason != NO_ANSWERS}
    out = []
    for theme_id in dict.fromkeys(c.theme_id for c in report.themes):
        if theme_id is not None and theme_id in answered and theme_id not in shown:
            out.append(theme_titles.get(theme_id, theme_id))
    return out


def _short_period(period: str) -> str:
    return period_label_nl(period).replace(" ", "\n", 1)


def _too_few_text(report: TeamReport) -> str:
    if not report.periods:
        return "Nog geen afgesloten ronde:\ncijfers komen als de ronde sluit."
    return (
        "Nog te weinig antwoorden om iets te laten zien:\n"
        f"we tonen pas iets vanaf {report.k} mensen."
    )


# --------------------------------------------------------------------------------------------
# PNG


def theme_chart_png(
    report: TeamReport,
    theme_titles: dict[str, str],
    out: BinaryIO | None = None,
    dpi: int = 150,
) -> bytes:
    """Render the chart as PNG bytes (also written to ``out`` when given)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = chart_series(report, theme_titles)
    width_in = 6.0
    buf = io.BytesIO()
    if not series:
        fig = Figure(figsize=(width_in, 1.6), dpi=dpi)
        FigureCanvasAgg(fig)
        fig.text(0.5, 0.5, _too_few_text(report), ha="center", va="center", fontsize=13,
                 color=TEXT, wrap=True)
    else:
        # fixed layout in inches (no constrained layout: it draws everything twice)
        footer = _hidden_titles(report, theme_titles)
        note = f"Punt: gemiddelde. Alleen groepen van minstens {report.k} mensen."
        if report.demo:
            note = "Voorbeeld met verzonnen antwoorden. " + note
        if footer:
            note += "\nNiet getoond (te weinig antwoorden): " + ", ".join(footer)
        note = "\n".join(textwrap.fill(line, 95) for line in note.split("\n"))
        titles = ["\n".join(textwrap.wrap(s.title, 48)) or s.title for s in series]
        plot_in, line_in, gap_in = 1.25, 0.26, 0.22
        left_in, right_in, xlabels_in = 0.62, 0.2, 0.55
        note_in = 0.12 + 0.16 * (note.count("\n") + 1)
        heights = [gap_in + line_in * (t.count("\n") + 1) + plot_in for t in titles]
        height_in = sum(heights) + xlabels_in + note_in
        fig = Figure(figsize=(width_in, height_in), dpi=dpi)
        FigureCanvasAgg(fig)
        n_periods = len(report.periods)
        top = height_in
        axes = []
        for s, ttl, h in zip(series, titles, heights, strict=True):
            top -= h
            ax = fig.add_axes((left_in / width_in, top / height_in,
                               1 - (left_in + right_in) / width_in, plot_in / height_in),
                              sharex=axes[0] if axes else None)
            axes.append(ax)
            xs = [p.index for p in s.points]
            ys = [p.mean for p in s.points]
            ax.plot(xs, ys, "o", color=COLOR, markersize=8, zorder=3)
            # connect only neighbouring quarters: a gap stays a gap
            for a, b in zip(s.points, s.points[1:], strict=False):
                if b.index == a.index + 1:
                    ax.plot([a.index, b.index], [a.mean, b.mean], color=COLOR, linewidth=1.5,
                            alpha=0.6, zorder=2)
            for p in s.points:
                ax.annotate(format_number_nl(p.mean), (p.index, p.mean), xytext=(9, 3),
                            textcoords="offset points", fontsize=11, color=TEXT)
            ax.set_title(ttl, loc="left", fontsize=13, color=TEXT, fontweight="bold", pad=6)
            ax.set_ylim(0.5, 5.5)
            ax.set_yticks([1, 2, 3, 4, 5])
            ax.set_xlim(-0.5, max(n_periods - 0.5, 0.5))
            ax.grid(axis="y", color=GRID, linewidth=0.8)
            ax.tick_params(labelsize=10, colors=MUTED)
            ax.tick_params(axis="x", labelbottom=False)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        axes[-1].set_xticks(range(n_periods))
        axes[-1].set_xticklabels([_short_period(p) for p in report.periods], fontsize=10)
        axes[-1].tick_params(axis="x", labelbottom=True)
        axes[0].set_ylabel("gemiddeld (1-5)", fontsize=10, color=MUTED)
        fig.text(0.1 / width_in, 0.06 / height_in, note, fontsize=9, color=MUTED, va="bottom")
    fig.set_facecolor("white")
    fig.canvas.print_png(buf)
    data = buf.getvalue()
    if out is not None:
        out.write(data)
    return data


# --------------------------------------------------------------------------------------------
# SVG


def _attr(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def theme_chart_svg(
    report: TeamReport,
    theme_titles: dict[str, str],
    id_prefix: str = "teamspiegel-chart",
    width: int = 640,
) -> str:
    """Render the chart as a self-contained, accessible SVG document (a string)."""
    series = chart_series(report, theme_titles)
    pid = _attr(id_prefix)
    left, right, top_pad, plot_h, bottom_pad = 40, 16, 44, 96, 40
    panel_h = top_pad + plot_h + bottom_pad
    footer = _hidden_titles(report, theme_titles)
    notes = [f"Punt: gemiddelde. Alleen groepen van minstens {report.k} mensen."]
    if report.demo:
        notes.insert(0, "Voorbeeld met verzonnen antwoorden.")
    if footer:
        notes.extend(textwrap.wrap("Niet getoond (te weinig antwoorden): " + ", ".join(footer), 90))
    height = (panel_h * len(series) if series else 90) + 18 * len(notes) + 10
    n_periods = max(len(report.periods), 1)
    plot_w = width - left - right
    step = plot_w / n_periods

    def x_of(index: int) -> float:
        return left + step * (index + 0.5)

    def y_of(value: float, top: float) -> float:
        value = min(max(value, 0.5), 5.5)
        return top + plot_h * (5.5 - value) / 5.0

    title = "Teamspiegel: gemiddelde per thema per kwartaal"
    desc = (
        "Per thema het gemiddelde antwoord (1 tot 5) per afgesloten kwartaal. "
        f"Alleen groepen van minstens {report.k} mensen worden getoond."
    )
    if not series:
        desc = _too_few_text(report).replace("\n", " ")
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" role="img" '
        f'aria-labelledby="{pid}-title {pid}-desc" font-family="system-ui, sans-serif">',
        f'<title id="{pid}-title">{escape(title)}</title>',
        f'<desc id="{pid}-desc">{escape(desc)}</desc>',
        f'<rect width="{width}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    if not series:
        for i, line in enumerate(_too_few_text(report).split("\n")):
            out.append(f'<text x="{width / 2:.0f}" y="{38 + 22 * i}" text-anchor="middle" '
                       f'font-size="16" fill="{TEXT}">{escape(line)}</text>')
    for si, s in enumerate(series):
        top0 = si * panel_h
        plot_top = top0 + top_pad
        theme_attr = "" if s.theme_id is None else f' data-theme="{_attr(s.theme_id)}"'
        out.append(f'<g class="panel"{theme_attr}>')
        lines = textwrap.wrap(s.title, 70)[:2] or [s.title]
        for li, line in enumerate(lines):
            out.append(f'<text class="panel-title" x="{left - 32}" y="{top0 + 20 + 17 * li}" '
                       f'font-size="15" font-weight="bold" fill="{TEXT}">{escape(line)}</text>')
        for v in range(1, 6):
            y = y_of(v, plot_top)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                       f'stroke="{GRID}" stroke-width="1"/>')
            out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                       f'fill="{MUTED}" aria-hidden="true">{v}</text>')
        for i, period in enumerate(report.periods):
            out.append(f'<text x="{x_of(i):.1f}" y="{plot_top + plot_h + 18:.1f}" '
                       f'text-anchor="middle" font-size="11" fill="{MUTED}" aria-hidden="true">'
                       f'{escape(period_label_nl(period))}</text>')
        for a, b in zip(s.points, s.points[1:], strict=False):
            if b.index == a.index + 1:
                out.append(f'<line x1="{x_of(a.index):.1f}" y1="{y_of(a.mean, plot_top):.1f}" '
                           f'x2="{x_of(b.index):.1f}" y2="{y_of(b.mean, plot_top):.1f}" '
                           f'stroke="{COLOR}" stroke-opacity="0.6" stroke-width="2"/>')
        for p in s.points:
            x = x_of(p.index)
            y = y_of(p.mean, plot_top)
            label = (f"{s.title}, {period_label_nl(p.period)}: gemiddeld "
                     f"{format_number_nl(p.mean)}, {p.n_band} mensen")
            out.append(
                f'<g class="point" data-period="{_attr(p.period)}" data-mean="{p.mean:.1f}" '
                f'data-n="{_attr(p.n_band)}"{theme_attr}>'
                f'<title>{escape(label)}</title>'
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{COLOR}"/>'
                f'<text x="{x + 9:.1f}" y="{y - 6:.1f}" font-size="12" fill="{TEXT}" '
                f'aria-hidden="true">{escape(format_number_nl(p.mean))}</text>'
                f'</g>'
            )
        out.append("</g>")
    y0 = (panel_h * len(series) if series else 90) + 14
    for i, note in enumerate(notes):
        out.append(f'<text x="8" y="{y0 + 18 * i}" font-size="11" fill="{MUTED}">'
                   f'{escape(note)}</text>')
    out.append("</svg>")
    return "\n".join(out)
