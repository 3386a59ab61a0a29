"""A schematic bile duct diagram, as self-contained SVG, for the anatomy editor and the suitability report.

The figure follows textbook biliary drawings seen from the front in the
radiological convention (the patient's right on the viewer's left): segmental
ducts at the top, the common hepatic duct (CHD) at the bottom, the cystic duct
joining the CHD from the gallbladder side.  Graft ducts are drawn in colour
*and* with a dashed core so they stay distinct in grayscale print; each exit of
the proposed classification carries a "divide" mark where the surgeon cuts it.

Geometry is schematic: lengths are labelled, not drawn to scale, but where a duct
joins lower down its receiving duct (junction_mm > 0) it is drawn joining lower.
`layout` is pure geometry (testable: labels never overlap); `render_svg` only
writes it out.  The territory helper is local so this module needs nothing but
the anatomy document itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

# An anatomy document as stored (parsed JSON that validation accepted) and one of its ducts.
Document = Mapping[str, Any]
RawDuct = dict[str, Any]

GRAFT_SEGMENTS = {
    "right_lobe": frozenset({5, 6, 7, 8}),
    "left_lateral_segment": frozenset({2, 3}),
    "left_lobe": frozenset({2, 3, 4}),
}
GRAFT_NAMES = {
    "right_lobe": "right lobe graft (segments 5-8)",
    "left_lateral_segment": "left lateral segment graft (segments 2-3)",
    "left_lobe": "left lobe graft (segments 2-4)",
}
# Where each segment lies from the viewer's left (patient's right) to the right.
SEGMENT_X = {7: 0.0, 6: 0.3, 8: 1.2, 5: 1.5, 1: 3.0, 4: 3.5, 3: 5.0, 2: 5.5}

SCALE = 6.0  # px per mm for drops and junction offsets
COLUMN = 96.0  # px between leaf ducts
MIN_DROP, MAX_DROP = 42.0, 160.0
DEFAULT_LENGTH_MM = 10.0
MARGIN = 20.0
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
GRAFT_COLOUR, REMNANT_COLOUR, CUT_COLOUR = "#0f7b6c", "#4a4a4a", "#b00020"


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Node:
    """The upper end of a duct (for CHD: the hilar confluence)."""

    id: str
    x: float
    y: float


@dataclass(frozen=True)
class Edge:
    """A duct drawn from its upper end (x1, y1) to where it joins (x2, y2)."""

    duct: str
    x1: float
    y1: float
    x2: float
    y2: float
    role: str  # "graft", "remnant", "chd" or "cystic"
    length_mm: float | None


@dataclass(frozen=True)
class LabelBox:
    """A text label's box; x, y is the top-left corner."""

    x: float
    y: float
    w: float
    h: float
    text: str
    kind: str  # "duct", "length" or "junction"
    duct: str

    def overlaps(self, other: LabelBox, gap: float = 0.0) -> bool:
        return (
            self.x < other.x + other.w + gap
            and other.x < self.x + self.w + gap
            and self.y < other.y + other.h + gap
            and other.y < self.y + self.h + gap
        )

    def moved(self, dx: float, dy: float) -> LabelBox:
        return LabelBox(self.x + dx, self.y + dy, self.w, self.h, self.text, self.kind, self.duct)


@dataclass(frozen=True)
class ExitMarker:
    """Where the surgeon divides an exit duct: a bar across it at (x, y)."""

    duct: str
    x: float
    y: float
    bar: tuple[float, float, float, float]
    side: tuple[float, float]  # unit vector from the duct towards the scissors mark


@dataclass(frozen=True)
class LegendItem:
    kind: str  # "graft", "remnant", "divide" or "text"
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class DiagramLayout:
    width: float
    height: float
    title: str
    subtitle: str
    graft: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    labels: tuple[LabelBox, ...]
    exits: tuple[ExitMarker, ...]
    legend: tuple[LegendItem, ...]
    gallbladder: tuple[float, float, float, float] | None  # cx, cy, rx, ry
    orientation: tuple[LegendItem, ...]  # the "R" and "L" marks


# ---------------------------------------------------------------- anatomy helpers


