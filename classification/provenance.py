"""Where each duct of an anatomy came from: a tree proposal, or the radiologist's hand. Pure: no Django.

Kept beside the document (the `biliary-anatomy/1` format has no room for it):
``{"ducts": {id: entry}}``, an entry for each duct taken from a proposal. A duct with no
entry was drawn by hand. An entry's ``source`` is ``"proposal"`` while the duct is as it
was taken, and ``"edited"`` once the radiologist changed it: an edited duct is no longer
the proposal's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FROM_PROPOSAL = "proposal"
EDITED = "edited"


def _ducts(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {duct["id"]: dict(duct) for duct in document.get("ducts", []) if isinstance(duct, Mapping)}


def taken(
    provenance: Mapping[str, Any] | None,
    *,
    document: Mapping[str, Any],
    duct_ids: Iterable[str],
    proposal_id: int,
    extractor_version: str,
    by: str,
    at: str,
) -> dict[str, Any]:
    """The provenance once ``duct_ids`` were taken from the proposal into ``document`` (the new draft).

    Other ducts keep their entries (checked against the new document as after any edit)."""
    result = after_edit(provenance, document, by=by, at=at)
    current = _ducts(document)
    for duct_id in duct_ids:
        result["ducts"][duct_id] = {
            "source": FROM_PROPOSAL,
            "proposal": proposal_id,
            "extractor_version": extractor_version,
            "taken_by": by,
            "taken_at": at,
            "as_taken": current[duct_id],
        }
    return result


def after_edit(
    provenance: Mapping[str, Any] | None, document: Mapping[str, Any], *, by: str, at: str
) -> dict[str, Any]:
    """The provenance after the radiologist saved ``document``: a duct removed loses its entry; a
    duct taken from a proposal and now different from what was taken is marked edited (by whom, when)."""
    current = _ducts(document)
    kept: dict[str, Any] = {}
    for duct_id, entry in dict((provenance or {}).get("ducts", {})).items():
        if duct_id not in current:
            continue
        entry = dict(entry)
        if entry.get("source") == FROM_PROPOSAL and current[duct_id] != entry.get("as_taken"):
            entry.update(source=EDITED, edited_by=by, edited_at=at)
        kept[duct_id] = entry
    return {"ducts": kept}


def from_proposal(provenance: Mapping[str, Any] | None) -> list[str]:
    """The ducts still as taken from a proposal, sorted."""
    return sorted(k for k, v in (provenance or {}).get("ducts", {}).items() if v.get("source") == FROM_PROPOSAL)


def edited(provenance: Mapping[str, Any] | None) -> list[str]:
    """The ducts taken from a proposal and changed by hand since, sorted."""
    return sorted(k for k, v in (provenance or {}).get("ducts", {}).items() if v.get("source") == EDITED)


__all__ = ["EDITED", "FROM_PROPOSAL", "after_edit", "edited", "from_proposal", "taken"]


def draft_with_proposal(
    draft: Mapping[str, Any] | None,
    proposal: Mapping[str, Any],
    *,
    graft: str,
    duct_ids: Iterable[str] | None = None,
) -> tuple[dict[str, Any], list[str], str]:
    """The draft after taking a proposal: whole (``duct_ids`` None: the proposal's document, keeping
    the draft's notes), or the chosen ducts, each replacing the draft's duct of that id in place or
    joining the draft at its end. Returns the document, the ducts taken, and a reason when the choice
    cannot be taken (no duct chosen, or ducts the proposal does not hold), else "".

    The result still has to pass the anatomy rules: this only merges."""
    proposed = _ducts(proposal)
    if duct_ids is None:
        document = {**proposal, "ducts": [dict(duct) for duct in proposal.get("ducts", [])]}
        if draft is not None and draft.get("notes"):
            document["notes"] = draft["notes"]
        return document, list(proposed), ""
    chosen = list(dict.fromkeys(duct_ids))
    unknown = [duct_id for duct_id in chosen if duct_id not in proposed]
    if unknown:
        return dict(draft or {}), chosen, f"not in the proposal: {', '.join(map(str, unknown))[:200]}"
    if not chosen:
        return dict(draft or {}), chosen, "choose at least one duct"
    base: dict[str, Any] = (
        dict(draft) if draft is not None else {"format": "biliary-anatomy/1", "graft": graft, "ducts": []}
    )
    ducts = [dict(duct) for duct in base.get("ducts", [])]
    place = {duct.get("id"): index for index, duct in enumerate(ducts)}
    for duct_id in chosen:
        if duct_id in place:
            ducts[place[duct_id]] = dict(proposed[duct_id])
        else:
            ducts.append(dict(proposed[duct_id]))
    return {**base, "ducts": ducts}, chosen, ""
