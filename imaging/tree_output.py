"""The proposed duct tree as the API and the `propose_anatomy` command print it. Pure: no Django.

One shape for both, so that a proposal read from the app and one made from files on a
desk compare key for key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Below this confidence a duct (or its junction) is shown as uncertain, in words and dashed.
LOW_CONFIDENCE = 0.6
# The Couinaud segments every liver drains through its ducts (the caudate, segment 1, aside).
LIVER_SEGMENTS = frozenset(range(2, 9))

_TREE_SOURCES = Path(__file__).resolve().parent / "tree"


def extractor_version() -> str:
    """`tree-` and the first 12 hex digits of the SHA-256 of the extractor's sources: a change to
    how trees are found gives a new version, with nothing to remember to bump."""
    digest = hashlib.sha256()
    for source in sorted(_TREE_SOURCES.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return f"tree-{digest.hexdigest()[:12]}"


def is_uncertain(confidence: float | None, junction_confidence: float | None) -> bool:
    """Whether a proposed duct is shown as uncertain: its own or its junction's confidence is
    below `LOW_CONFIDENCE`, or missing."""
    return any(value is None or value < LOW_CONFIDENCE for value in (confidence, junction_confidence))


def undrained_segments(document: Mapping[str, Any]) -> set[int]:
    """The liver's segments (2-8) no duct of the document drains: every liver drains each
    segment, so a proposal leaving one undrained missed a duct there."""
    drained = {segment for duct in document.get("ducts", []) for segment in duct.get("segments") or ()}
    return set(LIVER_SEGMENTS) - drained


def _rounded(value: float) -> float:
    return round(float(value), 3)


def proposal_body(
    *,
    graft: str,
    state: str,
    reason: str = "",
    extractor_version: str,
    document: Mapping[str, Any] | None,
    duct_confidence: Mapping[str, float],
    junction_confidence: Mapping[str, float],
    centrelines: Mapping[str, Any],
    proposal_id: int | None = None,
    series_id: int | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """The proposal as JSON: the document, then each duct with its confidence, and the centre-lines.

    ``ducts`` lists the document's ducts in its order; ``low_confidence`` is true when the duct's
    or its junction's confidence is below `LOW_CONFIDENCE` (a missing confidence counts as low).
    ``undrained_segments`` are the liver's segments no proposed duct drains: a duct missed there."""
    ducts = []
    for duct in (document or {}).get("ducts", []):
        duct_id = duct["id"]
        confidence = duct_confidence.get(duct_id)
        junction = junction_confidence.get(duct_id)
        ducts.append(
            {
                "id": duct_id,
                "drains_into": duct.get("drains_into"),
                "segments": list(duct.get("segments", [])),
                "length_mm": duct.get("length_mm"),
                "junction_mm": duct.get("junction_mm"),
                "confidence": None if confidence is None else _rounded(confidence),
                "junction_confidence": None if junction is None else _rounded(junction),
                "low_confidence": is_uncertain(confidence, junction),
            }
        )
    return {
        "id": proposal_id,
        "series": series_id,
        "created_at": created_at,
        "graft": graft,
        "state": state,
        "reason": reason,
        "extractor_version": extractor_version,
        "low_confidence_below": LOW_CONFIDENCE,
        "document": dict(document) if document is not None else None,
        "ducts": ducts,
        "undrained_segments": sorted(undrained_segments(document)) if document is not None else [],
        "duct_confidence": {key: _rounded(value) for key, value in duct_confidence.items()},
        "junction_confidence": {key: _rounded(value) for key, value in junction_confidence.items()},
        "centrelines": {
            key: [[round(float(c), 2) for c in point] for point in points] for key, points in centrelines.items()
        },
    }


__all__ = [
    "LIVER_SEGMENTS",
    "LOW_CONFIDENCE",
    "extractor_version",
    "is_uncertain",
    "proposal_body",
    "undrained_segments",
]
