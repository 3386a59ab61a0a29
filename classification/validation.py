"""Checks on a `biliary-anatomy/1` document, one message per problem, and
`parse_anatomy`: the checks, then the tree (`classification.anatomy`), then what
the proposed classification needs of the tree (an exit, read by
`classification.exits`).

Messages read `"<DUCT>.<field>: <reason>"`; a duct without a usable id is named
by its place in the list (`ducts[3]`), and top-level fields by `document`.

Choices where the format leaves room:
- "A duct without own segments must not have exactly one tributary at its upper
  end, or none" is read as: such a duct begins where two or more tributaries
  unite, so it needs at least two tributaries with `junction_mm` 0. One is a
  stretch of that tributary; none leaves a blind upper stretch.
- The checks on the shape of the tree (leaves without segments, ducts without
  segments) are skipped while an id or a `drains_into` is itself wrong, because a
  tributary meant for a duct may be the one that is misnamed; they would only
  repeat the same mistake.
- The cystic duct drains no liver segment, so `segments` on `CYSTIC` is refused.
- At most 100 ducts: far more than MRCP can show, and it bounds the work done
  on a request; a `segments` list longer than 8 entries is refused by its length
  alone. Every check is linear in the size of the document.
- A number too long to be a measurement arrives from the JSON reader as an
  `OversizedNumber` (see `classification.document.load_json_document`) and is
  refused like any other wrong value, naming its field; Python ints too large to
  print are described by their size.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from typing import Any

from classification.anatomy import (
    CHD,
    CYSTIC,
    FORMAT,
    GRAFT_SEGMENTS,
    Anatomy,
    AnatomyInvalid,
    build_anatomy,
    describe_segments,
)
from classification.exits import find_exits

ID_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
DOCUMENT_FIELDS = ("format", "graft", "ducts", "notes")
DUCT_FIELDS = ("id", "drains_into", "segments", "length_mm", "junction_mm", "course")
COURSES = ("supraportal", "infraportal", "unknown")
COUINAUD_SEGMENTS = 8
MAX_MM = 200
MAX_DUCTS = 100
MAX_NUMBER_CHARS = 40  # a double prints in at most 24


class OversizedNumber:
    """A JSON number written with more than MAX_NUMBER_CHARS characters: kept
    unconverted (converting a long one is slow, or refused for an int of more than
    4300 digits) so that validation can refuse it by its field."""

    __slots__ = ("chars",)

    def __init__(self, text: str):
        self.chars = len(text)

    def __repr__(self) -> str:
        return f"OversizedNumber(chars={self.chars})"


def check_document(document: Any) -> list[str]:
    """Every problem with the document's fields and tree, or an empty list."""
    if not isinstance(document, dict):
        return [f"document: must be a JSON object (got {describe(document)})"]
    errors = check_top_level(document)
    ducts = document.get("ducts")
    if isinstance(ducts, list) and 0 < len(ducts) <= MAX_DUCTS:
        errors += DuctListCheck(ducts).run()
    return errors


def check_top_level(document: dict[str, Any]) -> list[str]:
    errors = []
    for key in document:
        if key not in DOCUMENT_FIELDS:
            errors.append(f"document.{show_key(key)}: unknown field (allowed: {', '.join(DOCUMENT_FIELDS)})")
    fmt = document.get("format")
    if "format" not in document:
        errors.append(f"document.format: required ('{FORMAT}')")
    elif fmt != FORMAT:
        errors.append(f"document.format: must be '{FORMAT}' (got {describe(fmt)})")
    grafts = ", ".join(sorted(GRAFT_SEGMENTS))
    graft = document.get("graft")
    if "graft" not in document:
        errors.append(f"document.graft: required (one of {grafts})")
    elif not isinstance(graft, str) or graft not in GRAFT_SEGMENTS:
        errors.append(f"document.graft: must be one of {grafts} (got {describe(graft)})")
    ducts = document.get("ducts")
    if "ducts" not in document:
        errors.append("document.ducts: required (a list of ducts)")
    elif not isinstance(ducts, list):
        errors.append(f"document.ducts: must be a list of ducts (got {describe(ducts)})")
    elif not ducts:
        errors.append("document.ducts: must list at least one duct")
    elif len(ducts) > MAX_DUCTS:
        errors.append(f"document.ducts: at most {MAX_DUCTS} ducts (got {len(ducts)})")
    notes = document.get("notes")
    if notes is not None and not isinstance(notes, str):
        errors.append(f"document.notes: must be text (got {describe(notes)})")
    return errors


