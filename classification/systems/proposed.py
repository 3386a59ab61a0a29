"""The proposed classification (Durur Karakaya et al. 2024): how many ducts leave
the graft, and the length of the one when there is one.

Type 1: one exit at least 5 mm long (exactly 5.0 mm counts); type 2: one exit
under 5 mm, or two exits; type 3: three or more. The exits themselves are found
by `classification.exits`; a document that reaches here through
`classification.validation.parse_anatomy` always has an exit, and a length
when it has only one.
"""

from __future__ import annotations

from classification.anatomy import CYSTIC, Anatomy
from classification.exits import Exit, find_exits
from classification.results import SystemResult

MIN_SINGLE_DUCT_MM = 5.0
COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def classify(anatomy: Anatomy) -> SystemResult:
    search = find_exits(anatomy)
    exits = search.exits
    flags = [f"cystohepatic duct {e.duct} drains into the cystic duct" for e in exits if e.into == CYSTIC]
    flags += search.flags
    if len(exits) > 1:
        flags += [f"exit {e.duct} has no recorded length" for e in exits if e.length_mm is None]
    graft_type, reason = proposed_type(exits)
    return SystemResult(
        system="proposed",
        type=graft_type,
        rule=describe_rule(exits, graft_type),
        reason=reason,
        graft_ducts=len(exits),
        exits=tuple(e.duct for e in exits),
        exit_lengths={e.duct: e.length_mm for e in exits},
        flags=tuple(flags),
    )


def proposed_type(exits: tuple[Exit, ...]) -> tuple[str | None, str | None]:
    if not exits:
        return None, "no duct drains the graft alone (no exit)"
    if len(exits) == 1:
        length = exits[0].length_mm
        if length is None:
            return None, f"{exits[0].duct}.length_mm is needed to classify a single graft duct"
        return ("1" if length >= MIN_SINGLE_DUCT_MM else "2"), None
    return ("2" if len(exits) == 2 else "3"), None


def describe_rule(exits: tuple[Exit, ...], graft_type: str | None) -> str:
    count = COUNT_WORDS.get(len(exits), str(len(exits)))
    noun = "graft duct" if len(exits) == 1 else "graft ducts"
    listed = "; ".join(describe_exit(e) for e in exits)
    if len(exits) == 1 and exits[0].length_mm is not None:
        compare = ">=" if exits[0].length_mm >= MIN_SINGLE_DUCT_MM else "<"
        listed += f" {compare} {MIN_SINGLE_DUCT_MM:g} mm"
    outcome = f"type {graft_type}" if graft_type else "type unknown"
    return f"{count} {noun} ({listed}) -> {outcome}"


def describe_exit(exit_: Exit) -> str:
    into = "the cystic duct" if exit_.into == CYSTIC else exit_.into
    name = f"upper stretch of {exit_.duct}" if exit_.shared_stretch else exit_.duct
    length = "length not recorded" if exit_.length_mm is None else f"{exit_.length_mm:g} mm"
    return f"{name} into {into}, {length}"
