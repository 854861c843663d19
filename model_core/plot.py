"""The cost curve as an SVG image, drawn without a plotting library.

``costs`` is a training history's list of ``[step, cost]`` pairs (``history["costs"]``,
a job's ``costs``). The drawing is a polyline in a fixed viewBox with the axes' ranges as
text; every piece of text is escaped, so a caller's title cannot become markup.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["cost_svg"]

_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 56, 16, 28, 36


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def cost_svg(costs: Sequence[Sequence[float]], title: str = "cost", width: int = 480, height: int = 270,
             empty: str = "no cost recorded yet") -> str:
    """An SVG document (str) of cost against step; an empty history draws the axes and ``empty``.

    Non-finite costs are left out (a diverged run's last point would flatten the curve).
    """
    points = [(float(i), float(c)) for i, c in costs if math.isfinite(float(c)) and math.isfinite(float(i))]
    x0, x1 = _PAD_LEFT, width - _PAD_RIGHT
    y0, y1 = height - _PAD_BOTTOM, _PAD_TOP  # y grows downwards in SVG
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="#fff"/>',
        f'<path d="M{x0} {y1}V{y0}H{x1}" fill="none" stroke="#555" stroke-width="1"/>',
        f'<text x="{x0}" y="18" font-family="sans-serif" font-size="13" fill="#222">{escape(title)}</text>',
    ]
    if not points:
        parts.append(f'<text x="{(x0 + x1) // 2}" y="{(y0 + y1) // 2}" text-anchor="middle" '
                     f'font-family="sans-serif" font-size="13" fill="#555">{escape(empty)}</text>')
    else:
        steps, values = [p[0] for p in points], [p[1] for p in points]
        lo_x, hi_x = min(steps), max(steps)
        lo_y, hi_y = min(values), max(values)
        span_x = hi_x - lo_x or 1.0
        span_y = hi_y - lo_y or 1.0

        def at(i: float, c: float) -> str:
            return f"{x0 + (i - lo_x) / span_x * (x1 - x0):.1f},{y0 - (c - lo_y) / span_y * (y0 - y1):.1f}"

        parts.append(f'<polyline points="{" ".join(at(i, c) for i, c in points)}" fill="none" '
                     'stroke="#1565c0" stroke-width="2" stroke-linejoin="round"/>')
        if len(points) == 1:
            parts.append(f'<circle cx="{at(*points[0]).split(",")[0]}" cy="{at(*points[0]).split(",")[1]}" '
                         'r="3" fill="#1565c0"/>')
        text = 'font-family="sans-serif" font-size="11" fill="#333"'
        parts += [
            f'<text x="{x0 - 4}" y="{y1 + 4}" text-anchor="end" {text}>{_fmt(hi_y)}</text>',
            f'<text x="{x0 - 4}" y="{y0}" text-anchor="end" {text}>{_fmt(lo_y)}</text>',
            f'<text x="{x0}" y="{y0 + 16}" {text}>{_fmt(lo_x)}</text>',
            f'<text x="{x1}" y="{y0 + 16}" text-anchor="end" {text}>{_fmt(hi_x)}</text>',
            f'<text x="{(x0 + x1) // 2}" y="{y0 + 28}" text-anchor="middle" {text}>step</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
