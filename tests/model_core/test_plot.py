"""cost_svg: well-formed SVG, the curve's points where the costs put them, text escaped."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from model_core import cost_svg

NS = "{http://www.w3.org/2000/svg}"


def test_points_follow_the_costs_and_the_ranges_are_labelled() -> None:
    costs = [[0, 0.7], [100, 0.5], [200, 0.2], [300, 0.25]]
    root = ET.fromstring(cost_svg(costs))
    [line] = root.findall(f"{NS}polyline")
    pts = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
    assert len(pts) == 4
    xs = [x for x, _ in pts]
    assert xs == sorted(xs) and xs[0] < xs[-1]
    # linear in the cost: equal cost gaps are equal pixel gaps
    (_, y0), (_, y1), (_, y2), _ = pts
    assert math.isclose((y1 - y0) / (y2 - y1), (0.5 - 0.7) / (0.2 - 0.5))
    texts = {t.text for t in root.iter(f"{NS}text")}
    assert {"0.7", "0.2", "0", "300"} <= texts


def test_a_title_cannot_become_markup() -> None:
    svg = cost_svg([[0, 1.0]], title='</text><script>alert(1)</script>"&')
    root = ET.fromstring(svg)  # still well-formed
    assert not list(root.iter(f"{NS}script"))
    assert root.find(f"{NS}title").text == '</text><script>alert(1)</script>"&'


def test_empty_and_non_finite_histories_draw_without_failing() -> None:
    empty = ET.fromstring(cost_svg([]))
    assert not empty.findall(f"{NS}polyline")
    assert any("no cost" in (t.text or "") for t in empty.iter(f"{NS}text"))
    root = ET.fromstring(cost_svg([[0, 0.7], [100, float("nan")], [200, float("inf")], [300, 0.3]]))
    [line] = root.findall(f"{NS}polyline")
    assert len(line.get("points", "").split()) == 2