def _tree(document: Document) -> tuple[dict[str, RawDuct], dict[str, list[str]]]:
    ducts = {d["id"]: d for d in document["ducts"]}
    children: dict[str, list[str]] = {"CHD": [], **{i: [] for i in ducts}}
    for duct in document["ducts"]:
        children[duct["drains_into"]].append(duct["id"])
    return ducts, children


def territories(document: Document) -> dict[str, frozenset[int]]:
    """Each duct's own segments plus its tributaries' (segment 1 ignored)."""
    ducts, children = _tree(document)
    memo: dict[str, frozenset[int]] = {}

    def visit(duct_id: str) -> frozenset[int]:
        if duct_id not in memo:
            own = set(ducts.get(duct_id, {}).get("segments", [])) - {1}
            for child in children[duct_id]:
                own |= visit(child)
            memo[duct_id] = frozenset(own)
        return memo[duct_id]

    for duct_id in children:
        visit(duct_id)
    return memo


def graft_ducts(document: Document) -> set[str]:
    """Ducts (not CYSTIC) whose territory is non-empty and inside the graft."""
    inside = GRAFT_SEGMENTS[document["graft"]]
    return {d for d, t in territories(document).items() if d not in ("CHD", "CYSTIC") and t and t <= inside}


# ---------------------------------------------------------------- geometry helpers


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of rendered width, so estimated boxes contain the text."""
    em = 0.0
    for ch in text:
        if ch.isupper():
            em += 0.80
        elif ch.isdigit() or ch.islower():
            em += 0.64
        elif ch == " ":
            em += 0.33
        else:
            em += 0.45
    return em * size * (1.08 if bold else 1.0)


def _box(text: str, cx: float, cy: float, kind: str, duct: str) -> LabelBox:
    size, bold = _LABEL_STYLE[kind]
    w, h = _text_width(text, size, bold) + 6, size + 6
    return LabelBox(cx - w / 2, cy - h / 2, w, h, text, kind, duct)


_LABEL_STYLE = {"duct": (12.0, True), "length": (11.0, False), "junction": (10.0, False)}


def _segment_hits_box(seg: tuple[float, float, float, float], box: LabelBox, pad: float = 2.0) -> bool:
    """Liang-Barsky clipping: does the segment cross the (padded) box?"""
    x1, y1, x2, y2 = seg
    dx, dy = x2 - x1, y2 - y1
    t0, t1 = 0.0, 1.0
    for p, q in (
        (-dx, x1 - (box.x - pad)),
        (dx, box.x + box.w + pad - x1),
        (-dy, y1 - (box.y - pad)),
        (dy, box.y + box.h + pad - y1),
    ):
        if p == 0:
            if q < 0:
                return False
        else:
            r = q / p
            if p < 0:
                t0 = max(t0, r)
            else:
                t1 = min(t1, r)
            if t0 > t1:
                return False
    return True


def _crosses(p: tuple[float, float, float, float], q: tuple[float, float, float, float]) -> bool:
    """Do two line segments properly cross?"""

    def turn(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
        return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)

    d1 = turn(q[0], q[1], q[2], q[3], p[0], p[1])
    d2 = turn(q[0], q[1], q[2], q[3], p[2], p[3])
    d3 = turn(p[0], p[1], p[2], p[3], q[0], q[1])
    d4 = turn(p[0], p[1], p[2], p[3], q[2], q[3])
    return d1 * d2 < 0 and d3 * d4 < 0


def _distance(p: Point, seg: tuple[float, float, float, float]) -> float:
    """Distance from a point to a line segment."""
    x1, y1, x2, y2 = seg
    dx, dy = x2 - x1, y2 - y1
    span = dx * dx + dy * dy
    t = 0.0 if span == 0 else min(1.0, max(0.0, ((p.x - x1) * dx + (p.y - y1) * dy) / span))
    return math.hypot(p.x - (x1 + t * dx), p.y - (y1 + t * dy))


def _spiral(limit: float, step: float = 4.0) -> Iterable[tuple[float, float]]:
    yield 0.0, 0.0
    r = step
    while r <= limit:
        for dx, dy in ((0, -1), (0, 1), (1, 0), (-1, 0), (1, -1), (-1, -1), (1, 1), (-1, 1)):
            yield dx * r, dy * r
        r += step


def _place(
    box: LabelBox, placed: list[LabelBox], lines: list[tuple[float, float, float, float]], gap: float = 3.0
) -> LabelBox:
    """Nudge a label to the nearest spot clear of other labels, and of lines if close by.

    Label-label overlap is never allowed; lines are only avoided within a short
    reach, so a label does not drift far from what it names.
    """
    for limit, avoid_lines in ((48.0, True), (1.0e5, False)):
        for dx, dy in _spiral(limit):
            candidate = box.moved(dx, dy)
            if any(candidate.overlaps(other, gap) for other in placed):
                continue
            if avoid_lines and any(_segment_hits_box(s, candidate) for s in lines):
                continue
            return candidate
    raise AssertionError("unreachable: far enough away a label is always free")


def _lerp(a: Point, b: Point, t: float) -> Point:
    return Point(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t)


# ---------------------------------------------------------------- layout


def _mark_box(mark: ExitMarker) -> LabelBox:
    """The area a divide mark's scissors take, kept clear of labels and other marks."""
    sx, sy = mark.x + mark.side[0] * 19, mark.y + mark.side[1] * 19
    return LabelBox(sx - 9, sy - 9, 18, 18, "", "mark", mark.duct)


