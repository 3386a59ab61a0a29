"""The biliary tree of one donor, as recorded in a `biliary-anatomy/1` document:
the data every rule of the classification reads, and nothing that reads it.

`build_anatomy(document)` turns a checked document into an immutable `Anatomy`;
`classification.validation.parse_anatomy` checks a document first and raises
`AnatomyInvalid` listing every problem at once, so that a radiologist can fix the
whole annotation in one pass. The rules above (exits, variants, validation, the
systems) import this module; it imports none of them.

Choices where the format leaves room:
- `null` is accepted for the optional fields (`segments`, `length_mm`,
  `junction_mm`, `course`, `notes`) and means "not recorded"; annotation forms
  send it for empty inputs.
- Segment 1 (caudate) is kept in `Duct.segments` as recorded but left out of
  every territory, because no rule in the classification uses it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

CHD = "CHD"
CYSTIC = "CYSTIC"
FORMAT = "biliary-anatomy/1"

GRAFT_SEGMENTS: dict[str, frozenset[int]] = {
    "right_lobe": frozenset({5, 6, 7, 8}),
    "left_lateral_segment": frozenset({2, 3}),
    "left_lobe": frozenset({2, 3, 4}),
}
GRAFT_NAMES: dict[str, str] = {
    "right_lobe": "right lobe",
    "left_lateral_segment": "left lateral segment",
    "left_lobe": "left lobe",
}
RESERVED_IDS = frozenset({"CHD", "RAHD", "RPHD", "RHD", "LHD", "B23", "CYSTIC"} | {f"B{n}" for n in range(1, 9)})
RIGHT_DUCTS = frozenset({"RAHD", "RPHD", "RHD"})
RIGHT_SEGMENTS = frozenset({5, 6, 7, 8})
LEFT_SEGMENTS = frozenset({2, 3, 4})
CAUDATE = 1
Found = TypeVar("Found")


class AnatomyInvalid(ValueError):
    """The document cannot be classified; `errors` holds one message per problem,
    each `"<DUCT>.<field>: <reason>"` (or `"document.<field>: ..."`)."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True)
class Duct:
    """One bile duct and where it drains. `junction_mm` 0 means it joins the
    receiving duct at that duct's upper end (for the CHD: at the confluence)."""

    id: str
    drains_into: str
    segments: tuple[int, ...] = ()
    length_mm: float | None = None
    junction_mm: float = 0.0
    course: str | None = None

    @property
    def own_territory(self) -> frozenset[int]:
        """Own segments without the caudate, which no rule uses."""
        return frozenset(self.segments) - {CAUDATE}

    @property
    def is_reserved(self) -> bool:
        return self.id in RESERVED_IDS


