"""The inline SVG charts: points land inside the plot box, bad values are skipped, labels are escaped."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from stager.audit.svg import bar_chart, line_chart, nice_ticks, timeline


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == "svg" and root.get("class") == "chart"
    return root


def _points(element: ET.Element) -> list[tuple[float, float]]:
    return [tuple(float(n) for n in pair.split(",")) for pair in element.get("points").split()]


def _axis_box(root: ET.Element) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 of the plot area, read from the axis path ``M x0,y0 V y1 H x1``."""
    d = next(e for e in root.iter("path") if e.get("class") == "axis").get("d")
    x0, y0, y1, x1 = (float(n) for n in re.findall(r"-?[\d.]+", d))
    return x0, y0, x1, y1


def test_points_are_scaled_into_the_box_in_order_and_the_extremes_reach_it():
    chart = line_chart({"train_loss": [(0, 2.3), (10, 1.1), (20, 0.4)], "val_loss": [(10, 1.4), (20, 0.9)]},
                       title="loss", y_label="loss", width=500, height=300)
    root = _parse(chart)
    assert root.get("data-title") == "loss" and root.get("width") == "500" and root.get("height") == "300"
    x0, y0, x1, y1 = _axis_box(root)
    assert 0 < x0 < x1 <= 500 and 0 < y0 < y1 <= 300
    lines = {e.get("data-series"): _points(e) for e in root.iter("polyline")}
    assert set(lines) == {"train_loss", "val_loss"}
    train = lines["train_loss"]
    assert len(train) == 3
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for line in lines.values() for x, y in line)
    xs, ys = [x for x, _ in train], [y for _, y in train]
    assert xs == sorted(xs) and ys == sorted(ys)  # steps go right; a falling loss goes down the page (y grows)
    assert xs[0] == x0 and xs[-1] == x1  # the ticks start at step 0 and end at 20: the box's edges
    # equal steps are equal distances, and both series share the x scale
    assert math.isclose(xs[1] - xs[0], xs[2] - xs[1])
    assert lines["val_loss"][0][0] == xs[1]
    legend = [t.text for t in root.find("g[@class='legend']").iter("text")]
    assert legend == ["train_loss", "val_loss"]
    ticks = [t.text for t in root.iter("text") if t.get("class") == "tick"]
    assert "0" in ticks and "20" in ticks and len(ticks) >= 4


def test_non_finite_values_are_skipped_and_a_single_point_is_a_circle():
    root = _parse(line_chart({"loss": [(0, 1.0), (1, math.nan), (2, math.inf), (3, 0.5)],
                              "lr": [(0, math.nan), (1, 0.01)], "gone": [(0, -math.inf)]}, title="mixed"))
    (loss,) = [e for e in root.iter("polyline")]
    assert loss.get("data-series") == "loss" and len(_points(loss)) == 2
    (lr,) = [e for e in root.iter("circle")]
    assert lr.get("class") == "series" and lr.get("data-series") == "lr"
    assert "gone" not in chart_text(root)  # a series with nothing finite is left out, legend included
    assert all(math.isfinite(float(n)) for e in root.iter("polyline") for pair in e.get("points").split()
               for n in pair.split(","))


def chart_text(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


def test_labels_and_titles_are_escaped():
    nasty = '<script>alert("x")</script>&'
    charts = [line_chart({nasty: [(0, 1), (1, 2)]}, title=nasty, x_label=nasty, y_label=nasty),
              bar_chart([(nasty, 1.0)], title=nasty, y_label=nasty),
              timeline([(nasty, 0, 5)], title=nasty)]
    for chart in charts:
        assert "<script" not in chart and "&lt;script&gt;" in chart
        root = _parse(chart)
        assert root.get("data-title") == nasty  # escaped in the text, the same value once parsed
    assert _parse(charts[0]).find("polyline").get("data-series") == nasty
    assert _parse(charts[1]).find("rect[@class='bar']").get("data-label") == nasty
    assert _parse(charts[2]).find("rect[@class='span']").get("data-label") == nasty


def test_empty_input_says_no_data():
    for chart in (line_chart({}, title="loss"), line_chart({"loss": [(0, math.nan)]}, title="loss"),
                  bar_chart([], title="cost"), timeline([], title="stages")):
        root = _parse(chart)
        assert [t.text for t in root.iter("text") if t.get("class") == "no-data"] == ["no data"]
        assert root.find("polyline") is None and root.find("rect") is None


def test_bars_stand_on_zero_with_heights_in_proportion():
    root = _parse(bar_chart([("instance", 1.5), ("volume", 0.5), ("broken", math.nan)], title="cost", height=200))
    bars = {e.get("data-label"): e for e in root.iter("rect") if e.get("class") == "bar"}
    assert set(bars) == {"instance", "volume"}
    assert bars["instance"].get("data-value") == "1.5"
    heights = {k: float(e.get("height")) for k, e in bars.items()}
    assert math.isclose(heights["instance"], 3 * heights["volume"])
    bottoms = {round(float(e.get("y")) + float(e.get("height")), 6) for e in bars.values()}
    assert len(bottoms) == 1  # both on the zero line
    labels = [t.text for t in root.iter("text")]
    assert "instance" in labels and "volume" in labels


def test_timeline_spans_follow_time_and_the_height_follows_the_rows():
    root = _parse(timeline([("validating", 0, 10), ("training", 10, 70), ("tearing_down", 70, 80)],
                           title="stages"))
    spans = [e for e in root.iter("rect") if e.get("class") == "span"]
    assert [s.get("data-label") for s in spans] == ["validating", "training", "tearing_down"]
    xs = [float(s.get("x")) for s in spans]
    widths = [float(s.get("width")) for s in spans]
    assert xs == sorted(xs) and math.isclose(xs[0] + widths[0], xs[1], abs_tol=0.01)
    assert math.isclose(widths[1], 6 * widths[0], abs_tol=0.1)
    assert len({float(s.get("y")) for s in spans}) == 3  # one row each
    assert int(root.get("height")) > 3 * 20
    texts = [t.text for t in root.iter("text")]
    assert {"0s", "15s", "30s", "45s", "60s", "75s"} <= set(texts)  # steps a clock reads, not 16.7 s


def test_output_is_deterministic_and_ticks_are_round():
    series = {"a": [(i, 1 / (i + 1)) for i in range(50)]}
    assert line_chart(series, title="t") == line_chart(series, title="t")
    assert nice_ticks(0, 1) == [0.0, 0.5, 1.0] and nice_ticks(1.9, 2.3) == [1.9, 2.0, 2.1, 2.2, 2.3]
    flat = nice_ticks(5, 5)
    assert flat[0] < 5 < flat[-1]
