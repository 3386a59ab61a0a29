"""Exits: the ducts through which bile leaves the graft (spec section 2).

Every graft duct that drains into a duct outside the graft (the CHD, the cystic
duct, or any non-graft duct) is an exit, measured by its own `length_mm`.

The shared upper stretch: when a non-graft duct D begins with graft bile only and
remnant tributaries join it lower down, the surgeon divides D above the first of
those, so that stretch is one exit whose length is the junction of that first
remnant tributary. The spec states it for "two or more graft tributaries at
junction 0"; it is applied here in the same spirit to:
- graft tributaries joining D inside the stretch (junction below the first remnant
  tributary's): they drain into the divided stretch, so they are part of that one
  exit, not exits of their own (a duct joining at or below that point is its own
  exit);
- D's own segments when they lie in the graft: they drain through the stretch too;
- caudate-only tributaries and a cystic duct without tributaries, which drain no
  segment any rule uses, so they neither count as remnant tributaries nor prevent
  the stretch.
On valid documents without such extras this is exactly the spec's rule.

A duct whose own segments lie partly in the graft and partly outside (or whose
graft segments share its upper end with remnant bile) cannot be divided into a
graft exit; it is reported as a flag, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from classification.anatomy import CHD, CYSTIC
from classification.validation import describe_segments

if TYPE_CHECKING:
    from classification.anatomy import Anatomy


@dataclass(frozen=True)
class Exit:
    """One duct leaving the graft. For a shared stretch, `duct` is the divided
    duct and `covers` the graft tributaries that drain through it."""

    duct: str
    into: str
    length_mm: float | None
    shared_stretch: bool = False
    covers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExitSearch:
    exits: tuple[Exit, ...]
    flags: tuple[str, ...]


def find_exits(anatomy: Anatomy) -> ExitSearch:
    graft = anatomy.graft_segments
    graft_ducts = anatomy.graft_ducts
    exits: list[Exit] = []
    flags: list[str] = []
    drained: set[int] = set()
    trapped: set[int] = set()
    for receiving in (CHD, *(d.id for d in anatomy.ducts)):
        if receiving in graft_ducts:
            continue
        from_graft = [t for t in anatomy.tributaries(receiving) if t.id in graft_ducts]
        stretch = shared_stretch(anatomy, receiving)
        if stretch:
            exits.append(stretch)
            flags.append(describe_stretch(anatomy, stretch))
            drained |= anatomy.duct(receiving).own_territory
            from_graft = [t for t in from_graft if t.id not in stretch.covers]
            drained.update(*(anatomy.territory(c) for c in stretch.covers))
        elif receiving not in (CHD, CYSTIC):
            shared = anatomy.duct(receiving).own_territory & graft
            if shared:
                trapped |= shared
                flags.append(
                    f"segments {describe_segments(shared)} of the graft drain directly into {receiving}, "
                    f"which also drains the remnant: no exit can be counted for them"
                )
        for tributary in from_graft:
            exits.append(Exit(tributary.id, receiving, tributary.length_mm))
            drained |= anatomy.territory(tributary.id)
    missing = graft - drained - trapped
    if missing:
        flags.append(f"graft segments {describe_segments(missing)} drain through no exit (not recorded in a graft duct)")
    exits.sort(key=lambda e: e.duct)
    return ExitSearch(tuple(exits), tuple(flags))


def shared_stretch(anatomy: Anatomy, duct_id: str) -> Exit | None:
    """The upper stretch of a non-graft duct as one exit, when it carries graft bile only."""
    if duct_id in (CHD, CYSTIC):
        return None
    duct = anatomy.duct(duct_id)
    if not duct.own_territory <= anatomy.graft_segments:
        return None
    graft_ducts = anatomy.graft_ducts
    tributaries = anatomy.tributaries(duct_id)
    remnant = [t for t in tributaries if t.id not in graft_ducts and anatomy.territory(t.id)]
    if not remnant or remnant[0].junction_mm <= 0:
        return None
    from_graft = [t for t in tributaries if t.id in graft_ducts]
    if not duct.own_territory and not any(t.junction_mm == 0 for t in from_graft):
        return None
    length = remnant[0].junction_mm
    covers = tuple(sorted(t.id for t in from_graft if t.junction_mm < length))
    return Exit(duct_id, duct.drains_into, length, shared_stretch=True, covers=covers)


def describe_stretch(anatomy: Anatomy, stretch: Exit) -> str:
    remnant = next(
        t.id
        for t in anatomy.tributaries(stretch.duct)
        if t.id not in anatomy.graft_ducts and anatomy.territory(t.id)
    )
    parts = list(stretch.covers)
    own = anatomy.duct(stretch.duct).own_territory
    if own:
        parts.append(f"segments {describe_segments(own)}")
    return (
        f"upper stretch of {stretch.duct} ({stretch.length_mm:g} mm, above {remnant}) drains "
        f"{' and '.join(parts)}: counted as one exit"
    )