def _exit_marker(
    duct: str,
    a: Point,
    b: Point,
    start: float,
    stop: float,
    centre_x: float,
    lines: list[tuple[float, float, float, float]],
    taken: list[LabelBox],
) -> ExitMarker:
    """Cut mark at fraction `start` of the duct, moved up towards `stop` and to the
    other side when it would sit on another mark or another duct."""
    length = math.dist((a.x, a.y), (b.x, b.y)) or 1.0
    ux, uy = (b.x - a.x) / length, (b.y - a.y) / length
    nx, ny = -uy, ux
    if nx * ((a.x + b.x) / 2 - centre_x) < 0 or (abs(nx) < 1e-9 and ny > 0):
        nx, ny = -nx, -ny  # scissors on the outer side by preference
    steps = max(1, int((start - stop) / 0.05))
    first: ExitMarker | None = None
    for i in range(steps + 1):
        t = start - (start - stop) * i / steps
        cut = _lerp(a, b, t)
        for side in ((nx, ny), (-nx, -ny)):
            mark = ExitMarker(
                duct,
                cut.x,
                cut.y,
                (cut.x - side[0] * 10, cut.y - side[1] * 10, cut.x + side[0] * 10, cut.y + side[1] * 10),
                side,
            )
            first = first or mark
            box = _mark_box(mark)
            if any(box.overlaps(o, 2) for o in taken) or any(_segment_hits_box(s, box) for s in lines):
                continue
            # The bar, lengthened for clearance, must cross no other duct or mark.
            reach = (cut.x - side[0] * 22, cut.y - side[1] * 22, cut.x + side[0] * 22, cut.y + side[1] * 22)
            if any(_segment_hits_box(reach, o) for o in taken) or any(_crosses(reach, s) for s in lines):
                continue
            if any(_distance(cut, s) < 16 for s in lines):
                continue
            return mark
    assert first is not None  # the loop above runs at least once
    return first


def _segments_text(duct: RawDuct) -> str:
    duct_id: str = duct["id"]
    segments = sorted(set(duct.get("segments", [])))
    if not segments or duct_id == f"B{segments[0]}" and len(segments) == 1:
        return duct_id
    return f"{duct_id} ({','.join(map(str, segments))})"


def _mm(value: float) -> str:
    return f"{value:g} mm"


@dataclass(frozen=True)
class _Geometry:
    """Where each duct runs before labelling; internal to `layout`."""

    ducts: dict[str, RawDuct]
    children: dict[str, list[str]]
    in_graft: set[str]
    order: list[str]  # CHD, then the document's ducts
    top: dict[str, Point]
    bottom: dict[str, Point]
    attach_t: dict[str, float]  # where a duct joins, as a fraction down its receiving duct
    centre_x: float  # the CHD's x

    def junction(self, d: str) -> float:
        return float(self.ducts[d].get("junction_mm") or 0.0)

    def line(self, d: str) -> tuple[float, float, float, float]:
        return (self.top[d].x, self.top[d].y, self.bottom[d].x, self.bottom[d].y)


