"""Where the phantom's fluid-filled structures lie, from a `biliary-anatomy/1` document.

Coordinates are millimetres in the patient's axes (DICOM LPS: +x towards the
patient's left, +y posterior, +z superior), relative to the centre of the imaged
volume. Every duct of the document is a straight tube, so the distance between its
two ends is exactly its ``length_mm`` (or a default length when the document has
none): tests can then check a measurement on the images against the document.

Each duct starts where it joins its receiving duct, ``junction_mm`` below that
duct's upper end (for the CHD: below the hilar confluence), and runs towards the
average position of the Couinaud segments it drains. The document's ducts are laid
out deterministically; only the small peripheral twigs and the bowel fluid depend
on the random seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Point = tuple[float, float, float]

# Hilar confluence, relative to the volume centre.
HILUM = np.array([10.0, 0.0, 20.0])
# Direction of the common hepatic duct, from the confluence downwards.
CHD_DIRECTION = np.array([-0.15, 0.1, -1.0])
# Average position of each Couinaud segment's drainage, relative to the hilum.
SEGMENT_OFFSETS = {
    1: (5.0, 25.0, 10.0),
    2: (65.0, 12.0, 45.0),
    3: (70.0, -12.0, 5.0),
    4: (28.0, -15.0, 28.0),
    5: (-45.0, -15.0, -15.0),
    6: (-75.0, 15.0, -25.0),
    7: (-80.0, 20.0, 30.0),
    8: (-45.0, -12.0, 50.0),
}
GALLBLADDER_OFFSET = (-40.0, -15.0, -45.0)
DEFAULT_LENGTHS = {"RHD": 12.0, "LHD": 15.0, "RAHD": 16.0, "RPHD": 18.0, "B23": 8.0, "CYSTIC": 30.0}
DEFAULT_LEAF_LENGTH = 20.0
DEFAULT_TRUNK_LENGTH = 10.0
MIN_CHD_LENGTH = 35.0
CBD_LENGTH = 65.0
# Pancreatic duct bends, relative to the ampulla: towards the tail, to the patient's left.
PANCREATIC_BENDS = ((25.0, 5.0, 8.0), (60.0, 10.0, 22.0), (100.0, 15.0, 30.0), (135.0, 15.0, 45.0))
RADII = {"CHD": 3.0, "CBD": 3.5, "RHD": 2.0, "LHD": 2.0, "RAHD": 1.75, "RPHD": 1.75, "CYSTIC": 1.3}
DEFAULT_RADIUS = 1.5


@dataclass(frozen=True)
class Tube:
    """A straight tube with rounded ends (a capsule); ``level`` is relative signal."""

    start: Point
    end: Point
    radius: float
    level: float


@dataclass(frozen=True)
class Blob:
    """An ellipsoid: centre, three orthonormal axes and the semi-axis lengths."""

    centre: Point
    axes: tuple[Point, Point, Point]
    semi: Point
    level: float


@dataclass(frozen=True)
class DuctPath:
    """A duct's two ends: ``start`` upstream, ``end`` where it joins ``drains_into``."""

    id: str
    drains_into: str
    start: Point
    end: Point
    length_mm: float
    length_documented: bool
    radius_mm: float


@dataclass(frozen=True)
class Layout:
    ducts: dict[str, DuctPath]
    structures: dict[str, DuctPath]
    tubes: tuple[Tube, ...]
    fluid: tuple[Blob, ...]
    tissue: tuple[Blob, ...] = field(default=())


def lay_out(anatomy: Mapping[str, Any], seed: int = 0) -> Layout:
    ducts = _ducts_by_id(anatomy)
    order = _root_first(ducts)
    rng = np.random.default_rng(seed)
    children: dict[str, list[str]] = {}
    for duct_id in order:
        children.setdefault(ducts[duct_id]["drains_into"], []).append(duct_id)

    chd_length = max([MIN_CHD_LENGTH] + [_number(ducts[c], "junction_mm") + 10.0 for c in children.get("CHD", [])])
    chd_dir = _unit(CHD_DIRECTION)
    paths: dict[str, DuctPath] = {}
    structures = {"CHD": _path("CHD", "", HILUM, HILUM + chd_length * chd_dir, chd_length, True)}
    upstream = {"CHD": -chd_dir}
    for duct_id in order:
        duct = ducts[duct_id]
        parent = duct["drains_into"]
        receiving = structures["CHD"] if parent == "CHD" else paths[parent]
        junction = _point_on(receiving, _number(duct, "junction_mm"))
        length, documented = _length(duct, bool(children.get(duct_id)))
        direction = _direction(duct, ducts, children, junction, upstream[parent])
        paths[duct_id] = _path(duct_id, parent, junction + length * direction, junction, length, documented)
        upstream[duct_id] = direction

    tubes = [_tube(p) for p in list(paths.values()) + [structures["CHD"]]]
    tubes += _twigs(paths, children, upstream, rng)
    fluid, extra = _lower_structures(structures["CHD"], paths, rng)
    structures.update(extra)
    tubes += [_tube(p, level=0.8 if p.id.startswith("PANCREATIC") else 1.0) for p in extra.values()]
    return Layout(paths, structures, tuple(tubes), tuple(fluid), _tissue())