class DuctListCheck:
    """Checks on the `ducts` list: each duct's fields, then the tree they form."""

    def __init__(self, ducts: list[Any]):
        self.ducts = ducts
        self.errors: list[str] = []
        self.shape_known = True
        self.ids = {
            d["id"]
            for d in ducts
            if isinstance(d, dict) and isinstance(d.get("id"), str) and ID_PATTERN.fullmatch(d["id"])
        }
        self.first_index: dict[str, int] = {}
        self.parents: dict[str, str] = {}
        self.junctions: dict[str, float] = {}
        self.lengths: dict[str, float] = {}
        self.has_segments: dict[str, bool] = {}

    def run(self) -> list[str]:
        for index, raw in enumerate(self.ducts):
            self.check_duct(index, raw)
        self.check_junctions_within_receiving_ducts()
        self.check_loops()
        if self.shape_known:
            self.check_shape()
        return self.errors

    def fail(self, label: str, field: str, reason: str) -> None:
        self.errors.append(f"{label}.{field}: {reason}")

    # --- one duct ---------------------------------------------------------------
    def check_duct(self, index: int, raw: Any) -> None:
        if not isinstance(raw, dict):
            self.errors.append(f"ducts[{index}]: must be an object (got {describe(raw)})")
            self.shape_known = False
            return
        label = self.check_id(index, raw)
        for key in raw:
            if key not in DUCT_FIELDS:
                self.fail(label, show_key(key), f"unknown field (allowed: {', '.join(sorted(DUCT_FIELDS))})")
        self.check_drains_into(index, label, raw)
        self.check_segments(label, raw)
        for field in ("length_mm", "junction_mm"):
            problem = check_mm(raw.get(field))
            if problem:
                self.fail(label, field, problem)
                if field == "junction_mm":
                    self.shape_known = False
        self.check_course(label, raw)
        if self.first_index.get(label) == index:
            junction = raw.get("junction_mm")
            self.junctions[label] = 0.0 if check_mm(junction) or junction is None else float(junction)
            length = raw.get("length_mm")
            if length is not None and not check_mm(length):
                self.lengths[label] = float(length)

    def check_id(self, index: int, raw: dict[str, Any]) -> str:
        """The duct's label for messages: its id when usable, else `ducts[i]`."""
        duct_id = raw.get("id")
        place = f"ducts[{index}]"
        if "id" not in raw or duct_id is None:
            self.fail(place, "id", "required")
        elif not isinstance(duct_id, str):
            self.fail(place, "id", f"must be text (got {describe(duct_id)})")
        elif not ID_PATTERN.fullmatch(duct_id):
            self.fail(
                place,
                "id",
                f"{describe(duct_id)} is not a valid id (a letter, then letters, digits or _; at most 32 characters)",
            )
        elif duct_id == CHD:
            self.fail(CHD, "id", "CHD is the root of the tree and is never listed")
        elif duct_id in self.first_index:
            self.fail(duct_id, "id", f"listed more than once (ducts[{self.first_index[duct_id]}] and {place})")
        else:
            self.first_index[duct_id] = index
            return duct_id
        self.shape_known = False
        return duct_id if duct_id == CHD or (isinstance(duct_id, str) and duct_id in self.ids) else place

    def check_drains_into(self, index: int, label: str, raw: dict[str, Any]) -> None:
        target = raw.get("drains_into")
        if "drains_into" not in raw or target is None:
            self.fail(label, "drains_into", "required (a listed duct or CHD)")
        elif not isinstance(target, str):
            self.fail(label, "drains_into", f"must be a duct id (got {describe(target)})")
        elif target != CHD and target not in self.ids:
            self.fail(label, "drains_into", f"unknown duct '{clip(target)}'")
        else:
            if self.first_index.get(label) == index:
                self.parents[label] = target
            return
        self.shape_known = False

    def check_segments(self, label: str, raw: dict[str, Any]) -> None:
        segments = raw.get("segments")
        if segments is None:
            self.has_segments.setdefault(label, False)
            return
        self.has_segments.setdefault(label, bool(segments) if isinstance(segments, list) else True)
        if not isinstance(segments, list):
            self.fail(label, "segments", f"must be a list of Couinaud segments 1-8 (got {describe(segments)})")
            return
        if len(segments) > COUINAUD_SEGMENTS:
            self.fail(
                label,
                "segments",
                f"lists {len(segments)} entries; there are only {COUINAUD_SEGMENTS} Couinaud segments",
            )
            return
        wrong = [s for s in segments if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 8]
        if wrong:
            shown = ", ".join(describe(s) for s in wrong[:5])
            self.fail(label, "segments", f"must list Couinaud segments as whole numbers 1-8 (got {shown})")
            return
        repeated = sorted(s for s, count in Counter(segments).items() if count > 1)
        if repeated:
            self.fail(label, "segments", f"segment {', '.join(map(str, repeated))} listed more than once")
        if label == CYSTIC and segments:
            self.fail(
                label, "segments", "the cystic duct drains no liver segment; list the duct that drains into it instead"
            )

    def check_course(self, label: str, raw: dict[str, Any]) -> None:
        course = raw.get("course")
        if course is None:
            return
        if label != "RPHD":
            self.fail(label, "course", "recorded only for RPHD")
        elif not isinstance(course, str) or course not in COURSES:
            self.fail(label, "course", f"must be one of {', '.join(COURSES)} (got {describe(course)})")

    # --- the tree ---------------------------------------------------------------
    def check_junctions_within_receiving_ducts(self) -> None:
        """A duct cannot join its receiving duct below that duct's lower end."""
        for duct_id, target in self.parents.items():
            length = self.lengths.get(target)
            junction = self.junctions.get(duct_id, 0.0)
            if length is not None and junction > length:
                self.fail(
                    duct_id,
                    "junction_mm",
                    f"{junction:g} mm is beyond the end of {target} ({target}.length_mm is {length:g} mm)",
                )

    def check_loops(self) -> None:
        """Name the ducts of each drainage loop, once per loop."""
        done: set[str] = set()
        for start in self.first_index:
            path: list[str] = []
            on_path: set[str] = set()
            node = start
            while node in self.parents and node not in done and node not in on_path:
                path.append(node)
                on_path.add(node)
                node = self.parents[node]
            if node in on_path:
                loop = path[path.index(node) :]
                first = min(loop, key=self.first_index.__getitem__)
                at = loop.index(first)
                loop = loop[at:] + loop[:at]
                self.fail(first, "drains_into", "drainage loop " + " -> ".join(loop + [first]))
                self.shape_known = False
            done.update(path)

    def check_shape(self) -> None:
        tributaries: dict[str, list[str]] = {}
        for duct_id, target in self.parents.items():
            tributaries.setdefault(target, []).append(duct_id)
        for duct_id in self.first_index:
            if duct_id == CYSTIC or self.has_segments.get(duct_id):
                continue
            below = tributaries.get(duct_id, [])
            at_top = [t for t in below if self.junctions.get(t, 0.0) == 0]
            if not below:
                self.fail(duct_id, "segments", "required for a duct with no tributaries")
            elif len(at_top) == 1:
                self.fail(
                    duct_id,
                    "segments",
                    f"no own segments and only {at_top[0]} joins at its upper end (junction_mm 0); "
                    f"record that stretch as part of {at_top[0]}",
                )
            elif not at_top:
                self.fail(
                    duct_id,
                    "segments",
                    "no own segments and no tributary joins at its upper end (junction_mm 0); "
                    "a duct without segments begins where two or more tributaries unite",
                )