def _place_ducts(document: Document) -> _Geometry:  # noqa: C901 - one layout pass; its helpers share its state
    """Leaves get columns by where their segments lie; every duct runs from its
    upper end down to the point on its receiving duct where it joins."""
    ducts, children = _tree(document)
    terr = territories(document)

    def junction(d: str) -> float:
        return float(ducts[d].get("junction_mm") or 0.0)

    def lateral(d: str) -> float:
        segs = terr[d] or frozenset({1})
        return sum(SEGMENT_X[s] for s in segs) / len(segs)

    def column_key(d: str) -> float:
        # Pushed outwards for every duct on the way down that joins lower on its
        # receiving duct, so a lower-joining duct does not cross a higher one.
        key, here = lateral(d), d
        while here != "CHD":
            shift = 0.3 * junction(here)
            key += -shift if lateral(here) <= 3.0 else shift
            here = ducts[here]["drains_into"]
        return key

    for kids in children.values():
        kids.sort(key=lambda c: (column_key(c), c))
    leaves = sorted((d for d in ducts if not children[d] and d != "CYSTIC"), key=lambda d: (column_key(d), d))
    top_x: dict[str, float] = {d: i * COLUMN for i, d in enumerate(leaves)}

    def settle_x(d: str) -> float:
        if d not in top_x:  # above the tributaries that form it (those joining at its upper end)
            kids = [c for c in children[d] if c != "CYSTIC"]
            upper = [c for c in kids if junction(c) == 0] or kids
            top_x[d] = sum(settle_x(c) for c in upper) / len(upper) if upper else 0.0
        return top_x[d]

    for d in ["CHD", *ducts]:
        if d != "CYSTIC":
            settle_x(d)

    chd_len_mm = max([35.0] + [junction(c) + 12.0 for c in children["CHD"]])
    top = {"CHD": Point(top_x["CHD"], 0.0)}
    bottom = {"CHD": Point(top_x["CHD"], chd_len_mm * SCALE)}
    attach_t: dict[str, float] = {}

    def attach(parent: str, j: float) -> tuple[Point, float]:
        a, b = top[parent], bottom[parent]
        if parent == "CHD":
            t = j / chd_len_mm
        else:
            length = ducts[parent].get("length_mm")
            t = j / length if length else j * SCALE / (math.dist((a.x, a.y), (b.x, b.y)) or 1.0)
        t = min(max(t, 0.0), 0.92)
        return _lerp(a, b, t), t

    def drop(d: str) -> float:
        length = ducts[d].get("length_mm")
        return min(max((DEFAULT_LENGTH_MM if length is None else length) * SCALE, MIN_DROP), MAX_DROP)

    def grow(parent: str) -> None:
        for child in children[parent]:
            low, attach_t[child] = attach(parent, junction(child))
            bottom[child] = low
            if child == "CYSTIC":  # towards the gallbladder, on the patient's right
                top[child] = Point(low.x - 110.0, low.y - 45.0)
            else:
                top[child] = Point(top_x[child], low.y - drop(child))
            grow(child)

    grow("CHD")
    return _Geometry(ducts, children, graft_ducts(document), ["CHD", *ducts], top, bottom, attach_t, top_x["CHD"])


def _exit_marks(geo: _Geometry, exits: Iterable[str], obstacles: list[LabelBox]) -> list[ExitMarker]:
    """One mark per exit; each mark's scissors area is added to `obstacles`."""
    marks: list[ExitMarker] = []
    for e in sorted(set(exits)):
        kids = geo.children[e]
        if e in geo.in_graft:  # below every tributary, near the lower end
            lowest = max([geo.attach_t[c] for c in kids] + [0.0])
            start, stop = max(0.75, (lowest + 1.0) / 2), lowest + 0.05
        else:  # a shared upper stretch: above the first non-graft tributary
            first = min([geo.attach_t[c] for c in kids if c not in geo.in_graft] + [1.0])
            start, stop = max(0.7 * first, 0.08), 0.05
        others = [geo.line(d) for d in geo.order if d != e] + [m.bar for m in marks]
        mark = _exit_marker(e, geo.top[e], geo.bottom[e], start, stop, geo.centre_x, others, obstacles)
        marks.append(mark)
        obstacles.append(_mark_box(mark))
    return marks