# ----------------------------------------------------------------- document


def _ducts_by_id(anatomy: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    ducts: dict[str, dict[str, Any]] = {}
    for duct in anatomy.get("ducts", []):
        duct_id = str(duct.get("id", ""))
        if not duct_id or duct_id == "CHD" or duct_id in ducts:
            raise ValueError(f"duct id {duct_id!r} is missing, reserved or repeated")
        ducts[duct_id] = dict(duct)
    return ducts


def _root_first(ducts: dict[str, dict[str, Any]]) -> list[str]:
    """Duct ids ordered so each comes after the duct it drains into."""
    order: list[str] = []
    placed = {"CHD"}
    pending = list(ducts)
    while pending:
        ready = [d for d in pending if ducts[d].get("drains_into") in placed]
        if not ready:
            bad = ", ".join(f"{d} -> {ducts[d].get('drains_into')}" for d in pending)
            raise ValueError(f"cannot place ducts (unknown target or loop): {bad}")
        for duct_id in ready:
            order.append(duct_id)
            placed.add(duct_id)
            pending.remove(duct_id)
    return order


def _number(duct: Mapping[str, Any], key: str) -> float:
    value = duct.get(key)
    return float(value) if value is not None else 0.0


def _length(duct: Mapping[str, Any], has_tributaries: bool) -> tuple[float, bool]:
    if duct.get("length_mm") is not None:
        return float(duct["length_mm"]), True
    default = DEFAULT_LENGTHS.get(duct["id"])
    if default is None:
        default = DEFAULT_TRUNK_LENGTH if has_tributaries else DEFAULT_LEAF_LENGTH
    return default, False


# ----------------------------------------------------------------- geometry


def _unit(vector: np.ndarray) -> np.ndarray:
    unit: np.ndarray = vector / np.linalg.norm(vector)
    return unit


def _point_on(path: DuctPath, distance: float) -> np.ndarray:
    """The point ``distance`` mm down a duct from its upper (upstream) end."""
    start, end = np.array(path.start), np.array(path.end)
    if path.length_mm <= 0:
        return start
    point: np.ndarray = start + min(max(distance, 0.0), path.length_mm) * (end - start) / path.length_mm
    return point


def _territory(duct_id: str, ducts: dict[str, dict[str, Any]], children: dict[str, list[str]]) -> set[int]:
    segments = set(int(s) for s in ducts[duct_id].get("segments") or [])
    for child in children.get(duct_id, []):
        segments |= _territory(child, ducts, children)
    return segments - {1} or segments


def _direction(
    duct: Mapping[str, Any],
    ducts: dict[str, dict[str, Any]],
    children: dict[str, list[str]],
    junction: np.ndarray,
    fallback: np.ndarray,
) -> np.ndarray:
    segments = _territory(duct["id"], ducts, children)
    if segments:
        target = HILUM + np.mean([SEGMENT_OFFSETS[s] for s in segments if s in SEGMENT_OFFSETS] or [(0, 0, 30)], axis=0)
    elif duct["id"] == "CYSTIC":
        target = HILUM + np.array(GALLBLADDER_OFFSET)
    else:
        return fallback
    towards = target - junction
    if np.linalg.norm(towards) < 5.0:
        return fallback
    return _unit(towards)


def _path(duct_id: str, into: str, start: np.ndarray, end: np.ndarray, length: float, documented: bool) -> DuctPath:
    return DuctPath(
        duct_id,
        into,
        tuple(float(v) for v in start),  # type: ignore[arg-type]
        tuple(float(v) for v in end),  # type: ignore[arg-type]
        float(length),
        documented,
        RADII.get(duct_id, DEFAULT_RADIUS),
    )


def _tube(path: DuctPath, level: float = 1.0) -> Tube:
    return Tube(path.start, path.end, path.radius_mm, level)


def _twigs(
    paths: dict[str, DuctPath],
    children: dict[str, list[str]],
    upstream: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> list[Tube]:
    """Two generations of thin branches beyond each leaf duct, as peripheral ducts."""
    twigs: list[Tube] = []
    for duct_id, path in paths.items():
        if not children.get(duct_id) and duct_id != "CYSTIC":
            _branch(np.array(path.start), upstream[duct_id], 2, 1.1, twigs, rng)
    return twigs


def _branch(
    start: np.ndarray,
    axis: np.ndarray,
    generations: int,
    radius: float,
    out: list[Tube],
    rng: np.random.Generator,
) -> None:
    helper = [0.0, 1.0, 0.0] if abs(axis[1]) < 0.9 else [1.0, 0.0, 0.0]
    side = _unit(np.cross(axis, helper))
    other = np.cross(axis, side)
    turn = 2 * np.pi * rng.random()
    for half in (0.0, np.pi):
        angle = np.radians(22.0 + 12.0 * rng.random())
        around = np.cos(turn + half) * side + np.sin(turn + half) * other
        direction = _unit(np.cos(angle) * axis + np.sin(angle) * around)
        end = start + (14.0 + 8.0 * rng.random()) * direction
        out.append(Tube(tuple(start), tuple(end), radius, 0.9))
        if generations > 1:
            _branch(end, direction, generations - 1, radius * 0.75, out, rng)


def _lower_structures(
    chd: DuctPath, paths: dict[str, DuctPath], rng: np.random.Generator
) -> tuple[list[Blob], dict[str, DuctPath]]:
    """Gallbladder, CBD, pancreatic duct and bowel fluid (none are in the document)."""
    extra: dict[str, DuctPath] = {}
    if "CYSTIC" not in paths:  # real donors have one even if it was not recorded
        junction = _point_on(chd, 25.0)
        towards = _unit(HILUM + np.array(GALLBLADDER_OFFSET) - junction)
        start = junction + 30.0 * towards
        extra["CYSTIC"] = _path("CYSTIC", "CHD", start, junction, 30.0, False)
    neck = np.array((paths.get("CYSTIC") or extra["CYSTIC"]).start)
    along = _unit(np.array([-0.4, -0.3, -1.0]))
    fluid = [_blob(neck + 36.0 * along, along, (40.0, 15.0, 15.0), 0.95)]

    ampulla = np.array(chd.end) + CBD_LENGTH * _unit(np.array([0.1, 0.35, -1.0]))
    extra["CBD"] = _path("CBD", "", np.array(chd.end), ampulla, CBD_LENGTH, True)
    previous = ampulla
    for number, offset in enumerate(PANCREATIC_BENDS, start=1):
        point = ampulla + np.array(offset)
        length = float(np.linalg.norm(point - previous))
        extra[f"PANCREATIC_{number}"] = _path(f"PANCREATIC_{number}", "", point, previous, length, True)
        previous = point
    fluid += _bowel_fluid(ampulla, rng)
    return fluid, extra


def _bowel_fluid(ampulla: np.ndarray, rng: np.random.Generator) -> list[Blob]:
    """Pockets of fluid along the duodenal C-loop, and a partly filled stomach."""
    pockets = []
    for angle in np.radians(np.linspace(-75.0, 75.0, 6)):
        centre = ampulla + np.array([-5.0 - 25.0 * np.cos(angle), 0.0, 25.0 * np.sin(angle)])
        centre += rng.normal(0.0, 2.0, 3)
        radius = 8.0 + 4.0 * rng.random()
        level = 0.55 + 0.4 * rng.random()
        pockets.append(_blob(centre, np.array([0.0, 0.0, 1.0]), (radius * 1.3, radius, radius), level))
    stomach = HILUM + np.array([100.0, -15.0, 10.0])
    pockets.append(_blob(stomach, np.array([0.3, 0.0, 1.0]), (45.0, 35.0, 30.0), 0.6))
    return pockets


def _blob(centre: np.ndarray, axis: np.ndarray, semi: tuple[float, float, float], level: float) -> Blob:
    """Ellipsoid whose first semi-axis lies along ``axis``."""
    first = _unit(np.asarray(axis, dtype=float))
    helper = np.array([1.0, 0.0, 0.0]) if abs(first[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    second = _unit(np.cross(first, helper))
    third = np.cross(first, second)
    axes = tuple(tuple(float(v) for v in a) for a in (first, second, third))
    return Blob(tuple(float(v) for v in centre), axes, semi, level)  # type: ignore[arg-type]


def _tissue() -> tuple[Blob, ...]:
    """Body, liver and spleen: low signal on a heavily T2-weighted image."""
    return (
        _blob(np.zeros(3), np.array([0.0, 0.0, 1.0]), (2000.0, 120.0, 165.0), 0.035),
        _blob(
            HILUM + np.array([-35.0, 0.0, 10.0]),
            np.array([1.0, 0.0, 0.0]),
            (105.0, 80.0, 70.0),
            0.06,
        ),
        _blob(
            HILUM + np.array([120.0, 45.0, 25.0]),
            np.array([0.0, 0.0, 1.0]),
            (50.0, 30.0, 40.0),
            0.09,
        ),
    )
