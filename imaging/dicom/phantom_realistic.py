"""An opt-in, harder phantom: curved tapering ducts, Rician noise and distracting fluid.

Why: the default phantom's straight tubes at fixed places with Gaussian noise are
easy; an extractor measured only on them says little about real MRCP. This scene
keeps the document's ground truth (each duct's centre-line is exactly ``length_mm``
long along the curve, joined where the document says) while the ducts bend, taper,
move and turn a little per seed, thin twigs branch beyond the leaf ducts (as the
peripheral ducts do; they are not in the document), and gallbladder, bowel, pancreatic
duct, renal pelvis and liver cysts overlap them in projection.

Each duct is a chain of short capsules of equal length whose heading turns smoothly,
so the polyline's length is the document's length by construction. Everything is
seeded; the default phantom does not use this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .phantom_draw import Plane, draw_blob, draw_tube
from .phantom_layout import HILUM, Blob, DuctPath, Layout, Point, Tube

STEP_MM = 2.0
# Radius ranges (mm), from the widths asked for (diameters: segmental ducts 1.5-2.5 mm,
# hepatic ducts 3-4 mm, common hepatic duct 5-7 mm). A duct is drawn at a radius from its
# range at the receiving end and tapers upstream, but never below its range along the
# part the document measures: a segmental duct thinner than 1.5 mm there would be a
# harder duct than the one specified. Only the twigs beyond the leaf ducts are thinner.
CHD_RADIUS = (2.5, 3.5)
HEPATIC_RADIUS = (1.5, 2.0)
SEGMENTAL_RADIUS = (0.75, 1.25)
HEPATIC_DUCTS = {"RHD", "LHD"}
TAPER = 0.7  # upstream radius / receiving-end radius, floored at the range's lower end
CHD_TAPER = 0.9  # the common hepatic duct narrows little from the cystic junction to the confluence
# Peripheral twigs beyond each leaf duct: generations, length range (mm), narrowest radius (mm).
TWIG_GENERATIONS = 2
TWIG_LENGTH = (12.0, 20.0)
TWIG_MIN_RADIUS = 0.6
TWIG_LEVEL = 0.9
# A cyst keeps this clearance (mm) from every duct: it lies beside the ducts, not over a junction.
CYST_CLEARANCE_MM = 3.0


@dataclass(frozen=True)
class Realism:
    """How hard the realistic phantom is.

    ``snr`` is the fluid signal over the noise's standard deviation (of each of the
    two Gaussian channels whose magnitude is the Rician image). ``through_plane_samples``
    planes averaged across the slice thickness give partial volume between slices;
    ``respiratory_mm`` is the standard deviation of a per-slice head-foot shift.
    """

    snr: float = 12.0
    position_jitter_mm: float = 4.0
    angle_jitter_degrees: float = 10.0
    max_bend_degrees: float = 35.0
    through_plane_samples: int = 3
    respiratory_mm: float = 0.0
    cysts: int = 3

    def __post_init__(self) -> None:
        if self.snr <= 0:
            raise ValueError("snr must be positive")
        if self.through_plane_samples < 1:
            raise ValueError("through_plane_samples must be at least 1")
        if self.respiratory_mm < 0 or self.cysts < 0:
            raise ValueError("respiratory_mm and cysts must not be negative")


@dataclass(frozen=True)
class Scene:
    """What the realistic phantom draws, relative to the volume centre (mm).

    ``ducts`` keeps each document duct's ends (``start`` upstream, ``end`` at the
    junction) and ``length_mm``; ``centrelines`` holds its curve from the junction
    upstream. ``distractors`` are the fluid blobs that are not bile ducts.
    """

    ducts: dict[str, DuctPath]
    structures: dict[str, DuctPath]
    centrelines: dict[str, tuple[Point, ...]]
    tubes: tuple[Tube, ...]
    fluid: tuple[Blob, ...]
    distractors: tuple[Blob, ...]
    tissue: tuple[Blob, ...]


def build_scene(layout: Layout, seed: int, realism: Realism) -> Scene:
    """Curve, taper and jitter the layout's ducts; add the distracting fluid."""
    rng = np.random.default_rng([seed, 15])
    shift = rng.normal(0.0, realism.position_jitter_mm, 3)
    old_chd = layout.structures["CHD"]
    ducts_in_order: list[DuctPath] = [old_chd] + list(layout.ducts.values())
    if "CYSTIC" not in layout.ducts and "CYSTIC" in layout.structures:
        ducts_in_order.append(layout.structures["CYSTIC"])
    curves: dict[str, np.ndarray] = {}
    paths: dict[str, DuctPath] = {}
    old = {"CHD": old_chd, **layout.ducts}
    tubes: list[Tube] = []
    for path in ducts_in_order:
        if path.id == "CHD":
            junction = np.array(path.start) + shift  # the confluence: the CHD is drawn downwards
            heading = np.array(path.end) - np.array(path.start)
        else:
            parent = old[path.drains_into]
            down = float(np.linalg.norm(np.array(path.end) - np.array(parent.start)))
            junction = _point_along(curves[path.drains_into], parent, down)
            heading = np.array(path.start) - np.array(path.end)
        curve = _curve(junction, heading, path.length_mm, realism, rng)
        curves[path.id] = curve
        low, high = _radius_range(path.id)
        radius = float(rng.uniform(low, high))
        if path.id == "CHD":
            # The CHD's curve runs from the confluence down; its start is upstream.
            paths[path.id] = replace(path, start=_point(curve[0]), end=_point(curve[-1]), radius_mm=radius)
            tubes += _tapered(curve[::-1], radius, max(CHD_TAPER, low / radius))
        else:
            paths[path.id] = replace(path, start=_point(curve[-1]), end=_point(curve[0]), radius_mm=radius)
            tubes += _tapered(curve, radius, _taper(path.id, radius))
    # The CBD, pancreatic duct and fluid hang below the CHD: move them with its lower end.
    lower = np.array(paths["CHD"].end) - np.array(old_chd.end)
    structures = {"CHD": paths["CHD"]}
    for key, structure in layout.structures.items():
        if key in paths:
            structures[key] = paths[key]
        elif key != "CHD":
            moved = replace(
                structure,
                start=_point(np.array(structure.start) + lower),
                end=_point(np.array(structure.end) + lower),
            )
            if key == "CBD":  # the common bile duct goes on at the common hepatic duct's width
                moved = replace(moved, radius_mm=paths["CHD"].radius_mm)
            structures[key] = moved
            tubes.append(Tube(moved.start, moved.end, moved.radius_mm, 0.8 if key.startswith("PANCREATIC") else 1.0))
    fluid = tuple(replace(b, centre=_point(np.array(b.centre) + lower)) for b in layout.fluid)
    twig_rng = np.random.default_rng([seed, 16])  # its own stream: the ducts stay where they were
    drains = {p.drains_into for p in layout.ducts.values()}
    for duct_id, curve in curves.items():
        if duct_id not in drains and duct_id not in ("CHD", "CYSTIC"):
            tip = paths[duct_id].radius_mm * _taper(duct_id, paths[duct_id].radius_mm)
            tubes += _twigs(curve[-1], curve[-1] - curve[-2], tip, TWIG_GENERATIONS, realism, twig_rng)
    extra = tuple(_renal_pelves(rng) + _cysts(rng, realism.cysts, tubes))
    document_ducts = {k: paths[k] for k in layout.ducts}
    return Scene(
        ducts=document_ducts,
        structures=structures,
        centrelines={
            k: tuple(_point(p) for p in (curves[k] if k != "CHD" else curves[k][::-1]))
            for k in list(document_ducts) + ["CHD"]
        },
        tubes=tuple(tubes),
        fluid=fluid + extra,
        distractors=fluid + extra,
        tissue=layout.tissue,
    )