def _wanted_labels(geo: _Geometry) -> list[tuple[LabelBox, str | None]]:
    """Each label at its ideal spot, in placing order, with the duct line it may sit on."""
    names: list[tuple[LabelBox, str | None]] = []
    lengths: list[tuple[LabelBox, str | None]] = []
    junctions: list[tuple[LabelBox, str | None]] = []
    chd_end = geo.bottom["CHD"]
    names.append((_box("CHD", chd_end.x, chd_end.y + 14, "duct", "CHD"), None))
    for d, duct in geo.ducts.items():
        a, b = geo.top[d], geo.bottom[d]
        mid = _lerp(a, b, 0.5)
        outward = -1.0 if a.x < b.x - 1 else 1.0
        text = "cystic duct" if d == "CYSTIC" else _segments_text(duct)
        if d == "CYSTIC":
            names.append((_box(text, mid.x, mid.y + 16, "duct", d), None))
        elif not geo.children[d]:  # a leaf: named above its upper end
            names.append((_box(text, a.x, a.y - 13, "duct", d), None))
        else:
            probe = _box(text, 0, 0, "duct", d)
            names.append((_box(text, mid.x + outward * (probe.w / 2 + 8), mid.y - 8, "duct", d), None))
        if duct.get("length_mm") is not None:
            # On the duct itself, like a dimension, when the duct is long enough to show.
            box = _box(_mm(duct["length_mm"]), mid.x, mid.y, "length", d)
            if math.dist((a.x, a.y), (b.x, b.y)) > box.w + 24:
                lengths.append((box, d))
            else:
                lengths.append((box.moved(outward * (box.w / 2 + 8), 12), None))
        if geo.junction(d) > 0:
            text = f"at {geo.junction(d):g} mm"
            probe = _box(text, 0, 0, "junction", d)
            side = 1.0 if b.x >= geo.centre_x and d != "CYSTIC" else -1.0
            junctions.append((_box(text, b.x + side * (probe.w / 2 + 10), b.y + 4, "junction", d), None))
    return names + lengths + junctions


