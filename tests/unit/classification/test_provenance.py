"""Where each duct came from: taken from a proposal, edited after taking, or drawn by hand."""

from __future__ import annotations

from classification import provenance
from classification.provenance import after_edit, edited, from_proposal, taken

RHD = {"id": "RHD", "drains_into": "CHD", "length_mm": 7.2}
LHD = {"id": "LHD", "drains_into": "CHD", "length_mm": 18.6, "segments": [2, 3, 4]}
DOCUMENT = {"format": "biliary-anatomy/1", "graft": "right_lobe", "ducts": [RHD, LHD]}


def duct(duct_id, length_mm=12.0):
    return {"id": duct_id, "drains_into": "CHD", "length_mm": length_mm}


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


def test_taking_chosen_ducts_replaces_them_in_place_and_appends_the_new_ones():
    draft = {"format": "biliary-anatomy/1", "graft": "right_lobe", "notes": "kept", "ducts": [duct("A"), duct("B")]}
    proposal = {"format": "biliary-anatomy/1", "graft": "right_lobe", "ducts": [duct("B", 9.0), duct("C", 4.0)]}
    document, chosen, refusal = provenance.draft_with_proposal(
        draft, proposal, graft="right_lobe", duct_ids=["C", "B", "C"]
    )
    assert refusal == "" and chosen == ["C", "B"]
    assert [(d["id"], d["length_mm"]) for d in document["ducts"]] == [("A", 12.0), ("B", 9.0), ("C", 4.0)]
    assert document["notes"] == "kept" and draft["ducts"][1]["length_mm"] == 12.0  # the draft is not changed


def test_taking_the_whole_proposal_keeps_only_the_drafts_notes_and_a_bad_choice_is_refused():
    draft = {"format": "biliary-anatomy/1", "graft": "right_lobe", "notes": "kept", "ducts": [duct("A")]}
    proposal = {"format": "biliary-anatomy/1", "graft": "right_lobe", "ducts": [duct("B")]}
    document, chosen, refusal = provenance.draft_with_proposal(draft, proposal, graft="right_lobe")
    assert (refusal, chosen, [d["id"] for d in document["ducts"]], document["notes"]) == ("", ["B"], ["B"], "kept")
    empty_draft, _, refusal = provenance.draft_with_proposal(None, proposal, graft="left_lobe", duct_ids=["B"])
    assert refusal == "" and (empty_draft["graft"], [d["id"] for d in empty_draft["ducts"]]) == ("left_lobe", ["B"])
    assert provenance.draft_with_proposal(draft, proposal, graft="right_lobe", duct_ids=["Z", "B"])[2] == (
        "not in the proposal: Z"
    )
    assert provenance.draft_with_proposal(draft, proposal, graft="right_lobe", duct_ids=[])[2] == (
        "choose at least one duct"
    )