def draw_slice(
    scene: Scene,
    plane: Plane,
    thickness: float,
    samples: int,
) -> np.ndarray:
    """Relative signal (fluid = 1), averaged over ``samples`` planes across the slice."""
    total = np.zeros((plane.rows, plane.columns), dtype=np.float32)
    offsets = [0.0] if samples == 1 else list(np.linspace(-thickness / 2, thickness / 2, samples + 2)[1:-1])
    for offset in offsets:
        sub = replace(plane, origin=plane.origin + offset * plane.normal)
        image = np.zeros_like(total)
        for blob in scene.tissue + scene.fluid:
            draw_blob(image, sub, blob)
        for tube in scene.tubes:
            draw_tube(image, sub, tube)
        total += image
    result: np.ndarray = total / np.float32(len(offsets))
    return result


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The magnitude of the signal plus complex Gaussian noise of ``sigma`` per channel."""
    real = signal + rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    imaginary = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    magnitude: np.ndarray = np.hypot(real, imaginary)
    return magnitude


def arc_length(points: tuple[Point, ...] | np.ndarray) -> float:
    array = np.asarray(points, dtype=float)
    return float(np.linalg.norm(np.diff(array, axis=0), axis=1).sum())


# ----------------------------------------------------------------- geometry


def _point(vector: np.ndarray) -> Point:
    x, y, z = (float(v) for v in vector)
    return x, y, z


def _unit(vector: np.ndarray) -> np.ndarray:
    unit: np.ndarray = vector / np.linalg.norm(vector)
    return unit


def _rotate(vector: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation of ``vector`` about the unit ``axis``."""
    turned: np.ndarray = (
        vector * np.cos(angle)
        + np.cross(axis, vector) * np.sin(angle)
        + axis * float(axis @ vector) * (1 - np.cos(angle))
    )
    return turned