def layout(document: Document, exits: Sequence[str]) -> DiagramLayout:
    """Place every duct, label and exit mark; coordinates are final SVG pixels."""
    unknown = [e for e in exits if e not in {d["id"] for d in document["ducts"]}]
    if unknown:
        raise ValueError(f"exit ducts not in the document: {', '.join(unknown)}")
    geo = _place_ducts(document)
    edges = [
        Edge(
            d,
            *geo.line(d),
            "chd" if d == "CHD" else "cystic" if d == "CYSTIC" else "graft" if d in geo.in_graft else "remnant",
            geo.ducts[d].get("length_mm") if d != "CHD" else None,
        )
        for d in geo.order
    ]

    obstacles: list[LabelBox] = []
    marks = _exit_marks(geo, exits, obstacles)
    gallbladder = None
    if "CYSTIC" in geo.ducts:
        end = geo.top["CYSTIC"]
        gallbladder = (end.x - 18.0, end.y + 24.0, 16.0, 30.0)
        cx, cy, rx, ry = gallbladder
        obstacles.append(LabelBox(cx - rx, cy - ry, 2 * rx, 2 * ry, "", "mark", "CYSTIC"))

    lines = {d: geo.line(d) for d in geo.order}
    placed: list[LabelBox] = []
    for box, own_line in _wanted_labels(geo):
        others = [seg for d, seg in lines.items() if d != own_line] + [m.bar for m in marks]
        placed.append(_place(box, placed + obstacles, others))

    # Frame: shift everything so the drawing sits below the title, then add the legend.
    xs = [v for e in edges for v in (e.x1, e.x2)] + [v for b in placed + obstacles for v in (b.x, b.x + b.w)]
    ys = [v for e in edges for v in (e.y1, e.y2)] + [v for b in placed + obstacles for v in (b.y, b.y + b.h)]
    head = 74.0
    dx, dy = MARGIN - min(xs), head - min(ys)

    def sx(v: float) -> float:
        return round(v + dx, 1)

    def sy(v: float) -> float:
        return round(v + dy, 1)

    title = f"Bile ducts: {GRAFT_NAMES[document['graft']]}"
    subtitle = ("Exits (divided at surgery): " + ", ".join(sorted(set(exits)))) if exits else "No exits given"
    legend_top = max(ys) + dy + 26
    legend_text = [
        ("graft", "graft duct (goes with the " + document["graft"].replace("_", " ") + ")"),
        ("remnant", "duct staying with the donor"),
        ("divide", "divide here: one cut per exit duct (the ducts to anastomose)"),
        ("text", "lengths in mm; 'at N mm': junction distance from the upper end of the receiving duct"),
        ("text", "(for the CHD: below the hilar confluence); drawing not to scale"),
        ("text", "Radiological convention: the patient's right (R) is on the viewer's left."),
    ]
    legend = tuple(LegendItem(kind, MARGIN, legend_top + i * 18, text) for i, (kind, text) in enumerate(legend_text))
    drawing_right = max(xs) + dx
    width = math.ceil(
        MARGIN
        + max(
            [drawing_right, _text_width(title, 15, True) + MARGIN, _text_width(subtitle, 12) + MARGIN]
            + [MARGIN + (44 if k != "text" else 0) + _text_width(t, 11) for k, t in legend_text]
        )
    )
    height = math.ceil(legend_top + len(legend) * 18 + MARGIN)
    return DiagramLayout(
        width=width,
        height=height,
        title=title,
        subtitle=subtitle,
        graft=document["graft"],
        nodes=tuple(Node(d, sx(geo.top[d].x), sy(geo.top[d].y)) for d in geo.order),
        edges=tuple(Edge(e.duct, sx(e.x1), sy(e.y1), sx(e.x2), sy(e.y2), e.role, e.length_mm) for e in edges),
        labels=tuple(LabelBox(sx(b.x), sy(b.y), round(b.w, 1), round(b.h, 1), b.text, b.kind, b.duct) for b in placed),
        exits=tuple(
            ExitMarker(m.duct, sx(m.x), sy(m.y), (sx(m.bar[0]), sy(m.bar[1]), sx(m.bar[2]), sy(m.bar[3])), m.side)
            for m in marks
        ),
        legend=legend,
        gallbladder=(sx(gallbladder[0]), sy(gallbladder[1]), *gallbladder[2:]) if gallbladder else None,
        orientation=(LegendItem("text", MARGIN, head - 8, "R"), LegendItem("text", drawing_right, head - 8, "L")),
    )


# ---------------------------------------------------------------- SVG


def _edge_svg(e: Edge) -> list[str]:
    coords = f'x1="{e.x1}" y1="{e.y1}" x2="{e.x2}" y2="{e.y2}"'
    name = escape(e.duct if e.duct != "CYSTIC" else "cystic duct")
    if e.role == "graft":
        return [
            f'<g class="duct graft"><title>{name} (graft)</title>',
            f'<line {coords} stroke="{GRAFT_COLOUR}" stroke-width="7" stroke-linecap="round"/>',
            f'<line {coords} stroke="#ffffff" stroke-width="2" stroke-dasharray="5 4"/></g>',
        ]
    styles = {"chd": (6, REMNANT_COLOUR), "cystic": (3, "#8a8a8a"), "remnant": (4, REMNANT_COLOUR)}
    width, colour = styles[e.role]
    return [
        f'<g class="duct {e.role}"><title>{name}</title>',
        f'<line {coords} stroke="{colour}" stroke-width="{width}" stroke-linecap="round"/></g>',
    ]


def _scissors(x: float, y: float, colour: str) -> str:
    """A small drawn scissors mark (no font glyph needed)."""
    return (
        f'<g stroke="{colour}" stroke-width="1.6" fill="none">'
        f'<circle cx="{x - 4:.1f}" cy="{y + 4:.1f}" r="2.6"/>'
        f'<circle cx="{x + 4:.1f}" cy="{y + 4:.1f}" r="2.6"/>'
        f'<line x1="{x - 2.4:.1f}" y1="{y + 2:.1f}" x2="{x + 4:.1f}" y2="{y - 7:.1f}"/>'
        f'<line x1="{x + 2.4:.1f}" y1="{y + 2:.1f}" x2="{x - 4:.1f}" y2="{y - 7:.1f}"/></g>'
    )


