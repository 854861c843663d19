"""cost_svg's geometry and document, rule by rule: the plot box that the axes draw, the
curve spanning it exactly (first step on the left axis, last on the right, the highest
cost on the top, the lowest on the bottom), the labels at the box's corners, one point as
a dot, the document's size and accessible name. Read from the SVG itself, not from
cost_svg's constants."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from model_core import cost_svg

NS = "{http://www.w3.org/2000/svg}"


def box(root: ET.Element) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of the plot box, from the axes' path 'M left top V bottom H right'."""
    [axes] = [p for p in root.iter(f"{NS}path")]
    m = re.fullmatch(r"M([\d.]+) ([\d.]+)V([\d.]+)H([\d.]+)", axes.get("d", ""))
    assert m, axes.get("d")
    left, top, bottom, right = map(float, m.groups())
    assert left < right and top < bottom
    return left, right, bottom, top


def points(root: ET.Element) -> list[tuple[float, float]]:
    [line] = root.findall(f"{NS}polyline")
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.get("points", "").split())]


def labels(root: ET.Element) -> dict[str, ET.Element]:
    return {t.text or "": t for t in root.iter(f"{NS}text")}


@pytest.mark.parametrize(("width", "height"), [(480, 270), (300, 200)])
def test_the_curve_spans_the_plot_box_from_corner_to_corner(width: int, height: int) -> None:
    costs = [[10, 0.5], [20, 0.9], [30, 0.1], [40, 0.3]]
    root = ET.fromstring(cost_svg(costs, width=width, height=height))
    left, right, bottom, top = box(root)
    assert 0 < left < right < width and 0 < top < bottom < height
    pts = points(root)
    assert pts[0][0] == left and pts[-1][0] == right  # first and last step on the axes
    assert pts[1][1] == top and pts[2][1] == bottom  # the highest cost on top, the lowest at the bottom
    # every point where a linear scale puts it
    for (step, cost), (x, y) in zip(costs, pts):
        assert x == pytest.approx(left + (step - 10) / 30 * (right - left), abs=0.05)
        assert y == pytest.approx(bottom - (cost - 0.1) / 0.8 * (bottom - top), abs=0.05)


def test_the_ranges_label_the_box_corners() -> None:
    root = ET.fromstring(cost_svg([[5, 0.25], [2500, 0.0625]]))
    left, right, bottom, top = box(root)
    text = labels(root)
    hi_y, lo_y, lo_x, hi_x, step = text["0.25"], text["0.0625"], text["5"], text["2500"], text["step"]
    # the cost range left of the vertical axis, right-aligned to it
    for label in (hi_y, lo_y):
        assert float(label.get("x", "")) < left and label.get("text-anchor") == "end"
    assert float(hi_y.get("y", "")) < float(lo_y.get("y", ""))  # the high cost above the low one
    assert top <= float(hi_y.get("y", "")) < float(lo_y.get("y", "")) <= bottom
    # the step range under the horizontal axis, at its two ends, "step" between them
    for label in (lo_x, hi_x, step):
        assert float(label.get("y", "")) > bottom
    assert float(lo_x.get("x", "")) == left and float(hi_x.get("x", "")) == right
    assert hi_x.get("text-anchor") == "end" and lo_x.get("text-anchor") is None
    assert float(step.get("x", "")) == (left + right) // 2 and step.get("text-anchor") == "middle"
    assert float(step.get("y", "")) > float(lo_x.get("y", ""))  # below the numbers


def test_costs_are_labelled_with_four_significant_digits() -> None:
    text = labels(ET.fromstring(cost_svg([[0, 0.693147], [1000, 0.0123456]])))
    assert {"0.6931", "0.01235", "0", "1000"} <= set(text)


def test_one_point_is_a_dot_at_the_lower_left_corner() -> None:
    root = ET.fromstring(cost_svg([[7, 0.4]]))
    left, _, bottom, _ = box(root)
    [dot] = root.findall(f"{NS}circle")
    assert (float(dot.get("cx", "")), float(dot.get("cy", ""))) == (left, bottom) == points(root)[0]
    assert float(dot.get("r", "")) > 0 and dot.get("fill") == points_stroke(root)
    # two or more points: no dot
    assert not ET.fromstring(cost_svg([[0, 1.0], [1, 0.5]])).findall(f"{NS}circle")


def points_stroke(root: ET.Element) -> str | None:
    [line] = root.findall(f"{NS}polyline")
    return line.get("stroke")


def test_the_curve_is_a_stroked_line_not_a_filled_shape() -> None:
    root = ET.fromstring(cost_svg([[0, 1.0], [1, 0.5], [2, 0.7]]))
    [line] = root.findall(f"{NS}polyline")
    assert line.get("fill") == "none" and line.get("stroke") not in (None, "none")
    assert float(line.get("stroke-width", "0")) > 0
    [axes] = root.findall(f"{NS}path")
    assert axes.get("fill") == "none" and axes.get("stroke") not in (None, "none")


def test_the_document_has_its_size_a_white_background_and_its_title_as_its_name() -> None:
    root = ET.fromstring(cost_svg([[0, 1.0]], title="job 1 <dev>", width=320, height=180))
    assert root.tag == f"{NS}svg"
    assert (root.get("viewBox"), root.get("width"), root.get("height")) == ("0 0 320 180", "320", "180")
    assert root.get("role") == "img" and root.get("aria-label") == "job 1 <dev>"
    assert root.find(f"{NS}title").text == "job 1 <dev>"
    [background] = root.findall(f"{NS}rect")
    assert (background.get("width"), background.get("height"), background.get("fill")) == ("100%", "100%", "#fff")
    heading = labels(root)["job 1 <dev>"]
    assert float(heading.get("y", "")) < box(root)[3]  # above the plot box
    for t in root.iter(f"{NS}text"):
        assert t.get("font-family") == "sans-serif" and float(t.get("font-size", "0")) > 0


def test_an_empty_history_says_so_in_the_middle_of_the_box() -> None:
    root = ET.fromstring(cost_svg([]))
    left, right, bottom, top = box(root)
    note = labels(root)["no cost recorded yet"]
    assert (float(note.get("x", "")), float(note.get("y", ""))) == ((left + right) // 2, (bottom + top) // 2)
    assert note.get("text-anchor") == "middle"
    assert cost_svg([]).endswith("</svg>\n")
    assert "no cost history &amp; more" in cost_svg([], empty="no cost history & more")  # the caller's, escaped
