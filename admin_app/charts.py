"""Server-rendered charts for the staff's desk: geometry computed here, drawn as inline SVG by
a template (nothing from a CDN, no JavaScript, works with the admin's dark mode)."""

from __future__ import annotations

from dataclasses import dataclass

from admin_app.selectors import DayCount


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    center: int
    day: str  # ISO date, for tooltips and tests
    sessions: int
    label: str  # the axis label under the bar, "" for most bars


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    baseline: int
    top: int
    left: int
    maximum: int
    bars: list[Bar]
    total: int


def bar_chart(
    series: list[DayCount],
    *,
    plot_height: int = 140,
    bar_width: int = 16,
    gap: int = 6,
    left: int = 36,
    top: int = 18,
    bottom: int = 30,
) -> BarChart:
    """A bar per day, scaled to the busiest day, labelled under every Monday."""
    maximum = max((point.sessions for point in series), default=0)
    scale = plot_height / max(maximum, 1)
    baseline = top + plot_height
    bars = []
    for i, point in enumerate(series):
        # A day with any session keeps a visible bar however busy the busiest day is.
        height = max(1, round(point.sessions * scale)) if point.sessions else 0
        x = left + i * (bar_width + gap)
        # Mondays, and the first day when the first Monday is far enough away not to collide.
        labelled = point.day.weekday() == 0 or (i == 0 and point.day.weekday() <= 3)
        bars.append(
            Bar(
                x=x,
                y=baseline - height,
                width=bar_width,
                height=height,
                center=x + bar_width // 2,
                day=point.day.isoformat(),
                sessions=point.sessions,
                label=f"{point.day:%a} {point.day.day} {point.day:%b}" if labelled else "",
            )
        )
    width = left + len(series) * (bar_width + gap) + gap
    return BarChart(
        width=width,
        height=baseline + bottom,
        baseline=baseline,
        top=top,
        left=left,
        maximum=maximum,
        bars=bars,
        total=sum(point.sessions for point in series),
    )