def _label_svg(b: LabelBox) -> str:
    size, bold = _LABEL_STYLE[b.kind]
    colour = "#111111"
    style = ' font-weight="bold"' if bold else (' font-style="italic"' if b.kind == "junction" else "")
    return (
        f'<g class="label {b.kind}"><rect x="{b.x}" y="{b.y}" width="{b.w}" height="{b.h}" rx="3" '
        f'fill="#ffffff" fill-opacity="0.9" stroke="#d0d0d0" stroke-width="0.6"/>'
        f'<text x="{b.x + b.w / 2:.1f}" y="{b.y + b.h / 2 + size * 0.36:.1f}" font-size="{size:g}" '
        f'text-anchor="middle" fill="{colour}"{style}>{escape(b.text)}</text></g>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, width: float, extra: str = "") -> str:
    return f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{colour}" stroke-width="{width:g}"{extra}/>'


def _legend_svg(item: LegendItem) -> list[str]:
    x, y = item.x, item.y - 4
    out = []
    if item.kind == "graft":
        out += [
            _line(x, y, x + 34, y, GRAFT_COLOUR, 7),
            _line(x, y, x + 34, y, "#ffffff", 2, ' stroke-dasharray="5 4"'),
        ]
    elif item.kind == "remnant":
        out.append(_line(x, y, x + 34, y, REMNANT_COLOUR, 4))
    elif item.kind == "divide":
        out += [
            _line(x, y, x + 20, y, GRAFT_COLOUR, 5),
            _line(x + 10, y - 9, x + 10, y + 9, CUT_COLOUR, 3),
            _scissors(x + 28, y, CUT_COLOUR),
        ]
    text_x = x + (44 if item.kind != "text" else 0)
    out.append(f'<text x="{text_x:g}" y="{item.y:g}" font-size="11" fill="#222222">{escape(item.text)}</text>')
    return out


def render_svg(diagram: DiagramLayout) -> str:
    """Self-contained SVG: no external fonts, images or scripts; all text escaped."""
    w, h = diagram.width, diagram.height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'role="img" aria-labelledby="duct-diagram-title duct-diagram-desc" font-family={quoteattr(FONT)}>',
        f'<title id="duct-diagram-title">{escape(diagram.title)}</title>',
        f'<desc id="duct-diagram-desc">{escape(diagram.subtitle)}. '
        "Radiological convention: patient right on the viewer left.</desc>",
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="26" font-size="15" font-weight="bold" fill="#111111">{escape(diagram.title)}</text>',
        f'<text x="{MARGIN}" y="46" font-size="12" fill="#333333">{escape(diagram.subtitle)}</text>',
    ]
    for mark in diagram.orientation:
        anchor = "start" if mark.text == "R" else "end"
        out.append(
            f'<text x="{mark.x}" y="{mark.y}" font-size="14" font-weight="bold" fill="#777777" '
            f'text-anchor="{anchor}">{escape(mark.text)}</text>'
        )
    if diagram.gallbladder:
        cx, cy, rx, ry = diagram.gallbladder
        out.append(
            f'<ellipse cx="{cx}" cy="{cy}" rx="{rx}" ry="{ry}" fill="#eeeeee" stroke="#9a9a9a" '
            'stroke-width="1.5"><title>gallbladder</title></ellipse>'
        )
    for edge in sorted(diagram.edges, key=lambda e: e.role == "graft"):
        out += _edge_svg(edge)
    for node in diagram.nodes:
        out.append(f'<circle cx="{node.x}" cy="{node.y}" r="2.2" fill="#222222"/>')
    for m in diagram.exits:
        x1, y1, x2, y2 = m.bar
        out += [
            f'<g class="exit"><title>divide {escape(m.duct)}</title>',
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{CUT_COLOUR}" stroke-width="3.2" '
            'stroke-linecap="round"/>',
            _scissors(m.x + m.side[0] * 19, m.y + m.side[1] * 19, CUT_COLOUR),
            "</g>",
        ]
    out += [_label_svg(b) for b in diagram.labels]
    for item in diagram.legend:
        out += _legend_svg(item)
    out.append("</svg>")
    return "\n".join(out)


def diagram_svg(document: Document, exits: Sequence[str]) -> str:
    """Layout and render in one call, for views and report templates."""
    return render_svg(layout(document, exits))
