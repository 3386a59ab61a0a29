"""Where the labels of the proposed ducts go on the MIP, so that they do not cover one another.

Pure geometry, shared by the anatomy page's drawing and the viewer's. Ducts meet at the hilum, so
labels put half-way along short ducts pile up there on a small MIP. Each label is placed in turn
(the common hepatic duct first, then the longer ducts): the first spot along its own duct, on the side
away from the common duct (then the other side, then a line above or below), whose box overlaps no
label placed before it and stays inside the picture. When no spot is free, the one that overlaps least.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A text box estimated from the font size: no font metrics on the server.
CHARACTER_WIDTH = 0.6  # of the font size, for the app's sans-serif
ASCENT, DESCENT = 0.85, 0.3  # of the font size, above and below the baseline
GAP = 0.4  # of the font size, between the duct's point and the start (or end) of its text
# Places along the duct, as fractions of its length, tried in this order.
ALONG = (0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9, 0.0, 1.0)
# Lines above or below the spot, in font sizes, tried after the spot itself.
NUDGES = (0.0, -1.25, 1.25, -2.5, 2.5)


@dataclass(frozen=True)
class LabelRequest:
    id: str
    text: str
    points: list[tuple[float, float]]  # the duct's centre-line on the picture (x right, y down)


@dataclass(frozen=True)
class Placement:
    id: str
    x: float  # where the text is anchored: its start (anchor "start") or end ("end")
    y: float  # the baseline
    anchor: str  # "start" or "end"
    box: tuple[float, float, float, float]  # left, top, right, bottom


def place_labels(
    requests: list[LabelRequest], *, width: float, height: float, font: float, centre_x: float
) -> dict[str, Placement]:
    """Each duct's label placement, by duct id. ``centre_x`` is where the common duct runs: labels go
    away from it first."""
    order = sorted(requests, key=lambda r: (r.id != "CHD", -_length(r.points)))
    placed: dict[str, Placement] = {}
    for request in order:
        if not request.points:
            continue
        best: tuple[float, Placement] | None = None
        for candidate in _candidates(request, font=font, centre_x=centre_x):
            cost = sum(_overlap(candidate.box, other.box) for other in placed.values())
            cost += _outside(candidate.box, width, height)
            if best is None or cost < best[0]:
                best = (cost, candidate)
            if cost == 0:
                break
        assert best is not None
        placed[request.id] = best[1]
    return placed


def boxes_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return _overlap(a, b) > 0


def _candidates(request: LabelRequest, *, font: float, centre_x: float):
    text_width = CHARACTER_WIDTH * font * len(request.text)
    for fraction in ALONG:
        x, y = _point_along(request.points, fraction)
        outwards = "end" if x < centre_x else "start"
        for anchor in (outwards, "start" if outwards == "end" else "end"):
            for nudge in NUDGES:
                baseline = y + nudge * font + (ASCENT - DESCENT) * font / 2  # the text centred on the spot
                start = x + GAP * font if anchor == "start" else x - GAP * font
                left, right = (start, start + text_width) if anchor == "start" else (start - text_width, start)
                box = (left, baseline - ASCENT * font, right, baseline + DESCENT * font)
                yield Placement(request.id, round(start, 1), round(baseline, 1), anchor, box)


def _length(points: list[tuple[float, float]]) -> float:
    return sum(math.dist(a, b) for a, b in zip(points, points[1:], strict=False))


def _point_along(points: list[tuple[float, float]], fraction: float) -> tuple[float, float]:
    """The point at this fraction of the polyline's length."""
    total = _length(points)
    if total == 0:
        return points[len(points) // 2]
    remaining = fraction * total
    for a, b in zip(points, points[1:], strict=False):
        step = math.dist(a, b)
        if step > 0 and remaining <= step:
            t = remaining / step
            return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
        remaining -= step
    return points[-1]


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    across = min(a[2], b[2]) - max(a[0], b[0])
    down = min(a[3], b[3]) - max(a[1], b[1])
    return across * down if across > 0 and down > 0 else 0.0


def _outside(box: tuple[float, float, float, float], width: float, height: float) -> float:
    """How much of the box lies outside the picture (as an area)."""
    inside = _overlap(box, (0.0, 0.0, width, height))
    return (box[2] - box[0]) * (box[3] - box[1]) - inside