@dataclass(frozen=True)
class Anatomy:
    """A validated duct tree rooted at the CHD, with the derived notions the
    classifications are written in (territory, graft duct, left system)."""

    graft: str
    ducts: tuple[Duct, ...]
    notes: str = ""
    _by_id: dict[str, Duct] = field(init=False, repr=False, compare=False)
    _tributaries: dict[str, tuple[Duct, ...]] = field(init=False, repr=False, compare=False)
    _found: dict[Callable[..., Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {d.id: d for d in self.ducts}
        tributaries: dict[str, list[Duct]] = {CHD: []}
        for duct in self.ducts:
            tributaries.setdefault(duct.id, [])
        for duct in self.ducts:
            tributaries.setdefault(duct.drains_into, []).append(duct)
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_found", {})
        object.__setattr__(
            self,
            "_tributaries",
            {k: tuple(sorted(v, key=lambda d: d.junction_mm)) for k, v in tributaries.items()},
        )

    # --- the tree -----------------------------------------------------------
    def __contains__(self, duct_id: object) -> bool:
        return duct_id in self._by_id

    def __iter__(self) -> Iterator[Duct]:
        return iter(self.ducts)

    def duct(self, duct_id: str) -> Duct | None:
        """The listed duct with this id; None for CHD and unknown ids."""
        return self._by_id.get(duct_id)

    def listed(self, duct_id: str) -> Duct:
        """The listed duct with this id, for an id known to be listed (KeyError otherwise)."""
        return self._by_id[duct_id]

    def drains_into(self, duct_id: str) -> str | None:
        duct = self._by_id.get(duct_id)
        return duct.drains_into if duct else None

    def tributaries(self, duct_id: str) -> tuple[Duct, ...]:
        """Ducts draining directly into `duct_id`, in the order they join it (upper end first)."""
        return self._tributaries.get(duct_id, ())

    children = tributaries

    def path_to_chd(self, duct_id: str) -> list[str]:
        """`duct_id` and every duct below it, ending with CHD."""
        path = [duct_id]
        while path[-1] != CHD:
            path.append(self._by_id[path[-1]].drains_into)
        return path

    # --- territories and the graft -------------------------------------------
    @cached_property
    def _territories(self) -> dict[str, frozenset[int]]:
        result: dict[str, frozenset[int]] = {}

        def visit(duct_id: str) -> frozenset[int]:
            duct = self._by_id.get(duct_id)
            segments = set(duct.own_territory) if duct else set()
            for tributary in self.tributaries(duct_id):
                segments |= visit(tributary.id)
            result[duct_id] = frozenset(segments)
            return result[duct_id]

        visit(CHD)
        return result

    def territory(self, duct_id: str) -> frozenset[int]:
        """Segments (caudate left out) this duct drains, itself or through tributaries."""
        return self._territories.get(duct_id, frozenset())

    def drains_any_segment(self, duct_id: str) -> bool:
        """Whether the duct drains any segment, the caudate included (a cystic duct
        without tributaries drains none)."""
        duct = self._by_id.get(duct_id)
        if duct and duct.segments:
            return True
        return any(self.drains_any_segment(t.id) for t in self.tributaries(duct_id))

    @property
    def graft_segments(self) -> frozenset[int]:
        return GRAFT_SEGMENTS[self.graft]

    @property
    def graft_name(self) -> str:
        return GRAFT_NAMES[self.graft]

    def is_graft_duct(self, duct_id: str) -> bool:
        """A duct whose whole (non-empty) territory lies inside the graft."""
        if duct_id in (CHD, CYSTIC):
            return False
        territory = self.territory(duct_id)
        return bool(territory) and territory <= self.graft_segments

    @cached_property
    def graft_ducts(self) -> frozenset[str]:
        return frozenset(d.id for d in self.ducts if self.is_graft_duct(d.id))

    # --- sides ----------------------------------------------------------------
    def is_right_sided(self, duct_id: str) -> bool:
        """RAHD, RPHD, RHD, or a duct whose own segments are all in 5-8."""
        if duct_id in RIGHT_DUCTS:
            return True
        duct = self._by_id.get(duct_id)
        own = duct.own_territory if duct else frozenset()
        return bool(own) and own <= RIGHT_SEGMENTS

    @cached_property
    def left_system(self) -> frozenset[str]:
        """Ducts that drain only segments 2-4 once right-sided tributaries are
        set aside (LHD, B23, B4, B34 in the usual tree)."""
        left_territory: dict[str, frozenset[int]] = {}

        def visit(duct_id: str) -> frozenset[int]:
            duct = self._by_id.get(duct_id)
            segments = set(duct.own_territory) if duct else set()
            for tributary in self.tributaries(duct_id):
                below = visit(tributary.id)
                if not self.is_right_sided(tributary.id):
                    segments |= below
            left_territory[duct_id] = frozenset(segments)
            return left_territory[duct_id]

        visit(CHD)
        return frozenset(
            d.id
            for d in self.ducts
            if d.id != CYSTIC
            and not self.is_right_sided(d.id)
            and left_territory[d.id]
            and left_territory[d.id] <= LEFT_SEGMENTS
        )

    def is_left_system(self, duct_id: str) -> bool:
        return duct_id in self.left_system


def found_once(find: Callable[[Anatomy], Found]) -> Callable[[Anatomy], Found]:
    """`find(anatomy)` computed on the first call and kept with the anatomy: the
    validation and the systems all read the same exits and variants of one tree."""

    @functools.wraps(find)
    def once(anatomy: Anatomy) -> Found:
        if find not in anatomy._found:
            anatomy._found[find] = find(anatomy)
        found: Found = anatomy._found[find]  # what `find` returned for this anatomy
        return found

    return once


def build_anatomy(document: dict[str, Any]) -> Anatomy:
    """Build the tree from a document that `check_document` accepted."""
    ducts = []
    for raw in document["ducts"]:
        length = raw.get("length_mm")
        junction = raw.get("junction_mm")
        ducts.append(
            Duct(
                id=raw["id"],
                drains_into=raw["drains_into"],
                segments=tuple(sorted(raw.get("segments") or ())),
                length_mm=None if length is None else float(length),
                junction_mm=0.0 if junction is None else float(junction),
                course=raw.get("course"),
            )
        )
    return Anatomy(graft=document["graft"], ducts=tuple(ducts), notes=document.get("notes") or "")


def describe_segments(segments: frozenset[int] | set[int] | tuple[int, ...]) -> str:
    """`5-8` for a run, `2, 3, 6` otherwise."""
    ordered = sorted(segments)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(map(str, ordered))