def _perpendicular(direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    helper = np.array([0.0, 1.0, 0.0]) if abs(direction[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    side = _unit(np.cross(direction, helper))
    other = np.cross(direction, side)
    turn = 2 * np.pi * rng.random()
    return _unit(np.cos(turn) * side + np.sin(turn) * other)


def _curve(
    junction: np.ndarray, heading: np.ndarray, length: float, realism: Realism, rng: np.random.Generator
) -> np.ndarray:
    """Points from the junction upstream, equal steps, heading turning smoothly.

    A jittered start heading, a steady bend about one axis and an S-shaped wiggle about
    another; the polyline's length is ``length`` exactly.
    """
    direction = _unit(heading)
    direction = _rotate(
        direction, _perpendicular(direction, rng), np.radians(rng.normal(0.0, realism.angle_jitter_degrees))
    )
    steps = max(6, int(np.ceil(length / STEP_MM)))
    step = length / steps
    bend_axis = _perpendicular(direction, rng)
    wiggle_axis = _perpendicular(direction, rng)
    bend = np.radians(rng.uniform(-realism.max_bend_degrees, realism.max_bend_degrees))
    wiggle = np.radians(rng.uniform(0.0, realism.max_bend_degrees / 2))
    points = [junction.astype(float)]
    for k in range(steps):
        fraction = (k + 0.5) / steps
        heading_k = _rotate(direction, bend_axis, bend * fraction)
        heading_k = _rotate(heading_k, wiggle_axis, wiggle * np.sin(2 * np.pi * fraction))
        points.append(points[-1] + step * _unit(heading_k))
    return np.array(points)


def _point_along(curve: np.ndarray, parent: DuctPath, distance: float) -> np.ndarray:
    """The point ``distance`` mm down the parent from its upstream end, on its curve."""
    ordered = curve if parent.id == "CHD" else curve[::-1]  # from the upstream end
    distance = min(max(distance, 0.0), parent.length_mm)
    lengths = np.linalg.norm(np.diff(ordered, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    index = int(np.clip(np.searchsorted(cumulative, distance) - 1, 0, len(lengths) - 1))
    fraction = (distance - cumulative[index]) / max(lengths[index], 1e-9)
    point: np.ndarray = ordered[index] + fraction * (ordered[index + 1] - ordered[index])
    return point


def _radius_range(duct_id: str) -> tuple[float, float]:
    if duct_id == "CHD":
        return CHD_RADIUS
    if duct_id in HEPATIC_DUCTS:
        return HEPATIC_RADIUS
    return SEGMENTAL_RADIUS


def _taper(duct_id: str, radius: float) -> float:
    """Upstream radius over receiving-end radius: TAPER, but not below the duct's range."""
    return max(TAPER, _radius_range(duct_id)[0] / radius)


def _tapered(curve: np.ndarray, radius: float, taper: float) -> list[Tube]:
    """Capsules along ``curve`` (receiving end first), thinning to ``taper * radius``."""
    count = len(curve) - 1
    return [
        Tube(_point(curve[k]), _point(curve[k + 1]), radius * (1 - (1 - taper) * (k + 0.5) / count), 1.0)
        for k in range(count)
    ]


def _blob(centre: np.ndarray, semi: tuple[float, float, float], level: float) -> Blob:
    axes: tuple[Point, Point, Point] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    return Blob(_point(centre), axes, semi, level)


def _renal_pelves(rng: np.random.Generator) -> list[Blob]:
    """Both renal pelves: posterior, below the hilum, across the ducts in a coronal MIP."""
    out = []
    for side in (-1.0, 1.0):
        centre = HILUM + np.array([side * 70.0 - 10.0, 50.0, -55.0]) + rng.normal(0.0, 4.0, 3)
        out.append(_blob(centre, (9.0, 6.0, 14.0), 0.8))
    return out


def _twigs(
    start: np.ndarray,
    heading: np.ndarray,
    radius: float,
    generations: int,
    realism: Realism,
    rng: np.random.Generator,
) -> list[Tube]:
    """Peripheral branches beyond a leaf duct: two per fork, curved and tapering, not in the document."""
    out: list[Tube] = []
    axis = _unit(heading)
    first = _perpendicular(axis, rng)
    for side in (first, -first):
        angle = np.radians(rng.uniform(20.0, 35.0))
        direction = np.cos(angle) * axis + np.sin(angle) * side
        width = max(radius * 0.9, TWIG_MIN_RADIUS)
        curve = _curve(start, direction, float(rng.uniform(*TWIG_LENGTH)), realism, rng)
        out += [replace(t, level=TWIG_LEVEL) for t in _tapered(curve, width, 0.8)]
        if generations > 1:
            out += _twigs(curve[-1], curve[-1] - curve[-2], width * 0.8, generations - 1, realism, rng)
    return out


def _cysts(rng: np.random.Generator, count: int, tubes: list[Tube]) -> list[Blob]:
    """Simple liver cysts: bright round fluid near the hepatic ducts, overlapping them in
    projection but clear of them in 3D (a cyst over a junction would hide the anatomy)."""
    ends = np.array([t.start for t in tubes] + [t.end for t in tubes])
    widths = np.array([t.radius for t in tubes] * 2)
    out = []
    for _ in range(count):
        for _attempt in range(50):
            centre = HILUM + np.array([rng.uniform(-80.0, 60.0), rng.uniform(-30.0, 30.0), rng.uniform(0.0, 55.0)])
            radius = float(rng.uniform(4.0, 12.0))
            gap = np.linalg.norm(ends - centre, axis=1) - widths - radius
            if float(gap.min()) >= CYST_CLEARANCE_MM:
                out.append(_blob(centre, (radius, radius, radius), 1.0))
                break
    return out
