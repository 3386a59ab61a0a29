"""Exits: the ducts through which bile leaves the graft (spec section 2).

Every graft duct that drains into a duct outside the graft (the CHD, the cystic
duct, or any non-graft duct) is an exit, measured by its own `length_mm`.

The shared upper stretch: a non-graft duct D (not CHD or CYSTIC) begins with graft
bile only when all of D's own segments are graft segments and every duct joining D
at junction 0 is a graft duct (a cystic duct without tributaries aside). The caudate
stays with the donor, so a caudate segment of D, or a caudate duct joining D at 0,
is remnant bile and rules the stretch out. J is the smallest junction of D's remnant
tributaries: non-graft ducts that drain any segment, caudate included; a cystic duct
without tributaries goes with the gallbladder and is ignored. The surgeon divides D
above J, so that stretch is one exit of length J; graft tributaries joining D above
J drain through it and are covered by it, and one joining at or below J is an exit
of its own.

Graft segments that drain directly into a duct that also drains the remnant at its
upper end cannot be divided off into a graft exit; they are flagged, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from classification.anatomy import CHD, CYSTIC, Anatomy, describe_segments, found_once


@dataclass(frozen=True)
class Exit:
    """One duct leaving the graft. For a shared stretch, `duct` is the divided
    duct, `covers` the graft tributaries that drain through it and `above` the
    remnant tributary whose junction ends it."""

    duct: str
    into: str
    length_mm: float | None
    shared_stretch: bool = False
    covers: tuple[str, ...] = ()
    above: str | None = None


@dataclass(frozen=True)
class ExitSearch:
    exits: tuple[Exit, ...]
    flags: tuple[str, ...]


@found_once
def find_exits(anatomy: Anatomy) -> ExitSearch:
    """Where the graft's bile leaves the graft (the exits, sorted by duct id), with
    notes on what was merged or left out."""
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
            drained |= anatomy.listed(receiving).own_territory
            from_graft = [t for t in from_graft if t.id not in stretch.covers]
            drained.update(*(anatomy.territory(c) for c in stretch.covers))
        elif receiving not in (CHD, CYSTIC):
            shared = anatomy.listed(receiving).own_territory & graft
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
        flags.append(
            f"graft segments {describe_segments(missing)} drain through no exit (not recorded in a graft duct)"
        )
    exits.sort(key=lambda e: e.duct)
    return ExitSearch(tuple(exits), tuple(flags))


def shared_stretch(anatomy: Anatomy, duct_id: str) -> Exit | None:
    """The upper stretch of a non-graft duct as one exit, when it begins with graft bile only."""
    if duct_id in (CHD, CYSTIC):
        return None
    duct = anatomy.listed(duct_id)
    # Own segments as recorded, caudate included: the caudate is remnant bile.
    if not set(duct.segments) <= anatomy.graft_segments:
        return None
    graft_ducts = anatomy.graft_ducts
    tributaries = [t for t in anatomy.tributaries(duct_id) if not is_empty_cystic(anatomy, t.id)]
    at_upper_end = [t for t in tributaries if t.junction_mm == 0]
    if any(t.id not in graft_ducts for t in at_upper_end):
        return None
    if not duct.segments and not at_upper_end:
        return None
    remnant = [t for t in tributaries if t.id not in graft_ducts and anatomy.drains_any_segment(t.id)]
    if not remnant or remnant[0].junction_mm <= 0:
        return None
    length = remnant[0].junction_mm
    covers = tuple(sorted(t.id for t in tributaries if t.id in graft_ducts and t.junction_mm < length))
    return Exit(duct_id, duct.drains_into, length, shared_stretch=True, covers=covers, above=remnant[0].id)


def is_empty_cystic(anatomy: Anatomy, duct_id: str) -> bool:
    """A cystic duct without tributaries goes with the gallbladder: no rule counts it."""
    return duct_id == CYSTIC and not anatomy.tributaries(CYSTIC)


def describe_stretch(anatomy: Anatomy, stretch: Exit) -> str:
    parts = list(stretch.covers)
    own = anatomy.listed(stretch.duct).own_territory
    if own:
        parts.append(f"segments {describe_segments(own)}")
    return (
        f"upper stretch of {stretch.duct} ({stretch.length_mm:g} mm, above {stretch.above}) drains "
        f"{' and '.join(parts)}: counted as one exit"
    )