def parse_anatomy(document: Any) -> Anatomy:
    """Validate a `biliary-anatomy/1` document and build its `Anatomy`.

    Raises `AnatomyInvalid` with every problem found, including the two the
    proposed classification itself needs: at least one exit from the graft, and
    a length for the exit when there is only one.
    """
    errors = check_document(document)
    if errors:
        raise AnatomyInvalid(errors)
    anatomy = build_anatomy(document)
    errors = check_classifiable(anatomy)
    if errors:
        raise AnatomyInvalid(errors)
    return anatomy


def check_classifiable(anatomy: Anatomy) -> list[str]:
    """The proposed classification needs an exit from the graft, and the length
    of that exit when it is the only one (spec section 2)."""
    exits = find_exits(anatomy).exits
    if not exits:
        segments = describe_segments(anatomy.graft_segments)
        return [f"document.graft: no exit: no duct drains only the {anatomy.graft_name} (segments {segments})"]
    if len(exits) == 1 and exits[0].length_mm is None:
        return [f"{exits[0].duct}.length_mm: needed to classify (single graft duct)"]
    return []


# --- small helpers ---------------------------------------------------------------
def check_mm(value: Any) -> str | None:
    """Why `value` is not a usable length in mm, or None (missing is fine)."""
    if value is None:
        return None
    if isinstance(value, OversizedNumber):
        return f"must be between 0 and {MAX_MM} mm (got {describe(value)})"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"must be a number of mm (got {describe(value)})"
    try:
        finite = isinstance(value, numbers.Integral) or math.isfinite(float(value))
    except (OverflowError, ValueError):
        finite = False
    if not finite:
        return f"must be a finite number of mm (got {show_number(value)})"
    if value < 0 or not value <= MAX_MM:  # numbers.Real declares only < and <=
        return f"must be between 0 and {MAX_MM} mm (got {show_number(value)})"
    return None


def describe(value: Any) -> str:
    """A value as a radiologist reading the message would name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"text '{clip(value)}'"
    if isinstance(value, OversizedNumber):
        return f"a number {value.chars} characters long"
    if isinstance(value, numbers.Number):
        return show_number(value)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def show_number(value: numbers.Number) -> str:
    """The number as written, or its size when printing it would be slow or
    refused (Python will not print an int of more than 4300 digits)."""
    if isinstance(value, int) and value.bit_length() > 10_000:  # about 3000 digits
        return f"a whole number of about {int(math.log10(abs(value))) + 1} digits"
    return clip(str(value))


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show_key(key: Any) -> str:
    return clip(key) if isinstance(key, str) else clip(repr(key))
