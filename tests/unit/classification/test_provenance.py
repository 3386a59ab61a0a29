"""Where each duct came from: taken from a proposal, edited after taking, or drawn by hand."""

from __future__ import annotations

from classification.provenance import after_edit, edited, from_proposal, taken

RHD = {"id": "RHD", "drains_into": "CHD", "length_mm": 7.2}
LHD = {"id": "LHD", "drains_into": "CHD", "length_mm": 18.6, "segments": [2, 3, 4]}
DOCUMENT = {"format": "biliary-anatomy/1", "graft": "right_lobe", "ducts": [RHD, LHD]}


def take(provenance, document, ids, proposal_id=5):
    return taken(
        provenance,
        document=document,
        duct_ids=ids,
        proposal_id=proposal_id,
        extractor_version="tree-abc",
        by="rad",
        at="2026-12-02T00:00:00+00:00",
    )


def test_taken_ducts_remember_the_proposal_and_who_took_them():
    result = take({}, DOCUMENT, ["RHD"])
    assert from_proposal(result) == ["RHD"] and edited(result) == []
    entry = result["ducts"]["RHD"]
    assert (entry["proposal"], entry["extractor_version"], entry["taken_by"]) == (5, "tree-abc", "rad")
    assert entry["as_taken"] == RHD
    assert "LHD" not in result["ducts"]  # drawn by hand


def test_a_duct_changed_after_taking_is_edited_and_no_longer_the_proposals():
    result = take({}, DOCUMENT, ["RHD", "LHD"])
    changed = {**DOCUMENT, "ducts": [{**RHD, "length_mm": 11.0}, LHD]}
    after = after_edit(result, changed, by="other", at="later")
    assert from_proposal(after) == ["LHD"] and edited(after) == ["RHD"]
    assert (after["ducts"]["RHD"]["edited_by"], after["ducts"]["RHD"]["proposal"]) == ("other", 5)
    # Changing it back by hand does not make it the proposal's again: only taking it does.
    back = after_edit(after, DOCUMENT, by="other", at="later")
    assert edited(back) == ["RHD"]
    again = take(back, DOCUMENT, ["RHD"], proposal_id=6)
    assert from_proposal(again) == ["LHD", "RHD"] and again["ducts"]["RHD"]["proposal"] == 6


def test_a_removed_duct_loses_its_entry_and_an_unchanged_save_changes_nothing():
    result = take({}, DOCUMENT, ["RHD", "LHD"])
    assert after_edit(result, DOCUMENT, by="rad", at="now") == result
    without = after_edit(result, {**DOCUMENT, "ducts": [LHD]}, by="rad", at="now")
    assert list(without["ducts"]) == ["LHD"]


def test_no_provenance_means_every_duct_was_drawn_by_hand():
    assert after_edit(None, DOCUMENT, by="rad", at="now") == {"ducts": {}}
    assert from_proposal(None) == [] and edited(None) == []
